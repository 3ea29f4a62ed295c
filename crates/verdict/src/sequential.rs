//! Judging a sweep with adaptive seeds: its claims are judged at each look
//! (after `counts[k]` seeds per arm), each look at the levels `Looks` gives it,
//! and a claim settled at a look keeps that verdict. Judging is a pure function
//! of the results: the looks are recomputed from the trials of the first
//! `counts[k]` seeds every time, so an orchestrator killed between rounds
//! resumes where it was, and the report and status judge exactly as it did.

use std::collections::{BTreeMap, BTreeSet};

use crate::futility;
use crate::judge::{Frozen, judge_look};
use crate::looks::Looks;
use crate::model::{Judgement, VerdictKind};
use crate::{Input, Trial};

/// A sweep's adaptive seeds: the seed list in order, and the counts at which
/// claims are judged (ascending; the last is the most the sweep may run).
#[derive(Debug, Clone, Copy)]
pub struct Schedule<'a> {
    pub seeds: &'a [u64],
    pub counts: &'a [usize],
}

/// Why a claim stopped receiving seeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// Supported or contradicted at that look.
    Settled,
    /// Still open at the most seeds the sweep allows.
    Max,
    /// Not judged: more seeds would not change what it lacks.
    NotJudged,
    /// Open, and few continuations of the sweep to its most seeds settle it
    /// (`[report] futility`, `futility.rs`).
    Futile,
}

/// Where a claim stopped: the look (0-based), its seeds per arm, and why.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Stop {
    pub look: usize,
    pub seeds: usize,
    pub reason: StopReason,
    /// For a futile stop: the share of simulated continuations that settled it.
    pub chance: Option<f64>,
}

/// The sweep judged look by look.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Sequential {
    /// The verdicts as of the last look judged (each settled claim as it
    /// settled); before the first look, the first round's results so far.
    pub judgement: Judgement,
    /// Per verdict: where it stopped; None while it is still open.
    pub stops: Vec<Option<Stop>>,
    /// How many looks have been judged (their rounds all finished).
    pub looks_judged: usize,
    /// How many looks the sweep may take.
    pub looks: usize,
    /// Every claim has stopped: nothing more to run.
    pub done: bool,
    /// Seeds per arm each study needs run now: the first `n` seeds of the
    /// schedule. A study no judged claim reads gets the first round's count.
    pub study_seeds: BTreeMap<String, usize>,
}

/// Judges `input` look by look over `schedule`.
pub fn judge_sequential(input: &Input<'_>, schedule: Schedule<'_>) -> Sequential {
    let counts = schedule.counts;
    let looks = Looks::new(counts);
    let last = counts.len().saturating_sub(1);
    let mut frozen: Vec<Frozen> = Vec::new();
    let mut stops: Vec<Option<Stop>> = Vec::new();
    let mut judged: Option<Judgement> = None;
    let mut looks_judged = 0;
    for (k, &n) in counts.iter().enumerate() {
        let trials = first_seeds(input.trials, &schedule.seeds[..n.min(schedule.seeds.len())]);
        // The first round waits for every trial; later ones for open claims'.
        let running = match &judged {
            Some(j) => round_running(&trials, &open_studies(j, &stops)),
            None => trials.iter().any(|t| t.pending),
        };
        if running {
            break;
        }
        let at = Input {
            trials: &trials,
            ..input.clone()
        };
        let j = judge_look(&at, &looks, k, &frozen);
        frozen.resize(j.verdicts.len(), None);
        stops.resize(j.verdicts.len(), None);
        for (i, v) in j.verdicts.iter().enumerate() {
            if stops[i].is_some() {
                continue;
            }
            let reason = match v.verdict {
                VerdictKind::Supported | VerdictKind::Contradicted => StopReason::Settled,
                VerdictKind::NotJudged => StopReason::NotJudged,
                VerdictKind::Inconclusive if k == last => StopReason::Max,
                VerdictKind::Inconclusive => continue,
            };
            stops[i] = Some(Stop {
                look: k,
                seeds: n,
                reason,
                chance: None,
            });
            frozen[i] = freeze(&j, i);
        }
        if k < last {
            stop_futile(&at, &looks, (k, last), counts, &j, &mut stops, &mut frozen);
        }
        judged = Some(j);
        looks_judged = k + 1;
        if stops.iter().all(Option::is_some) {
            break;
        }
    }
    let judgement = judged.unwrap_or_else(|| {
        let first = counts.first().copied().unwrap_or(schedule.seeds.len());
        let trials = first_seeds(
            input.trials,
            &schedule.seeds[..first.min(schedule.seeds.len())],
        );
        crate::judge(&Input {
            trials: &trials,
            ..input.clone()
        })
    });
    stops.resize(judgement.verdicts.len(), None);
    let study_seeds = study_seeds(input, &judgement, &stops, counts, looks_judged);
    Sequential {
        done: looks_judged > 0 && stops.iter().all(Option::is_some),
        judgement,
        stops,
        looks_judged,
        looks: counts.len(),
        study_seeds,
    }
}

/// Stops the open claims that few continuations from look `k` settle by the
/// last look (`futility.rs`) and whose study no other open claim keeps
/// running, freezing them as they are.
fn stop_futile(
    at: &Input<'_>,
    looks: &Looks,
    (k, last): (usize, usize),
    counts: &[usize],
    j: &Judgement,
    stops: &mut [Option<Stop>],
    frozen: &mut [Frozen],
) {
    let threshold = at.settings.futility;
    let open: Vec<usize> = (0..stops.len()).filter(|i| stops[*i].is_none()).collect();
    if threshold <= 0.0 || open.is_empty() {
        return;
    }
    let more = counts[last] - counts[k];
    let Some(chances) = futility::chances(at, looks, (k, last), more, frozen, &open) else {
        return;
    };
    // A claim whose study runs on for another open claim costs nothing more:
    // it is judged on those seeds too, and stops only with them.
    let futile: Vec<(usize, f64)> = (open.iter().copied().zip(chances))
        .filter(|(_, chance)| *chance < threshold)
        .collect();
    let running: BTreeSet<&String> = (open.iter())
        .filter(|i| futile.iter().all(|(f, _)| f != *i))
        .filter_map(|i| j.verdicts[*i].study.as_ref())
        .collect();
    for (i, chance) in futile {
        if (j.verdicts[i].study.as_ref()).is_some_and(|s| running.contains(s)) {
            continue;
        }
        stops[i] = Some(Stop {
            look: k,
            seeds: counts[k],
            reason: StopReason::Futile,
            chance: Some(chance),
        });
        frozen[i] = freeze(j, i);
    }
}

/// Verdict `i` of `j` as it stands, with its tests, kept for later looks.
fn freeze(j: &Judgement, i: usize) -> Frozen {
    let v = &j.verdicts[i];
    let tests = v.tests.iter().map(|t| j.tests[*t].clone()).collect();
    Some((v.clone(), tests))
}

/// The trials of the given seeds.
fn first_seeds(trials: &[Trial], seeds: &[u64]) -> Vec<Trial> {
    let keep: BTreeSet<u64> = seeds.iter().copied().collect();
    (trials.iter())
        .filter(|t| keep.contains(&t.seed))
        .cloned()
        .collect()
}

/// The studies of claims not yet stopped.
fn open_studies(j: &Judgement, stops: &[Option<Stop>]) -> BTreeSet<String> {
    (j.verdicts.iter().zip(stops))
        .filter(|(_, s)| s.is_none())
        .filter_map(|(v, _)| v.study.clone())
        .collect()
}

/// Whether a trial an open claim reads has not finished yet.
fn round_running(trials: &[Trial], open: &BTreeSet<String>) -> bool {
    (trials.iter()).any(|t| t.pending && t.studies.iter().any(|s| open.contains(s)))
}

/// Seeds per arm each study needs now: the most any of its claims needs (the
/// count it stopped at, or the next look's while open).
fn study_seeds(
    input: &Input<'_>,
    j: &Judgement,
    stops: &[Option<Stop>],
    counts: &[usize],
    looks_judged: usize,
) -> BTreeMap<String, usize> {
    let first = counts.first().copied().unwrap_or(0);
    let next = counts
        .get(looks_judged)
        .or(counts.last())
        .copied()
        .unwrap_or(0);
    let mut out: BTreeMap<String, usize> = (input.studies.iter())
        .map(|s| (s.name.clone(), first))
        .collect();
    for (v, stop) in j.verdicts.iter().zip(stops) {
        let Some(study) = &v.study else { continue };
        let n = match stop {
            Some(s) => s.seeds,
            None => next,
        };
        let e = out.entry(study.clone()).or_insert(first);
        *e = (*e).max(n);
    }
    out
}
