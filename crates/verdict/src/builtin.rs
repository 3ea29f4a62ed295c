//! The paper's four claims, made precise (docs/statistics.md states each rule).
//! Each finds the study varying its axes, keeps only the trials matching the
//! condition the paper stated, and plans the comparisons its rule needs.

use ablate_spec::Metric;
use std::collections::BTreeMap;

use crate::arms::Arm;
use crate::model::{Kind, Planned, Route, Spec, Want};
use crate::{Input, Study, Trial, VerdictKind};

pub(crate) const ENCODING: &str = "LDAE is the best age encoding";
pub(crate) const DEPTH: &str = "Age needs a deeper network than gender (from scratch)";
pub(crate) const PRETRAINING: &str = "Face-recognition pretraining is essential";
pub(crate) const MULTITASK: &str = "Multi-task learning helps only when training from scratch";

pub(crate) fn plans(input: &Input<'_>) -> Vec<Planned> {
    vec![
        encoding(input),
        depth(input),
        pretraining(input),
        multitask(input),
    ]
}

pub(crate) fn not_judged(claim: &str, why: impl Into<String>) -> Planned {
    Planned::NotJudged {
        claim: claim.into(),
        why: why.into(),
    }
}

pub(crate) fn study<'a>(
    input: &'a Input<'_>,
    axis: &str,
    fits: impl Fn(&[String]) -> bool,
) -> Option<&'a Study> {
    input
        .studies
        .iter()
        .find(|s| s.axes.iter().any(|(a, v)| a == axis && fits(v)))
}

pub(crate) fn trials_of<'a>(input: &'a Input<'_>, study: &Study) -> Vec<&'a Trial> {
    input
        .trials
        .iter()
        .filter(|t| t.studies.iter().any(|s| s == &study.name))
        .collect()
}

fn label<'a>(t: &'a Trial, axis: &str) -> &'a str {
    t.labels.get(axis).map_or("", String::as_str)
}

/// The trials with every `(axis, value)` of `at`.
pub(crate) fn pick<'a>(trials: &[&'a Trial], at: &[(&str, &str)]) -> Vec<&'a Trial> {
    trials
        .iter()
        .copied()
        .filter(|t| at.iter().all(|(a, v)| label(t, a) == *v))
        .collect()
}

pub(crate) fn describe(at: &[(&str, &str)]) -> String {
    at.iter()
        .map(|(a, v)| format!("{a} = {v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn spec(
    kind: Kind,
    metric: &str,
    trials: &[&Trial],
    a: &[(&str, &str)],
    b: &[(&str, &str)],
    context: &[(&str, &str)],
) -> Spec {
    let arm = |at: &[(&str, &str)]| {
        let all: Vec<(&str, &str)> = at.iter().chain(context).copied().collect();
        Arm::new(describe(at), &pick(trials, &all), metric)
    };
    let ctx = if context.is_empty() {
        String::new()
    } else {
        format!(" ({})", describe(context))
    };
    Spec {
        what: format!("{metric}: {} vs {}{ctx}", describe(a), describe(b)),
        metric: metric.into(),
        kind,
        a: arm(a),
        b: arm(b),
        others: Vec::new(),
    }
}

fn margin(input: &Input<'_>, metric: &str) -> Kind {
    Kind::Equivalence {
        margin: input
            .settings
            .smallest_effect
            .get(metric)
            .copied()
            .unwrap_or(f64::NAN),
    }
}

/// A claim's plan: its comparisons, its routes to "supported" and to
/// "contradicted", and why it is open when neither holds.
pub(crate) fn plan(
    claim: &str,
    study: &Study,
    rule_text: &str,
    specs: Vec<Spec>,
    routes: [Route; 2],
    open: &str,
) -> Planned {
    Planned::Plan {
        claim: claim.into(),
        study: study.name.clone(),
        rule_text: rule_text.into(),
        specs,
        routes,
        open: open.into(),
    }
}

/// Claim 1: some LDAE encoding beats every other encoding on age MAE; every pair
/// (LDAE, other) is tested, so picking the best LDAE afterwards is covered.
fn encoding(input: &Input<'_>) -> Planned {
    let is_ldae = |v: &str| v.starts_with("ldae");
    let Some(st) = study(input, "encoding", |v| {
        v.iter().any(|x| is_ldae(x)) && v.iter().any(|x| !is_ldae(x))
    }) else {
        return not_judged(
            ENCODING,
            "no study varies `encoding` over LDAE and another encoding",
        );
    };
    let trials = trials_of(input, st);
    let values = &st
        .axes
        .iter()
        .find(|(a, _)| a == "encoding")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    if let Some(other) = crossed(st, &trials, "encoding") {
        return not_judged(
            ENCODING,
            format!(
                "study `{}` varies `{other}` across encodings; the built-in claim compares encodings with nothing else varied (declare a [[claim]] at fixed levels)",
                st.name
            ),
        );
    }
    let (ldae, others): (Vec<&String>, Vec<&String>) = values.iter().partition(|v| is_ldae(v));
    let mut specs = Vec::new();
    for l in &ldae {
        for o in &others {
            specs.push(spec(
                Kind::Difference,
                Metric::AgeMae.key(),
                &trials,
                &[("encoding", l)],
                &[("encoding", o)],
                &[],
            ));
        }
    }
    let (nl, no) = (ldae.len(), others.len());
    // Tests are row-major: LDAE encoding i against other encoding j at i * no + j.
    let supported = Route::new(
        VerdictKind::Supported,
        (0..nl)
            .map(|i| (0..no).map(|j| (i * no + j, Want::ABetter)).collect())
            .collect(),
        move |i, t| {
            format!(
                "{} is significantly better than every other encoding",
                t[i * no].a.label
            )
        },
    );
    let contradicted = Route::new(
        VerdictKind::Contradicted,
        (0..no)
            .map(|j| (0..nl).map(|i| (i * no + j, Want::BBetter)).collect())
            .collect(),
        |j, t| {
            format!(
                "{} is significantly better than every LDAE encoding",
                t[j].b.label
            )
        },
    );
    plan(
        ENCODING,
        st,
        "supported when one LDAE encoding has a significantly lower age MAE than each other encoding (all LDAE x other pairs tested); contradicted when one other encoding is significantly better than every LDAE encoding",
        specs,
        [supported, contradicted],
        "no LDAE encoding is shown better than every other, and none is shown worse than one other",
    )
}

fn crossed(st: &Study, trials: &[&Trial], axis: &str) -> Option<String> {
    for (other, _) in st.axes.iter().filter(|(a, _)| a != axis) {
        let mut seen: BTreeMap<&str, &str> = BTreeMap::new();
        for t in trials {
            if let Some(prev) = seen.insert(label(t, axis), label(t, other))
                && prev != label(t, other)
            {
                return Some(other.clone());
            }
        }
    }
    None
}

/// The first face-recognition stage that some of `trials` start from.
fn face_stage<'a>(input: &'a Input<'_>, trials: &[&Trial]) -> Option<&'a String> {
    input
        .face_stages
        .iter()
        .find(|f| trials.iter().any(|t| label(t, "pretrain") == f.as_str()))
}

fn conv_layers(preset: &str) -> usize {
    ablate_spec::presets::find(preset).map_or(0, |p| p.convs.len())
}

/// Claim 2, from scratch only: there is a depth at which gender is already as good
/// as at the deepest (TOST) while age is still significantly worse.
fn depth(input: &Input<'_>) -> Planned {
    let Some(st) = study(input, "depth", |v| v.len() > 1) else {
        return not_judged(DEPTH, "no study varies `depth`");
    };
    let all = trials_of(input, st);
    let trials = pick(&all, &[("pretrain", "none")]);
    if trials.is_empty() {
        let used: Vec<&str> = all.iter().map(|t| label(t, "pretrain")).collect();
        return not_judged(
            DEPTH,
            format!(
                "the claim is about nets trained from scratch, and study `{}` trains from pretrain = {} (set pretrain = \"none\" in it)",
                st.name,
                used.first().copied().unwrap_or("?")
            ),
        );
    }
    let has = |task: &str| trials.iter().any(|t| label(t, "tasks") == task);
    if !has("gender") || !has("age") {
        return not_judged(
            DEPTH,
            format!(
                "study `{}` needs gender-only and age-only trials (grid.tasks = [[\"gender\"], [\"age\"]])",
                st.name
            ),
        );
    }
    let mut presets: Vec<String> = st
        .axes
        .iter()
        .find(|(a, _)| a == "depth")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    presets.sort_by_key(|p| conv_layers(p));
    let deepest = presets[presets.len() - 1].clone();
    let shallower: Vec<String> = presets[..presets.len() - 1].to_vec();
    let ctx = [("pretrain", "none")];
    let mut specs = Vec::new();
    for k in &shallower {
        let g: Vec<&Trial> = pick(&trials, &[("tasks", "gender")]);
        let a: Vec<&Trial> = pick(&trials, &[("tasks", "age")]);
        specs.push(spec(
            margin(input, Metric::GenderAccuracy.key()),
            Metric::GenderAccuracy.key(),
            &g,
            &[("depth", k)],
            &[("depth", &deepest)],
            &ctx,
        ));
        specs.push(spec(
            Kind::Difference,
            Metric::AgeMae.key(),
            &a,
            &[("depth", &deepest)],
            &[("depth", k)],
            &ctx,
        ));
    }
    // The contradiction's evidence: gender's own gain from the shallowest to the deepest.
    let g: Vec<&Trial> = pick(&trials, &[("tasks", "gender")]);
    specs.push(spec(
        Kind::Difference,
        Metric::GenderAccuracy.key(),
        &g,
        &[("depth", &deepest)],
        &[("depth", &shallower[0])],
        &ctx,
    ));
    // Descriptive: each task's trend across every preset, per depth step.
    for (task, metric) in [
        ("gender", Metric::GenderAccuracy.key()),
        ("age", Metric::AgeMae.key()),
    ] {
        let tt: Vec<&Trial> = pick(&trials, &[("tasks", task)]);
        let others: Vec<Arm> = presets
            .iter()
            .map(|p| {
                Arm::new(
                    describe(&[("depth", p)]),
                    &pick(&tt, &[("depth", p)]),
                    metric,
                )
            })
            .collect();
        specs.push(Spec {
            what: format!(
                "{metric}: trend per depth step over {} (pretrain = none)",
                presets.join(", ")
            ),
            metric: metric.into(),
            kind: Kind::Trend,
            a: others[others.len() - 1].clone(),
            b: others[0].clone(),
            others,
        });
    }
    let n = shallower.len();
    // Tests: per shallower depth k, gender's equivalence (2k) and age's
    // difference (2k + 1); then gender's own gain (2n).
    let supported = Route::new(
        VerdictKind::Supported,
        (0..n)
            .map(|k| vec![(2 * k, Want::Equivalent), (2 * k + 1, Want::ABetter)])
            .collect(),
        |k, t| {
            format!(
                "gender at {} is equivalent to gender at the deepest net, while age is significantly better at the deepest",
                t[2 * k].a.label
            )
        },
    );
    let gains =
        move |t: &[&crate::Test]| (t[2 * n].standardised_gain()).zip(t[1].standardised_gain());
    let mut contradicted = Route::new(
        VerdictKind::Contradicted,
        vec![vec![(2 * n, Want::ABetter)]],
        move |_, t| {
            let (g, a) = gains(t).unwrap_or((f64::NAN, f64::NAN));
            format!(
                "gender gains significantly from depth, by {g:.2} standard deviations, at least as much as age ({a:.2})"
            )
        },
    );
    contradicted.gate = Some(Box::new(move |t| gains(t).is_some_and(|(g, a)| g >= a)));
    plan(
        DEPTH,
        st,
        "from scratch only: supported when, at some shallower depth, gender accuracy is equivalent to the deepest net's (TOST) and age MAE is significantly worse than the deepest net's; contradicted when gender gains significantly from the shallowest to the deepest net, by at least as many standard deviations as age",
        specs,
        [supported, contradicted],
        "no depth is shown adequate for gender (equivalent to the deepest) while age still gains significantly",
    )
}

/// Claim 3: face-recognition pretraining beats no pretraining on every task the
/// study trains.
fn pretraining(input: &Input<'_>) -> Planned {
    let Some(st) = study(input, "pretrain", |v| v.iter().any(|x| x == "none")) else {
        return not_judged(PRETRAINING, "no study varies `pretrain` with \"none\"");
    };
    let trials = trials_of(input, st);
    let Some(face) = face_stage(input, &trials) else {
        return not_judged(
            PRETRAINING,
            format!("study `{}` has no face-recognition stage", st.name),
        );
    };
    let mut specs = Vec::new();
    for (task, metric) in [
        ("gender", Metric::GenderAccuracy.key()),
        ("age", Metric::AgeMae.key()),
    ] {
        let mono = pick(&trials, &[("tasks", task)]);
        if mono.is_empty() {
            continue;
        }
        specs.push(spec(
            Kind::Difference,
            metric,
            &mono,
            &[("pretrain", face)],
            &[("pretrain", "none")],
            &[("tasks", task)],
        ));
        specs.push(spec(
            margin(input, metric),
            metric,
            &mono,
            &[("pretrain", face)],
            &[("pretrain", "none")],
            &[("tasks", task)],
        ));
    }
    if specs.is_empty() {
        return not_judged(
            PRETRAINING,
            format!("study `{}` has no gender-only or age-only trials", st.name),
        );
    }
    // Tests: per task, the difference (2i) and the equivalence (2i + 1).
    let tasks = specs.len() / 2;
    let supported = Route::new(
        VerdictKind::Supported,
        vec![(0..tasks).map(|i| (2 * i, Want::ABetter)).collect()],
        |_, _| "face-recognition pretraining is significantly better on every task".into(),
    );
    // One alternative per task (none better), then all tasks equivalent.
    let mut alternatives: Vec<Vec<(usize, Want)>> =
        (0..tasks).map(|i| vec![(2 * i, Want::BBetter)]).collect();
    alternatives.push((0..tasks).map(|i| (2 * i + 1, Want::Equivalent)).collect());
    let contradicted = Route::new(VerdictKind::Contradicted, alternatives, move |a, t| {
        if a < tasks {
            format!("no pretraining is significantly better ({})", t[2 * a].what)
        } else {
            "face-recognition pretraining is shown equivalent to none on every task".into()
        }
    });
    plan(
        PRETRAINING,
        st,
        "supported when face-recognition pretraining is significantly better than none on every task studied; contradicted when none is significantly better on a task, or the two are shown equivalent (TOST) on every task",
        specs,
        [supported, contradicted],
        "not every task shows a significant gain from face-recognition pretraining",
    )
}

/// Claim 4, two parts that must both hold (intersection-union): multi-task is
/// better than mono-task from scratch on every task, and equivalent to it after
/// face-recognition pretraining on every task.
fn multitask(input: &Input<'_>) -> Planned {
    let Some(st) = study(input, "tasks", |v| v.iter().any(|x| x == "gender+age")) else {
        return not_judged(
            MULTITASK,
            "no study varies `tasks` with multi-task (gender+age) trials",
        );
    };
    let trials = trials_of(input, st);
    let Some(face) = face_stage(input, &trials) else {
        return not_judged(
            MULTITASK,
            format!(
                "study `{}` needs trials with pretrain = none and with a face-recognition stage",
                st.name
            ),
        );
    };
    if pick(&trials, &[("pretrain", "none")]).is_empty() {
        return not_judged(
            MULTITASK,
            format!("study `{}` has no trials trained from scratch", st.name),
        );
    }
    let mut specs = Vec::new();
    for (task, metric) in [
        ("gender", Metric::GenderAccuracy.key()),
        ("age", Metric::AgeMae.key()),
    ] {
        if pick(&trials, &[("tasks", task)]).is_empty() {
            continue;
        }
        for p in ["none", face.as_str()] {
            let ctx = [("pretrain", p)];
            specs.push(spec(
                Kind::Difference,
                metric,
                &trials,
                &[("tasks", "gender+age")],
                &[("tasks", task)],
                &ctx,
            ));
            specs.push(spec(
                margin(input, metric),
                metric,
                &trials,
                &[("tasks", "gender+age")],
                &[("tasks", task)],
                &ctx,
            ));
        }
    }
    if specs.is_empty() {
        return not_judged(
            MULTITASK,
            format!(
                "study `{}` has no mono-task trials to compare with",
                st.name
            ),
        );
    }
    // Tests: per task c, from scratch the difference (4c) and equivalence
    // (4c + 1), after face pretraining the difference (4c + 2) and
    // equivalence (4c + 3).
    let tasks = specs.len() / 4;
    let supported = Route::new(
        VerdictKind::Supported,
        vec![
            (0..tasks)
                .flat_map(|c| [(4 * c, Want::ABetter), (4 * c + 3, Want::Equivalent)])
                .collect(),
        ],
        |_, _| {
            "multi-task is significantly better from scratch on every task, and equivalent after face-recognition pretraining on every task".into()
        },
    );
    let contradicted = Route::new(
        VerdictKind::Contradicted,
        (0..tasks)
            .flat_map(|c| {
                [
                    vec![(4 * c, Want::BBetter)],
                    vec![(4 * c + 1, Want::Equivalent)],
                    vec![(4 * c + 2, Want::Differs)],
                ]
            })
            .collect(),
        |a, t| {
            let metric = &t[4 * (a / 3)].metric;
            match a % 3 {
                0 => format!(
                    "from scratch, multi-task does not help on {metric}: mono-task is significantly better"
                ),
                1 => format!(
                    "from scratch, multi-task does not help on {metric}: shown equivalent to mono-task"
                ),
                _ => format!(
                    "after face-recognition pretraining, multi-task differs significantly from mono-task on {metric}"
                ),
            }
        },
    );
    plan(
        MULTITASK,
        st,
        "two parts, both required: from scratch, multi-task is significantly better than mono-task on every task; after face-recognition pretraining, the two are equivalent (TOST) on every task. Contradicted when either part is shown false (mono-task better or equivalent from scratch, or a significant difference after pretraining)",
        specs,
        [supported, contradicted],
        "neither part is shown both ways: multi-task's gain from scratch, and its equivalence after pretraining",
    )
}
