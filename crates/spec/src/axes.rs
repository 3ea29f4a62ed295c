//! Study axes: the paper's factors plus `[train]` keys, parsed into typed values
//! with stable labels (labels name trials in plans and reports, and match `exclude`).

use std::fmt;

use toml::de::DeValue;

use crate::error::{Ctx, choices_help};
use crate::presets::{self, Preset};
use crate::train::{self, Setting};
use crate::types::{Encoding, RegressionLoss};
use crate::value::{self, Value, join};

pub(crate) const FACTOR_AXES: &[&str] =
    &["data", "encoding", "depth", "width", "pretrain", "tasks"];

/// `[train]` keys that describe how, not what, to run; varying them would give
/// several trials with the same identity.
const EXEC_KEYS: &[&str] = &["device", "threads", "checkpoint_minutes"];

pub(crate) fn all_axes() -> Vec<&'static str> {
    FACTOR_AXES
        .iter()
        .chain(train::TRAIN_KEYS.iter().filter(|k| !EXEC_KEYS.contains(k)))
        .copied()
        .collect()
}

/// Loss weights of the face tasks; `None` means the task is off.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Tasks {
    pub gender: Option<f64>,
    pub age: Option<f64>,
}

#[derive(Debug, Clone)]
pub(crate) enum AxisValue {
    Data(String),
    Encoding(Encoding),
    Depth(&'static Preset),
    Width(f64),
    Pretrain(Option<String>),
    Tasks(Tasks),
    Train(Setting),
}

/// Names an axis value may refer to.
#[derive(Debug)]
pub(crate) struct Names<'a> {
    pub datasets: &'a [String],
    pub stages: &'a [String],
}

pub(crate) fn parse(
    ctx: &mut Ctx<'_>,
    path: &str,
    axis: &str,
    v: &Value<'_>,
    names: &Names<'_>,
) -> Option<AxisValue> {
    Some(match axis {
        "data" => AxisValue::Data(reference(
            ctx,
            path,
            v,
            names.datasets,
            "[data.NAME]",
            None,
        )?),
        "pretrain" => {
            let name = reference(ctx, path, v, names.stages, "[pretrain.NAME]", Some("none"))?;
            AxisValue::Pretrain((name != "none").then_some(name))
        }
        "depth" => {
            let valid = presets::names();
            AxisValue::Depth(presets::find(value::choice(ctx, path, v, &valid)?)?)
        }
        "width" => AxisValue::Width(value::number(
            ctx,
            path,
            v,
            |w| w > 0.0 && w <= 16.0,
            "a width multiplier in (0, 16]",
        )?),
        "encoding" => AxisValue::Encoding(encoding(ctx, path, v)?),
        "tasks" => AxisValue::Tasks(tasks(ctx, path, v)?),
        _ => AxisValue::Train(train::parse(ctx, path, axis, v)?),
    })
}

fn reference(
    ctx: &mut Ctx<'_>,
    path: &str,
    v: &Value<'_>,
    known: &[String],
    section: &str,
    extra: Option<&str>,
) -> Option<String> {
    let s = value::string(ctx, path, v)?;
    if extra == Some(s) || known.iter().any(|k| k == s) {
        return Some(s.to_string());
    }
    let mut valid: Vec<&str> = extra.into_iter().collect();
    valid.extend(known.iter().map(String::as_str));
    let help = if valid.is_empty() {
        format!("none is defined: add a {section} section")
    } else {
        choices_help(s, &valid)
    };
    ctx.error(
        v.span(),
        path,
        format!("\"{s}\" is not defined by any {section} section"),
        Some(help),
    );
    None
}

const DEFAULT_SIGMA: f64 = 2.0;
/// Any human age: no dataset's labels fall outside it, so `ablate plan` needs no
/// data to know the head's width (UTKFace reaches 116).
const AGE_RANGE: (u32, u32) = (0, 120);

fn encoding(ctx: &mut Ctx<'_>, path: &str, v: &Value<'_>) -> Option<Encoding> {
    let kinds = ["classification", "regression", "ldae"];
    if let DeValue::String(_) = v.get_ref() {
        return Some(match value::choice(ctx, path, v, &kinds)? {
            "classification" => Encoding::Classification {
                age_min: AGE_RANGE.0,
                age_max: AGE_RANGE.1,
            },
            "regression" => Encoding::Regression {
                loss: RegressionLoss::L2,
            },
            _ => Encoding::Ldae {
                sigma: DEFAULT_SIGMA,
                age_min: AGE_RANGE.0,
                age_max: AGE_RANGE.1,
                use_age_std: false,
            },
        });
    }
    let DeValue::Table(t) = v.get_ref() else {
        ctx.error(
            v.span(),
            path,
            format!("expected an encoding name or table, found {}", value::type_name(v.get_ref())),
            Some("for example \"classification\", or { kind = \"ldae\", sigma = 2.5 }, or { kind = \"regression\", loss = \"l1\" }".into()),
        );
        return None;
    };
    let Some(kind_v) = value::get(t, "kind") else {
        ctx.error(
            v.span(),
            path,
            "encoding table has no `kind`",
            Some("add kind = \"classification\", \"regression\" or \"ldae\"".into()),
        );
        return None;
    };
    let kind = value::choice(ctx, &join(path, "kind"), kind_v, &kinds)?;
    let allowed: &[&str] = match kind {
        "classification" => &["kind", "age_min", "age_max"],
        "regression" => &["kind", "loss"],
        _ => &["kind", "sigma", "age_min", "age_max", "use_age_std"],
    };
    if !value::known_keys(ctx, path, t, allowed) {
        return None;
    }
    let age = |ctx: &mut Ctx<'_>, key: &str, default: u32| match value::get(t, key) {
        Some(a) => value::unsigned(ctx, &join(path, key), a, 0..=150),
        None => Some(default),
    };
    let range = |ctx: &mut Ctx<'_>| -> Option<(u32, u32)> {
        let (lo, hi) = (
            age(ctx, "age_min", AGE_RANGE.0)?,
            age(ctx, "age_max", AGE_RANGE.1)?,
        );
        if lo >= hi {
            ctx.error(
                v.span(),
                path,
                format!("age_min = {lo} is not below age_max = {hi}"),
                Some(
                    "the age range must hold at least two ages, e.g. age_min = 0, age_max = 120"
                        .into(),
                ),
            );
            return None;
        }
        Some((lo, hi))
    };
    Some(match kind {
        "classification" => {
            let (age_min, age_max) = range(ctx)?;
            Encoding::Classification { age_min, age_max }
        }
        "regression" => Encoding::Regression {
            loss: match value::get(t, "loss") {
                Some(l) => match value::choice(ctx, &join(path, "loss"), l, &["l2", "l1"])? {
                    "l1" => RegressionLoss::L1,
                    _ => RegressionLoss::L2,
                },
                None => RegressionLoss::L2,
            },
        },
        _ => {
            let sigma = match value::get(t, "sigma") {
                Some(s) => value::number(
                    ctx,
                    &join(path, "sigma"),
                    s,
                    |x| x > 0.0 && x <= 50.0,
                    "sigma > 0 (in years, at most 50)",
                )?,
                None => DEFAULT_SIGMA,
            };
            let use_age_std = match value::get(t, "use_age_std") {
                Some(b) => value::boolean(ctx, &join(path, "use_age_std"), b)?,
                None => false,
            };
            let (age_min, age_max) = range(ctx)?;
            Encoding::Ldae {
                sigma,
                age_min,
                age_max,
                use_age_std,
            }
        }
    })
}

fn tasks(ctx: &mut Ctx<'_>, path: &str, v: &Value<'_>) -> Option<Tasks> {
    let valid = ["gender", "age"];
    let mut out = Tasks {
        gender: None,
        age: None,
    };
    let mut set =
        |ctx: &mut Ctx<'_>, name: &str, span: std::ops::Range<usize>, weight: f64| -> Option<()> {
            let slot = match name {
                "gender" => &mut out.gender,
                "age" => &mut out.age,
                _ => {
                    ctx.error(
                        span,
                        path,
                        format!("unknown task \"{name}\""),
                        Some(choices_help(name, &valid)),
                    );
                    return None;
                }
            };
            if slot.is_some() {
                ctx.error(span, path, format!("task \"{name}\" is listed twice"), None);
                return None;
            }
            *slot = Some(weight);
            Some(())
        };
    match v.get_ref() {
        DeValue::Array(items) => {
            for item in items.iter() {
                let name = value::string(ctx, path, item)?;
                set(ctx, name, item.span(), 1.0)?;
            }
        }
        DeValue::Table(t) => {
            for (k, w) in t.iter() {
                let weight = value::number(
                    ctx,
                    &join(path, k.get_ref()),
                    w,
                    |x| x > 0.0 && x <= 1000.0,
                    "a loss weight > 0",
                )?;
                set(ctx, k.get_ref(), k.span(), weight)?;
            }
        }
        _ => {
            ctx.error(
                v.span(),
                path,
                format!("expected a list of tasks, found {}", value::type_name(v.get_ref())),
                Some("for example [\"gender\"], [\"age\"], [\"gender\", \"age\"] or { gender = 1.0, age = 0.5 }".into()),
            );
            return None;
        }
    }
    if out.gender.is_none() && out.age.is_none() {
        ctx.error(
            v.span(),
            path,
            "no task given",
            Some("name at least one of \"gender\", \"age\"".into()),
        );
        return None;
    }
    Some(out)
}

impl fmt::Display for AxisValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AxisValue::Data(name) => f.write_str(name),
            AxisValue::Encoding(e) => write!(f, "{}", EncodingLabel(e)),
            AxisValue::Depth(p) => f.write_str(p.name),
            AxisValue::Width(w) => write!(f, "{w}"),
            AxisValue::Pretrain(None) => f.write_str("none"),
            AxisValue::Pretrain(Some(stage)) => f.write_str(stage),
            AxisValue::Tasks(t) => {
                let part = |name: &str, w: f64| {
                    if w == 1.0 {
                        name.to_string()
                    } else {
                        format!("{name}*{w}")
                    }
                };
                let parts: Vec<String> = [("gender", t.gender), ("age", t.age)]
                    .into_iter()
                    .filter_map(|(n, w)| w.map(|w| part(n, w)))
                    .collect();
                f.write_str(&parts.join("+"))
            }
            AxisValue::Train(s) => write!(f, "{s}"),
        }
    }
}

/// Short stable names: `classification`, `regression-l1`, `ldae-s2.5`; a non-default age range is appended.
#[derive(Debug)]
pub struct EncodingLabel<'a>(pub &'a Encoding);

impl fmt::Display for EncodingLabel<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let range = |f: &mut fmt::Formatter<'_>, lo: u32, hi: u32| {
            if (lo, hi) == AGE_RANGE {
                Ok(())
            } else {
                write!(f, "-{lo}to{hi}")
            }
        };
        match self.0 {
            Encoding::Classification { age_min, age_max } => {
                f.write_str("classification")?;
                range(f, *age_min, *age_max)
            }
            Encoding::Regression {
                loss: RegressionLoss::L2,
            } => f.write_str("regression-l2"),
            Encoding::Regression {
                loss: RegressionLoss::L1,
            } => f.write_str("regression-l1"),
            Encoding::Ldae {
                sigma,
                age_min,
                age_max,
                use_age_std,
            } => {
                write!(f, "ldae-s{sigma}")?;
                if *use_age_std {
                    f.write_str("-agestd")?;
                }
                range(f, *age_min, *age_max)
            }
        }
    }
}
