//! Adaptive seeds against a known truth, many draws in-process: the sweep is
//! run round by round as the orchestrator runs it (each round, the trials of
//! the seeds `judge_sequential` asks for), and its verdicts and trial count
//! compared with the fixed sweep at the most seeds.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;

use ablate_verdict::{Input, Schedule, Settings, Trial, VerdictKind, judge_sequential};
use common::{Rng, Truth, draw};

const COUNTS: [usize; 7] = [3, 5, 7, 9, 11, 13, 15];

fn input<'a>(
    studies: &'a [ablate_verdict::Study],
    trials: &'a [Trial],
    settings: &Settings,
) -> Input<'a> {
    Input {
        studies,
        trials,
        face_stages: vec!["face".into()],
        claims: &[],
        settings: settings.clone(),
    }
}

/// One adaptive sweep: its verdicts and how many trials it ran.
fn adaptive(truth: &Truth, settings: &Settings, rng: &mut Rng) -> (Vec<VerdictKind>, usize) {
    let max = *COUNTS.last().unwrap();
    let (studies, mut trials) = draw(truth, max as u64, rng);
    let seeds: Vec<u64> = (0..max as u64).collect();
    let schedule = Schedule {
        seeds: &seeds,
        counts: &COUNTS,
    };
    let mut wanted: BTreeMap<String, usize> = BTreeMap::new();
    loop {
        for t in &mut trials {
            let n = t
                .studies
                .iter()
                .map(|s| wanted.get(s).copied().unwrap_or(COUNTS[0]))
                .max();
            let ran = (t.seed as usize) < n.unwrap_or(0);
            t.finished = ran;
            t.pending = !ran;
        }
        let s = judge_sequential(&input(&studies, &trials, settings), schedule);
        if s.done {
            let ran = trials.iter().filter(|t| t.finished).count();
            return (
                s.judgement.verdicts.iter().map(|v| v.verdict).collect(),
                ran,
            );
        }
        assert_ne!(wanted, s.study_seeds, "a round asked for nothing new");
        wanted = s.study_seeds;
    }
}

/// The same looks, each judged at the full alpha: a claim stops at the first
/// look where it settles.
fn uncorrected(truth: &Truth, settings: &Settings, rng: &mut Rng) -> Vec<VerdictKind> {
    let max = *COUNTS.last().unwrap();
    let (studies, trials) = draw(truth, max as u64, rng);
    let mut out: Vec<Option<VerdictKind>> = Vec::new();
    for &n in &COUNTS {
        let first: Vec<Trial> = trials
            .iter()
            .filter(|t| (t.seed as usize) < n)
            .cloned()
            .collect();
        let j = ablate_verdict::judge(&input(&studies, &first, settings));
        out.resize(j.verdicts.len(), None);
        for (o, v) in out.iter_mut().zip(&j.verdicts) {
            if o.is_none()
                && matches!(
                    v.verdict,
                    VerdictKind::Supported | VerdictKind::Contradicted
                )
            {
                *o = Some(v.verdict);
            }
        }
    }
    out.into_iter()
        .map(|v| v.unwrap_or(VerdictKind::Inconclusive))
        .collect()
}

fn null(metric: &str, _: &BTreeMap<String, String>) -> f64 {
    if metric == "age_mae" { 8.0 } else { 0.8 }
}

/// Under no effect, a "supported" is always wrong, and so is a "contradicted"
/// of the encoding and depth claims (pretraining's and multi-task's are right:
/// shown equivalent).
fn wrong(v: &[VerdictKind]) -> bool {
    v.contains(&VerdictKind::Supported)
        || v[0] == VerdictKind::Contradicted
        || v[1] == VerdictKind::Contradicted
}

#[test]
fn null_sweeps_with_looks_keep_alpha_and_uncorrected_looks_do_not() {
    let settings = Settings::default();
    let draws = 200;
    let (mut rng, mut again) = (Rng(32), Rng(32));
    let mut corrected = 0;
    let mut naive = 0;
    for _ in 0..draws {
        corrected += usize::from(wrong(&adaptive(&null, &settings, &mut rng).0));
        naive += usize::from(wrong(&uncorrected(&null, &settings, &mut again)));
    }
    let (c, n) = (corrected as f64 / draws as f64, naive as f64 / draws as f64);
    eprintln!(
        "null sweeps, looks at {COUNTS:?}: wrong-verdict rate {c:.3} (uncorrected looks: {n:.3})"
    );
    // 200 draws: alpha + 0.05 is over three binomial standard errors above alpha.
    assert!(c <= 0.05 + 0.05, "{c}");
    assert!(n > c, "uncorrected looks {n} against corrected {c}");
}

fn strong(metric: &str, l: &BTreeMap<String, String>) -> f64 {
    common::paper_like(common::Effects {
        ldae: 3.2,
        depth: 2.4,
        face_age: 3.2,
        face_gender: 0.04,
        multi_age: 2.4,
        multi_gender: 0.03,
    })(metric, l)
}

#[test]
fn strong_effects_settle_every_claim_with_a_fraction_of_the_trials() {
    let mut settings = Settings::default();
    settings.smallest_effect.insert("age_mae".into(), 1.6);
    settings
        .smallest_effect
        .insert("gender_accuracy".into(), 0.016);
    let mut rng = Rng(60);
    let (mut settled, mut ran, draws) = ([0usize; 4], 0, 40);
    for _ in 0..draws {
        let (v, n) = adaptive(&strong, &settings, &mut rng);
        for (c, k) in v.iter().enumerate() {
            settled[c] += usize::from(*k == VerdictKind::Supported);
        }
        ran += n;
    }
    let (_, all) = draw(&strong, 15, &mut Rng(0));
    let share = ran as f64 / (draws * all.len()) as f64;
    eprintln!(
        "strong effects: supported {settled:?} of {draws}; trials run {share:.3} of the fixed sweep's"
    );
    assert!(settled.iter().all(|n| *n >= draws * 9 / 10), "{settled:?}");
    assert!(share <= 0.6, "{share}");
}
