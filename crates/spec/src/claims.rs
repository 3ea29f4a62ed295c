//! `[[claim]]`: a user's own claims, judged by the report with the same machinery
//! (and the same family-wise error control) as the paper's four. Checked against
//! the expanded studies: the study must exist, every named axis must be one it
//! varies, every level one of its values, and each compared arm must pin every
//! axis the study varies (an arm is one configuration, never a pool).

use serde::Serialize;

use crate::error::Ctx;
use crate::model::Study;
use crate::value::{self, Table, Value, join};
use ablate_vocab::Metric;

/// Levels: (axis, value label) pairs, e.g. `[("encoding", "ldae-s2")]`.
pub type Levels = Vec<(String, String)>;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClaimSpec {
    pub name: String,
    pub study: String,
    pub metric: String,
    pub relation: Relation,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum Relation {
    /// `a` is better than `b` (both with `at`).
    Better { a: Levels, b: Levels, at: Levels },
    /// `a` is no worse than `b` by more than `margin` (default: the metric's
    /// smallest effect of interest).
    NoWorse {
        a: Levels,
        b: Levels,
        at: Levels,
        margin: Option<f64>,
    },
    /// Going from `from` to `to` on `axis` improves the metric more where
    /// `larger` holds than where `smaller` holds (a difference of differences).
    LargerEffect {
        axis: String,
        from: String,
        to: String,
        larger: Levels,
        smaller: Levels,
        at: Levels,
    },
}

const KEYS: &[&str] = &[
    "name",
    "study",
    "metric",
    "better",
    "no_worse",
    "than",
    "where",
    "margin",
    "effect_of",
    "larger_when",
    "than_when",
];

struct Checker<'a, 'c, 't> {
    ctx: &'c mut Ctx<'t>,
    study: &'a Study,
    path: String,
}

impl Checker<'_, '_, '_> {
    /// `{ axis = "value", ... }`, each axis varied by the study and each value one of its levels.
    fn levels(&mut self, key: &str, v: &Value<'_>) -> Option<Levels> {
        let path = join(&self.path, key);
        let t = value::table(self.ctx, &path, v)?;
        let mut out = Vec::new();
        for (k, val) in t.iter() {
            let axis: &str = k.get_ref();
            let label = self.level(&path, k.span(), axis, val)?;
            out.push((axis.to_string(), label));
        }
        Some(out)
    }

    /// One value of `axis`, which the study must vary.
    fn level(
        &mut self,
        path: &str,
        key_span: std::ops::Range<usize>,
        axis: &str,
        val: &Value<'_>,
    ) -> Option<String> {
        let Some((_, values)) = self.study.axes.iter().find(|(a, _)| a == axis) else {
            let varied: Vec<&str> = self.study.axes.iter().map(|(a, _)| a.as_str()).collect();
            self.ctx.error(
                key_span,
                &join(path, axis),
                format!("study \"{}\" does not vary `{axis}`", self.study.name),
                Some(format!("name axes it varies: {}", varied.join(", "))),
            );
            return None;
        };
        let label = value::string(self.ctx, &join(path, axis), val)?;
        if !values.iter().any(|x| x == label) {
            self.ctx.error(
                val.span(),
                &join(path, axis),
                format!(
                    "study \"{}\" has no `{axis}` = \"{label}\"",
                    self.study.name
                ),
                Some(format!("its values are: {}", values.join(", "))),
            );
            return None;
        }
        Some(label.to_string())
    }

    /// Every axis the study varies is pinned by `arm`, else the arm pools configurations.
    fn pins_all(&mut self, span: std::ops::Range<usize>, what: &str, arm: &[&Levels]) -> bool {
        for (axis, values) in &self.study.axes {
            if !arm.iter().any(|l| l.iter().any(|(a, _)| a == axis)) {
                self.ctx.error(
                    span,
                    &self.path,
                    format!("{what} leaves `{axis}` of study \"{}\" open, so it would pool several configurations", self.study.name),
                    Some(format!("add {axis} = \"...\" to `where` (one of {})", values.join(", "))),
                );
                return false;
            }
        }
        true
    }

    /// The one relation a claim states: `better`, `no_worse` or `effect_of`.
    fn form(&mut self, t: &Table<'_>, v: &Value<'_>) -> Option<&'static str> {
        let forms: Vec<&str> = ["better", "no_worse", "effect_of"]
            .into_iter()
            .filter(|k| value::get(t, k).is_some())
            .collect();
        if forms.len() != 1 {
            self.ctx.error(v.span(), &self.path, format!("a claim states one relation, and this one has {}", if forms.is_empty() { "none".to_string() } else { forms.join(" and ") }), Some("use one of: better = {..} with than = {..}; no_worse = {..} with than = {..}; effect_of = { AXIS = [\"FROM\", \"TO\"] } with larger_when = {..} and than_when = {..}".into()));
            return None;
        }
        Some(forms[0])
    }

    /// `better` or `no_worse` (`form`) with `than`: two arms, each one configuration.
    fn comparison(
        &mut self,
        t: &Table<'_>,
        v: &Value<'_>,
        form: &str,
        at: Levels,
    ) -> Option<Relation> {
        let a = self.levels(form, value::get(t, form)?)?;
        let Some(bv) = value::get(t, "than") else {
            self.ctx.error(
                v.span(),
                &self.path,
                "missing key `than`",
                Some("add than = { AXIS = \"VALUE\" }: what it is compared with".into()),
            );
            return None;
        };
        let b = self.levels("than", bv)?;
        if !self.pins_all(v.span(), &format!("`{form}` with `where`"), &[&a, &at])
            || !self.pins_all(v.span(), "`than` with `where`", &[&b, &at])
        {
            return None;
        }
        if form == "better" {
            return Some(Relation::Better { a, b, at });
        }
        let margin = match value::get(t, "margin") {
            Some(m) => Some(value::number(
                self.ctx,
                &join(&self.path, "margin"),
                m,
                |x| x > 0.0,
                "a positive number in the metric's units",
            )?),
            None => None,
        };
        Some(Relation::NoWorse { a, b, at, margin })
    }

    /// `effect_of` with `larger_when` and `than_when`: four arms, each one configuration.
    fn larger_effect(&mut self, t: &Table<'_>, v: &Value<'_>, at: Levels) -> Option<Relation> {
        let (axis, from, to) = self.effect_of(t)?;
        let (Some(lv), Some(sv)) = (value::get(t, "larger_when"), value::get(t, "than_when"))
        else {
            self.ctx.error(v.span(), &self.path, "effect_of needs `larger_when` and `than_when`", Some("e.g. larger_when = { pretrain = \"none\" } and than_when = { pretrain = \"face\" }".into()));
            return None;
        };
        let (larger, smaller) = (
            self.levels("larger_when", lv)?,
            self.levels("than_when", sv)?,
        );
        let pin = vec![(axis.clone(), from.clone())];
        if !self.pins_all(
            v.span(),
            "`effect_of` with `larger_when` and `where`",
            &[&pin, &larger, &at],
        ) || !self.pins_all(
            v.span(),
            "`effect_of` with `than_when` and `where`",
            &[&pin, &smaller, &at],
        ) {
            return None;
        }
        Some(Relation::LargerEffect {
            axis,
            from,
            to,
            larger,
            smaller,
            at,
        })
    }

    /// `effect_of = { AXIS = ["FROM", "TO"] }`: one varied axis and two of its values.
    fn effect_of(&mut self, t: &Table<'_>) -> Option<(String, String, String)> {
        let key = join(&self.path, "effect_of");
        let ev = value::get(t, "effect_of")?;
        let et = value::table(self.ctx, &key, ev)?;
        let Some((k, pair)) = et.iter().next().filter(|_| et.len() == 1) else {
            self.ctx.error(
                ev.span(),
                &key,
                "effect_of names one axis and two of its values",
                Some("e.g. effect_of = { depth = [\"vgg7\", \"vgg11\"] }".into()),
            );
            return None;
        };
        let axis = k.get_ref().to_string();
        let items = value::array(self.ctx, &key, pair)?;
        let mut ends = Vec::new();
        for item in items.iter() {
            ends.push(self.level(&key, k.span(), &axis, item)?);
        }
        if ends.len() != 2 || ends[0] == ends[1] {
            self.ctx.error(
                pair.span(),
                &key,
                "effect_of names two different values of its axis: from and to",
                Some(format!("e.g. {axis} = [\"FROM\", \"TO\"]")),
            );
            return None;
        }
        let to = ends.pop()?;
        let from = ends.pop()?;
        Some((axis, from, to))
    }
}

fn text<'a>(
    ctx: &mut Ctx<'_>,
    path: &str,
    t: &'a Table<'_>,
    key: &str,
    span: std::ops::Range<usize>,
    example: &str,
) -> Option<&'a str> {
    match value::get(t, key) {
        Some(v) => value::string(ctx, &join(path, key), v),
        None => {
            ctx.error(
                span,
                path,
                format!("missing key `{key}`"),
                Some(format!("add {key} = {example}")),
            );
            None
        }
    }
}

/// The claim's name, which no earlier claim has.
fn claim_name(
    ctx: &mut Ctx<'_>,
    path: &str,
    t: &Table<'_>,
    v: &Value<'_>,
    seen: &mut Vec<String>,
) -> Option<String> {
    let name = text(
        ctx,
        path,
        t,
        "name",
        v.span(),
        "\"wider nets estimate age better\"",
    )?
    .to_string();
    if seen.contains(&name) {
        ctx.error(
            v.span(),
            &join(path, "name"),
            format!("claim name \"{name}\" is used twice"),
            Some("give each [[claim]] its own name".into()),
        );
        return None;
    }
    seen.push(name.clone());
    Some(name)
}

/// The study the claim is about, one of the sweep's.
fn claim_study<'s>(
    ctx: &mut Ctx<'_>,
    path: &str,
    t: &Table<'_>,
    v: &Value<'_>,
    studies: &'s [Study],
) -> Option<&'s Study> {
    let study_name = text(
        ctx,
        path,
        t,
        "study",
        v.span(),
        "\"NAME\" (one of the sweep's [[study]] names)",
    )?;
    let Some(study) = studies.iter().find(|s| s.name == study_name) else {
        let names: Vec<&str> = studies.iter().map(|s| s.name.as_str()).collect();
        let sv = value::get(t, "study").map_or(v.span(), Value::span);
        ctx.error(
            sv,
            &join(path, "study"),
            format!("no study named \"{study_name}\""),
            Some(format!("studies are: {}", names.join(", "))),
        );
        return None;
    };
    Some(study)
}

/// One `[[claim]]`, checked against the study it names.
fn one(
    ctx: &mut Ctx<'_>,
    path: &str,
    t: &Table<'_>,
    v: &Value<'_>,
    studies: &[Study],
    seen: &mut Vec<String>,
) -> Option<ClaimSpec> {
    let name = claim_name(ctx, path, t, v, seen)?;
    let study = claim_study(ctx, path, t, v, studies)?;
    let metric_v = value::get(t, "metric");
    let metric = value::choice(
        ctx,
        &join(path, "metric"),
        metric_v.unwrap_or(v),
        &Metric::keys(),
    )?;
    let mut c = Checker {
        ctx,
        study,
        path: path.to_string(),
    };
    let at = match value::get(t, "where") {
        Some(w) => c.levels("where", w)?,
        None => Vec::new(),
    };
    let relation = match c.form(t, v)? {
        form @ ("better" | "no_worse") => c.comparison(t, v, form, at)?,
        _ => c.larger_effect(t, v, at)?,
    };
    Some(ClaimSpec {
        name,
        study: study.name.clone(),
        metric: metric.to_string(),
        relation,
    })
}

/// Checks every `[[claim]]` against the expanded studies.
pub(crate) fn parse(
    ctx: &mut Ctx<'_>,
    claims: &[&Value<'_>],
    studies: &[Study],
) -> Option<Vec<ClaimSpec>> {
    let mut out = Vec::new();
    let mut seen = Vec::new();
    let mut ok = true;
    for (i, v) in claims.iter().enumerate() {
        let path = format!("claim[{i}]");
        let Some(t) = value::table(ctx, &path, v) else {
            ok = false;
            continue;
        };
        if !value::known_keys(ctx, &path, t, KEYS) {
            ok = false;
            continue;
        }
        match one(ctx, &path, t, v, studies, &mut seen) {
            Some(c) => out.push(c),
            None => ok = false,
        }
    }
    ok.then_some(out)
}
