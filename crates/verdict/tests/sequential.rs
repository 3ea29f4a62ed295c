//! Adaptive seeds against a known truth, many draws in-process: the sweep is
//! run round by round as the orchestrator runs it (each round, the trials of
//! the seeds `judge_sequential` asks for), and its verdicts and trial count
//! compared with the fixed sweep at the most seeds.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use ablate_spec::claims::ClaimSpec;

use ablate_verdict::{
    Input, Schedule, Settings, Stop, StopReason, Trial, VerdictKind, judge_sequential,
};
use common::{Rng, Truth, draw};

const COUNTS: [usize; 7] = [3, 5, 7, 9, 11, 13, 15];

fn input<'a>(
    studies: &'a [ablate_verdict::Study],
    trials: &'a [Trial],
    settings: &Settings,
    claims: &'a [ClaimSpec],
) -> Input<'a> {
    Input {
        studies,
        trials,
        face_stages: vec!["face".into()],
        claims,
        settings: settings.clone(),
    }
}

/// One adaptive sweep: its verdicts and how many trials it ran.
fn adaptive(truth: &Truth, settings: &Settings, rng: &mut Rng) -> (Vec<VerdictKind>, usize) {
    let (v, ran, _) = adaptive_stops(truth, settings, &[], rng);
    (v, ran)
}

/// One adaptive sweep: its verdicts, how many trials it ran, and where each
/// claim stopped.
fn adaptive_stops(
    truth: &Truth,
    settings: &Settings,
    claims: &[ClaimSpec],
    rng: &mut Rng,
) -> (Vec<VerdictKind>, usize, Vec<Option<Stop>>) {
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
        let s = judge_sequential(&input(&studies, &trials, settings, claims), schedule);
        if s.done {
            let ran = trials.iter().filter(|t| t.finished).count();
            return (
                s.judgement.verdicts.iter().map(|v| v.verdict).collect(),
                ran,
                s.stops,
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
        let j = ablate_verdict::judge(&input(&studies, &first, settings, &[]));
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

/// Strong effects on every factor, age gaining `depth` per depth step.
fn strong_with(depth: f64) -> impl Fn(&str, &BTreeMap<String, String>) -> f64 {
    common::paper_like(common::Effects {
        ldae: 3.2,
        depth,
        face_age: 3.2,
        face_gender: 0.04,
        multi_age: 2.4,
        multi_gender: 0.03,
    })
}

fn strong(metric: &str, l: &BTreeMap<String, String>) -> f64 {
    strong_with(2.4)(metric, l)
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

/// The strong truth with age flat across depth: no count of seeds settles the
/// depth claim (age does not gain, gender does not gain either).
fn flat_depth(metric: &str, l: &BTreeMap<String, String>) -> f64 {
    strong_with(0.0)(metric, l)
}

/// Futility stops the claim no seeds would settle, early and in most draws,
/// saving its trials; the other claims settle as often as without it, and
/// never with a verdict the sweep without futility did not reach.
#[test]
fn futility_stops_a_claim_no_seeds_would_settle_and_adds_no_verdict() {
    let mut off = Settings {
        futility: 0.0,
        ..Settings::default()
    };
    off.smallest_effect.insert("age_mae".into(), 1.6);
    off.smallest_effect.insert("gender_accuracy".into(), 0.016);
    let on = Settings {
        futility: 0.1,
        ..off.clone()
    };
    let draws = 40;
    let (mut futile, mut settled_on, mut settled_off, mut ran_on, mut ran_off) =
        ([0usize; 7], [0usize; 4], [0usize; 4], 0, 0);
    for d in 0..draws {
        let (v_on, n_on, stops) = adaptive_stops(&flat_depth, &on, &[], &mut Rng(90 + d));
        let (v_off, n_off, _) = adaptive_stops(&flat_depth, &off, &[], &mut Rng(90 + d));
        if let Some(Stop {
            reason: StopReason::Futile,
            look,
            ..
        }) = stops[1]
        {
            futile[look] += 1;
        }
        for c in 0..4 {
            let settles = |v: VerdictKind| v != VerdictKind::Inconclusive;
            settled_on[c] += usize::from(settles(v_on[c]));
            settled_off[c] += usize::from(settles(v_off[c]));
            assert!(
                !settles(v_on[c]) || v_on[c] == v_off[c],
                "draw {d}, claim {c}: {:?} with futility, {:?} without",
                v_on[c],
                v_off[c]
            );
        }
        (ran_on, ran_off) = (ran_on + n_on, ran_off + n_off);
    }
    eprintln!(
        "flat depth, {draws} draws: depth futile at looks 1..7 {futile:?}; settled {settled_on:?} with futility, {settled_off:?} without; trials {ran_on} against {ran_off}"
    );
    let by_look3: usize = futile[..3].iter().sum();
    assert!(by_look3 >= draws as usize * 6 / 10, "{futile:?}");
    for c in [0, 2, 3] {
        assert!(
            settled_on[c] >= settled_off[c] * 9 / 10,
            "{settled_on:?} {settled_off:?}"
        );
    }
    assert!(ran_on * 10 < ran_off * 9, "{ran_on} against {ran_off}");
}

/// A claim of the sweep's own on the depth study, true but needing many
/// seeds: deeper costs no gender accuracy (margin one seed standard deviation).
const DEPTH_CLAIM: &str = r#"
[sweep]
name = "c"
[data.faces]
kind = "synthetic-faces"
[defaults]
encoding = "ldae"
[[study]]
name = "depth"
grid.depth = ["vgg7", "vgg9", "vgg11"]
grid.tasks = [["gender"], ["age"]]
[[claim]]
name = "deeper costs no gender accuracy"
study = "depth"
metric = "gender_accuracy"
no_worse = { depth = "vgg11" }
than = { depth = "vgg7" }
where = { tasks = "gender" }
margin = 0.004
"#;

/// A futile claim whose study runs on for another open claim is not stopped:
/// its seeds cost nothing, so it is judged on them too. The paper's depth
/// claim (hopeless here) stops only at or after the look where the sweep's
/// own claim on the same study stops.
#[test]
fn a_futile_claim_runs_on_while_its_study_does() {
    let sweep = ablate_spec::parse(DEPTH_CLAIM, Path::new("c.toml")).unwrap();
    let settings = Settings {
        futility: 0.1,
        ..Settings::default()
    };
    let (mut futile, mut held) = (0, 0);
    for d in 0..20 {
        let (_, _, stops) =
            adaptive_stops(&flat_depth, &settings, &sweep.claims, &mut Rng(300 + d));
        // The paper's claims first (depth is the second), then the sweep's own.
        let (depth, own) = (stops[1].unwrap(), stops[4].unwrap());
        if depth.reason == StopReason::Futile {
            futile += 1;
            assert!(
                own.look <= depth.look,
                "draw {d}: depth {depth:?}, own {own:?}"
            );
        }
        held += usize::from(own.look > 0 && depth.look >= own.look);
    }
    eprintln!("depth claim futile in {futile} of 20 draws; held while the own claim ran in {held}");
    assert!(held >= 10, "{held}");
}
