//! The advice on open claims, checked against the truth it estimates: sweeps
//! drawn at a few seeds from a known truth are judged with advice, and fresh
//! sweeps drawn from the same truth at the advised count settle the claim at
//! least half the time. An equivalence whose observed difference lies beyond
//! its margin asks for no seeds: more cannot show it.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;

use ablate_verdict::{Kind, Settings, VerdictKind};
use common::{Rng, draw, judge_draw};

/// The paper's directions at a third of their strength: open at 3 seeds.
fn moderate(metric: &str, l: &BTreeMap<String, String>) -> f64 {
    common::paper_like(common::Effects {
        ldae: 0.6,
        depth: 0.4,
        face_age: 0.6,
        face_gender: 0.012,
        multi_age: 0.3,
        multi_gender: 0.006,
    })(metric, l)
}

fn advised(
    studies: &[ablate_verdict::Study],
    trials: &[ablate_verdict::Trial],
) -> ablate_verdict::Judgement {
    ablate_verdict::judge_advised(&ablate_verdict::Input {
        studies,
        trials,
        face_stages: vec!["face".into()],
        claims: &[],
        settings: Settings::default(),
    })
}

#[test]
fn fresh_sweeps_at_the_advised_count_settle_the_claim_at_least_half_the_time() {
    let mut rng = Rng(7);
    let (mut settled, mut tried, mut advised_claims) = (0, 0, 0);
    for _ in 0..6 {
        let (studies, trials) = draw(&moderate, 3, &mut rng);
        let j = advised(&studies, &trials);
        for (i, v) in j.verdicts.iter().enumerate() {
            let Some(n) = v.advice.as_ref().and_then(|a| a.seeds) else {
                continue;
            };
            advised_claims += 1;
            for _ in 0..30 {
                let (studies, trials) = draw(&moderate, n as u64, &mut rng);
                let fresh = judge_draw(&studies, &trials, &[]).verdicts[i].verdict;
                tried += 1;
                if matches!(fresh, VerdictKind::Supported | VerdictKind::Contradicted) {
                    settled += 1;
                }
            }
        }
    }
    assert!(advised_claims >= 6, "only {advised_claims} claims advised");
    let share = settled as f64 / tried as f64;
    eprintln!(
        "{advised_claims} claims advised; {settled} of {tried} fresh sweeps at the advised counts settled them"
    );
    assert!(share >= 0.5, "{settled} of {tried} fresh sweeps settled");
}

#[test]
fn advice_is_given_for_open_claims_only_and_is_the_same_every_time() {
    let (studies, trials) = draw(&moderate, 3, &mut Rng(11));
    let j = advised(&studies, &trials);
    for v in &j.verdicts {
        assert_eq!(
            v.advice.is_some(),
            v.verdict == VerdictKind::Inconclusive,
            "{}: {:?}",
            v.claim,
            v.verdict
        );
        if let Some(a) = &v.advice {
            assert_eq!(a.draws, ablate_verdict::DRAWS);
            assert!((0.0..=1.0).contains(&a.chance));
            if let Some(n) = a.seeds {
                assert!(n > 3 && a.chance >= Settings::default().power);
                assert!(a.route.is_some());
                // Half the simulated sweeps settle it no later than most do.
                assert!(a.half.is_some_and(|h| h <= n), "{a:?}");
            }
        }
    }
    assert_eq!(advised(&studies, &trials), j, "deterministic");
}

#[test]
fn an_equivalence_whose_difference_lies_beyond_its_margin_asks_no_seeds() {
    // Face pretraining lifts gender accuracy by 0.012, beyond the 0.01 margin
    // of "no difference": at 2 seeds its equivalence test stays open, and more
    // seeds would not show equivalence.
    let (mut beyond, mut within) = (0, 0);
    let mut rng = Rng(3);
    for _ in 0..20 {
        let (studies, trials) = draw(&moderate, 2, &mut rng);
        let j = judge_draw(&studies, &trials, &[]);
        for t in j.tests.iter().filter(|t| t.adjusted_p.is_some()) {
            let (Kind::Equivalence { margin }, Ok(stat)) = (t.kind, &t.stat) else {
                continue;
            };
            let diff = stat.welch().diff.abs();
            if diff >= margin {
                beyond += 1;
                assert_eq!(t.seeds_needed, None, "{}: diff {diff}", t.what);
            } else if diff < margin / 2.0 && t.decision == ablate_verdict::Decision::Open {
                within += 1;
                assert!(t.seeds_needed.is_some(), "{}: diff {diff}", t.what);
            }
        }
    }
    assert!(beyond > 0 && within > 0, "beyond {beyond}, within {within}");
}
