//! A sweep's own `[[claim]]`s, parsed from TOML as a user writes them and judged
//! against a known truth in the same family as the paper's claims.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use ablate_verdict::VerdictKind;
use common::{Rng, Truth, draw, judge_draw};

/// The quick grid's studies as a sweep file, with the claims under test.
const SWEEP: &str = r#"
[sweep]
name = "c"
[data.faces]
kind = "synthetic-faces"
[data.objects]
kind = "synthetic-objects"
[pretrain.face]
task = "identity"
data = "faces"
[pretrain.general]
task = "general"
data = "objects"
[defaults]
depth = "vgg9"
encoding = "ldae"
[[study]]
name = "multitask"
grid.tasks = [["gender"], ["age"], ["gender", "age"]]
grid.pretrain = ["none", "face"]

[[claim]]
name = "multi-task beats mono-task on gender from scratch"
study = "multitask"
metric = "gender_accuracy"
better = { tasks = "gender+age" }
than = { tasks = "gender" }
where = { pretrain = "none" }

[[claim]]
name = "multi-task costs no age accuracy after face pretraining"
study = "multitask"
metric = "age_mae"
no_worse = { tasks = "gender+age" }
than = { tasks = "age" }
where = { pretrain = "face" }
margin = 1.0

[[claim]]
name = "multi-task helps gender more from scratch"
study = "multitask"
metric = "gender_accuracy"
effect_of = { tasks = ["gender", "gender+age"] }
larger_when = { pretrain = "none" }
than_when = { pretrain = "face" }
"#;

/// Verdicts of the three user claims (after the paper's four) over `draws` sweeps.
fn verdicts(truth: &Truth, seeds: u64, draws: u64) -> Vec<Vec<VerdictKind>> {
    let sweep = ablate_spec::parse(SWEEP, Path::new("c.toml")).unwrap();
    assert_eq!(sweep.claims.len(), 3);
    let mut rng = Rng(77 + seeds);
    (0..draws)
        .map(|_| {
            let (studies, trials) = draw(truth, seeds, &mut rng);
            let j = judge_draw(&studies, &trials, &sweep.claims);
            assert_eq!(j.verdicts.len(), 7);
            j.verdicts[4..].iter().map(|v| v.verdict).collect()
        })
        .collect()
}

fn share(v: &[Vec<VerdictKind>], i: usize, k: VerdictKind) -> f64 {
    v.iter().filter(|x| x[i] == k).count() as f64 / v.len() as f64
}

fn null(metric: &str, _: &BTreeMap<String, String>) -> f64 {
    if metric == "age_mae" { 8.0 } else { 0.8 }
}

/// Multi-task helps gender by 0.02 from scratch only; age is the same everywhere.
fn truth(metric: &str, l: &BTreeMap<String, String>) -> f64 {
    let multi_scratch = l["tasks"] == "gender+age" && l["pretrain"] == "none";
    null(metric, l)
        + if metric == "gender_accuracy" && multi_scratch {
            0.02
        } else {
            0.0
        }
}

#[test]
fn user_claims_that_hold_are_supported() {
    let v = verdicts(&truth, 20, 40);
    for i in 0..3 {
        assert!(
            share(&v, i, VerdictKind::Supported) >= 0.9,
            "claim {i}: {:?}",
            v.iter().map(|x| x[i]).collect::<Vec<_>>()
        );
    }
}

/// With no effect, "better" and "larger effect" are never supported beyond alpha;
/// "no worse" is then true, and supported.
#[test]
fn under_no_effect_only_the_true_claim_is_supported() {
    let v = verdicts(&null, 20, 100);
    let wrong = v
        .iter()
        .filter(|x| {
            x[0] == VerdictKind::Supported
                || x[2] == VerdictKind::Supported
                || x[0] == VerdictKind::Contradicted
                || x[2] == VerdictKind::Contradicted
        })
        .count() as f64
        / v.len() as f64;
    assert!(wrong <= 0.05 + 0.05, "{wrong}");
    assert!(share(&v, 1, VerdictKind::Supported) >= 0.9);
}

/// Multi-task worse on age by 2.5 years (margin 1.0) after pretraining: "no worse" is contradicted.
#[test]
fn a_clear_loss_contradicts_no_worse() {
    let worse = |m: &str, l: &BTreeMap<String, String>| {
        null(m, l)
            + if m == "age_mae" && l["tasks"] == "gender+age" && l["pretrain"] == "face" {
                2.5
            } else {
                0.0
            }
    };
    let v = verdicts(&worse, 20, 40);
    assert!(
        share(&v, 1, VerdictKind::Contradicted) >= 0.9,
        "{:?}",
        v.iter().map(|x| x[1]).collect::<Vec<_>>()
    );
}

/// `[report] paper_claims = false`: the paper's claims are neither judged nor in
/// the family, so the sweep's own claims are adjusted among themselves only.
#[test]
fn without_the_paper_claims_only_the_sweeps_own_are_judged() {
    let text = format!("{SWEEP}\n[report]\npaper_claims = false\n");
    let sweep = ablate_spec::parse(&text, Path::new("c.toml")).unwrap();
    let mut rng = Rng(5);
    let (studies, trials) = draw(&truth, 6, &mut rng);
    let judge = |settings: ablate_verdict::Settings| {
        ablate_verdict::judge(&ablate_verdict::Input {
            studies: &studies,
            trials: &trials,
            face_stages: vec!["face".into()],
            claims: &sweep.claims,
            settings,
        })
    };
    let with = judge(ablate_verdict::Settings::default());
    let without = judge(ablate_verdict::Settings::from_spec(&sweep.report));
    assert_eq!(with.verdicts.len(), 7);
    assert_eq!(
        with.verdicts.iter().filter(|v| v.builtin).count(),
        4,
        "the paper's four, first"
    );
    assert_eq!(without.verdicts.len(), 3);
    assert!(without.verdicts.iter().all(|v| !v.builtin));
    assert!(
        without.family < with.family,
        "{} vs {}",
        without.family,
        with.family
    );
}
