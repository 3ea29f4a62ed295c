//! The paper's four conclusions, each judged on this sweep's data: supported,
//! contradicted or inconclusive, with the effect, N and Welch's t-test across seeds.
//! A study is found by the axes it varies, so a user's own study is judged too.

use ablate_protocol::TrialState;

use crate::input::{Input, TrialRow};
use crate::markdown::esc;
use crate::stats::{mean_sd, welch};

pub struct Conclusion {
    pub claim: &'static str,
    pub verdict: &'static str,
    pub evidence: String,
}

const ALPHA: f64 = 0.05;

fn values<'a>(trials: impl Iterator<Item = &'a TrialRow>, metric: &str) -> Vec<f64> {
    trials
        .filter(|t| t.state == TrialState::Succeeded.as_str())
        .filter_map(|t| t.metrics.get(metric).copied())
        .collect()
}

/// The first study varying `axis` whose values pass `fits`, and its training trials.
fn in_study<'a>(
    input: &'a Input,
    axis: &str,
    fits: impl Fn(&[String]) -> bool,
) -> Option<(&'a str, Vec<&'a TrialRow>)> {
    let study = input
        .studies
        .iter()
        .find(|s| s.axes.iter().any(|(a, v)| a == axis && fits(v)))?;
    let trials = input
        .trials
        .iter()
        .filter(|t| t.kind == "train" && t.studies.iter().any(|s| s == &study.name))
        .collect();
    Some((&study.name, trials))
}

/// Compares `a` with `b` on a metric: (text, significant, a better).
fn compare(
    a: &[f64],
    b: &[f64],
    lower_is_better: bool,
    names: (&str, &str),
    unit: &str,
) -> (String, bool, bool) {
    let ((ma, _), (mb, _)) = (mean_sd(a), mean_sd(b));
    let better = if lower_is_better { ma < mb } else { ma > mb };
    match welch(a, b) {
        Some((t, df, p)) => {
            let p_text = if p < 0.001 {
                "p < 0.001".to_string()
            } else {
                format!("p = {p:.3}")
            };
            (
                format!(
                    "{} {ma:.3} vs {} {mb:.3}{unit} (difference {:+.3}, N = {} vs {}, Welch t = {t:.2}, df = {df:.1}, {p_text})",
                    names.0,
                    names.1,
                    ma - mb,
                    a.len(),
                    b.len()
                ),
                p < ALPHA,
                better,
            )
        }
        None => (
            format!(
                "{} {ma:.3} vs {} {mb:.3}{unit} (N = {} vs {}: too few seeds for a test)",
                names.0,
                names.1,
                a.len(),
                b.len()
            ),
            false,
            better,
        ),
    }
}

fn lacking(claim: &'static str, why: &str) -> Conclusion {
    Conclusion {
        claim,
        verdict: "not judged",
        evidence: format!("This sweep lacks the trials: {why}."),
    }
}

pub fn judge(input: &Input) -> Vec<Conclusion> {
    vec![
        encoding(input),
        depth(input),
        pretraining(input),
        multitask(input),
    ]
}

fn encoding(input: &Input) -> Conclusion {
    let claim = "LDAE is the best age encoding";
    let Some((study, trials)) = in_study(input, "encoding", |v| v.len() > 1) else {
        return lacking(claim, "no study varies `encoding`");
    };
    let mut groups: Vec<(String, Vec<f64>)> = Vec::new();
    for t in &trials {
        if let Some(e) = t.labels.get("encoding")
            && !groups.iter().any(|(g, _)| g == e)
        {
            groups.push((
                e.clone(),
                values(
                    trials
                        .iter()
                        .copied()
                        .filter(|x| x.labels.get("encoding") == Some(e)),
                    "age_mae",
                ),
            ));
        }
    }
    let (ldae, others): (Vec<_>, Vec<_>) = groups
        .into_iter()
        .filter(|(_, v)| !v.is_empty())
        .partition(|(e, _)| e.starts_with("ldae"));
    let best = |list: &[(String, Vec<f64>)]| {
        list.iter()
            .min_by(|a, b| mean_sd(&a.1).0.total_cmp(&mean_sd(&b.1).0))
            .cloned()
    };
    let (Some(l), Some(o)) = (best(&ldae), best(&others)) else {
        return lacking(
            claim,
            &format!(
                "study `{}` needs finished LDAE and other encodings",
                esc(study)
            ),
        );
    };
    let (text, sig, better) = compare(&l.1, &o.1, true, (&esc(&l.0), &esc(&o.0)), " years MAE");
    let verdict = match (sig, better) {
        (true, true) => "supported",
        (true, false) => "contradicted",
        _ => "inconclusive",
    };
    Conclusion {
        claim,
        verdict,
        evidence: format!(
            "Study `{}`, best LDAE against the best other encoding: {text}.",
            esc(study)
        ),
    }
}

/// Index of the first depth whose mean is within 2% of the best (where the task saturates).
fn saturation(
    depths: &[String],
    trials: &[&TrialRow],
    metric: &str,
    lower: bool,
) -> Option<(usize, Vec<f64>)> {
    let means: Vec<f64> = depths
        .iter()
        .map(|d| {
            mean_sd(&values(
                trials
                    .iter()
                    .copied()
                    .filter(|t| t.labels.get("depth") == Some(d)),
                metric,
            ))
            .0
        })
        .collect();
    if means.iter().any(|m| !m.is_finite()) || means.len() < 2 {
        return None;
    }
    let best = if lower {
        means.iter().copied().fold(f64::INFINITY, f64::min)
    } else {
        means.iter().copied().fold(f64::NEG_INFINITY, f64::max)
    };
    let i = means.iter().position(|m| {
        if lower {
            *m <= best * 1.02
        } else {
            *m >= best * 0.98
        }
    })?;
    Some((i, means))
}

fn depth(input: &Input) -> Conclusion {
    let claim = "Age needs a deeper network than gender";
    let Some((study, trials)) = in_study(input, "depth", |v| v.len() > 1) else {
        return lacking(claim, "no study varies `depth`");
    };
    let depths: Vec<String> = input
        .studies
        .iter()
        .find(|s| s.name == study)
        .and_then(|s| s.axes.iter().find(|(a, _)| a == "depth"))
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    let (Some((ga, gm)), Some((aa, am))) = (
        saturation(&depths, &trials, "gender_accuracy", false),
        saturation(&depths, &trials, "age_mae", true),
    ) else {
        return lacking(
            claim,
            &format!(
                "study `{}` needs finished gender and age trials at every depth",
                esc(study)
            ),
        );
    };
    let shallow_deep = |metric: &str, lower: bool| {
        let v = |d: &String| {
            values(
                trials
                    .iter()
                    .copied()
                    .filter(|t| t.labels.get("depth") == Some(d)),
                metric,
            )
        };
        compare(
            &v(&depths[depths.len() - 1]),
            &v(&depths[0]),
            lower,
            (&esc(&depths[depths.len() - 1]), &esc(&depths[0])),
            "",
        )
    };
    let (age_text, _, _) = shallow_deep("age_mae", true);
    let (gender_text, _, _) = shallow_deep("gender_accuracy", false);
    let verdict = if aa > ga {
        "supported"
    } else if aa < ga {
        "contradicted"
    } else {
        "inconclusive"
    };
    Conclusion {
        claim,
        verdict,
        evidence: format!(
            "Study `{}`: gender saturates (within 2% of its best) at {} ({:?}), age at {} ({:?}). Deepest vs shallowest, age MAE: {age_text}; gender accuracy: {gender_text}.",
            esc(study),
            esc(&depths[ga]),
            gm.iter()
                .map(|m| (m * 1000.0).round() / 1000.0)
                .collect::<Vec<_>>(),
            esc(&depths[aa]),
            am.iter()
                .map(|m| (m * 100.0).round() / 100.0)
                .collect::<Vec<_>>()
        ),
    }
}

fn face_stages(input: &Input) -> Vec<&String> {
    input
        .stages
        .iter()
        .filter(|(_, task)| *task == "identity")
        .map(|(n, _)| n)
        .collect()
}

fn pretraining(input: &Input) -> Conclusion {
    let claim = "Face-recognition pretraining is essential";
    let Some((study, trials)) = in_study(input, "pretrain", |v| v.iter().any(|x| x == "none"))
    else {
        return lacking(claim, "no study varies `pretrain`");
    };
    let Some(face) = face_stages(input)
        .into_iter()
        .find(|f| trials.iter().any(|t| t.labels.get("pretrain") == Some(f)))
    else {
        return lacking(claim, "no face-recognition stage in the pretraining study");
    };
    let mut parts = Vec::new();
    let (mut all_better, mut any_worse, mut judged) = (true, false, 0);
    for (metric, lower) in [("gender_accuracy", false), ("age_mae", true)] {
        let pick = |p: &str| {
            values(
                trials
                    .iter()
                    .copied()
                    .filter(|t| t.labels.get("pretrain").map(String::as_str) == Some(p)),
                metric,
            )
        };
        let (a, b) = (pick(face), pick("none"));
        if a.is_empty() || b.is_empty() {
            continue;
        }
        judged += 1;
        let (text, sig, better) = compare(&a, &b, lower, (&esc(face), "none"), "");
        all_better &= sig && better;
        any_worse |= sig && !better;
        parts.push(format!("{metric}: {text}"));
    }
    if judged == 0 {
        return lacking(
            claim,
            &format!(
                "study `{}` needs finished trials with pretrain = none and = {}",
                esc(study),
                esc(face)
            ),
        );
    }
    let verdict = if any_worse {
        "contradicted"
    } else if all_better {
        "supported"
    } else {
        "inconclusive"
    };
    Conclusion {
        claim,
        verdict,
        evidence: format!(
            "Study `{}`, {} vs none: {}.",
            esc(study),
            esc(face),
            parts.join("; ")
        ),
    }
}

fn multitask(input: &Input) -> Conclusion {
    let claim = "Multi-task learning helps only when training from scratch";
    let Some((study, trials)) = in_study(input, "tasks", |v| v.iter().any(|x| x.contains('+')))
    else {
        return lacking(claim, "no study varies `tasks`");
    };
    let face = face_stages(input);
    let mut parts = Vec::new();
    let (mut scratch_helps, mut scratch_hurts, mut pretrained_helps, mut judged) =
        (false, false, false, 0);
    for (metric, mono, lower) in [
        ("gender_accuracy", "gender", false),
        ("age_mae", "age", true),
    ] {
        for init in std::iter::once("none").chain(face.iter().map(|f| f.as_str())) {
            let pick = |tasks: &str| {
                values(
                    trials.iter().copied().filter(|t| {
                        t.labels.get("pretrain").map(String::as_str) == Some(init)
                            && t.labels.get("tasks").is_some_and(|x| {
                                x.split('+')
                                    .map(|p| p.split('*').next().unwrap_or(p))
                                    .collect::<Vec<_>>()
                                    .join("+")
                                    == tasks
                            })
                    }),
                    metric,
                )
            };
            let (multi, single) = (pick("gender+age"), pick(mono));
            if multi.is_empty() || single.is_empty() {
                continue;
            }
            judged += 1;
            let (text, sig, better) = compare(&multi, &single, lower, ("multi", "mono"), "");
            if init == "none" {
                scratch_helps |= sig && better;
                scratch_hurts |= sig && !better;
            } else {
                pretrained_helps |= sig && better;
            }
            parts.push(format!("{metric} with pretrain = {}: {text}", esc(init)));
        }
    }
    if judged == 0 {
        return lacking(
            claim,
            &format!(
                "study `{}` needs finished mono- and multi-task trials",
                esc(study)
            ),
        );
    }
    let verdict = if pretrained_helps || scratch_hurts {
        "contradicted"
    } else if scratch_helps {
        "supported"
    } else {
        "inconclusive"
    };
    Conclusion {
        claim,
        verdict,
        evidence: format!("Study `{}`: {}.", esc(study), parts.join("; ")),
    }
}
