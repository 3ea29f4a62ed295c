//! What a look adds for pages of any size: the pace of the sweep (mean trial
//! time, trials due, an estimate of the time left), lists capped so one event
//! stays small past 10,000 trials, and which trials changed at which look, so
//! a page asks only for what changed since its last look.

use std::collections::HashMap;

use ablate_protocol::TrialState;
use ablate_results::{Judged, SweepResults, TrialRow};
use ablate_spec::Sweep;
use serde_json::{Value, json};

/// The most entries a status list (running, failed, ...) has on a page.
pub const LIST_CAP: usize = 200;

/// Caps the status's trial lists at `LIST_CAP`, saying how many were left out
/// (`failed_more`, ...).
pub fn cap(v: &mut Value) {
    for key in ["running", "failed", "blocked", "interrupted"] {
        if let Some(list) = v.get_mut(key).and_then(Value::as_array_mut)
            && list.len() > LIST_CAP
        {
            let more = list.len() - LIST_CAP;
            list.truncate(LIST_CAP);
            v[format!("{key}_more")] = json!(more);
        }
    }
}

/// Whether trial `t` is due in the sweep's current round: every pending trial
/// of a fixed sweep; of an adaptive one, those among the seeds its studies run now.
fn due(t: &TrialRow, sweep: &Sweep, judged: Option<&Judged>) -> bool {
    let (Some(seeds), Some(s)) = (&sweep.adaptive, judged.and_then(Judged::sequential)) else {
        return true;
    };
    // The schedule's seeds run from `first` on, `max` of them.
    let Some(rank) =
        (t.seed.checked_sub(seeds.first).map(|r| r as usize)).filter(|r| *r < seeds.max)
    else {
        return true;
    };
    let mut studies = t.studies.iter().filter_map(|m| m.study()).peekable();
    if studies.peek().is_none() {
        // A pretraining trial is due when some study runs its seed.
        return s.study_seeds.values().any(|n| rank < *n);
    }
    studies.any(|st| rank < s.study_seeds.get(st).copied().unwrap_or(seeds.min))
}

/// The pace: mean seconds of a succeeded attempt, trials due and running, and
/// the time left at that pace with as many at once as run now.
pub fn pace(results: &SweepResults, sweep: &Sweep, judged: Option<&Judged>) -> Value {
    let secs: Vec<f64> = (results.trials.iter())
        .filter_map(|t| t.succeeded_attempt().and_then(|a| a.seconds))
        .collect();
    let running = (results.trials.iter())
        .filter(|t| t.state == TrialState::Running)
        .count();
    let waiting = (results.trials.iter())
        .filter(|t| matches!(t.state, TrialState::Pending | TrialState::Interrupted))
        .filter(|t| due(t, sweep, judged))
        .count();
    let mean = (!secs.is_empty()).then(|| secs.iter().sum::<f64>() / secs.len() as f64);
    let left = mean.map(|m| (waiting as f64 + running as f64 * 0.5) * m / running.max(1) as f64);
    json!({
        "mean_trial_seconds": mean,
        "due": waiting,
        "running": running,
        "eta_seconds": if waiting + running == 0 { Some(0.0) } else { left },
    })
}

/// What decides whether a trial's row changed between looks: its state and
/// its metrics' bits.
type RowKey = (TrialState, Vec<(String, u64)>);

fn key(t: &TrialRow) -> RowKey {
    let metrics = (t.metrics.iter())
        .map(|(m, v)| (m.key().to_string(), v.to_bits()))
        .collect();
    (t.state, metrics)
}

/// The look number at which each trial last changed, carried from `before`
/// (the previous look's, with its results) to look `number`.
pub fn changes(
    before: Option<(&HashMap<String, u64>, &SweepResults)>,
    now: &SweepResults,
    number: u64,
) -> HashMap<String, u64> {
    let Some((marks, old)) = before else {
        return (now.trials.iter())
            .map(|t| (t.id.as_str().to_string(), number))
            .collect();
    };
    let was: HashMap<&str, RowKey> = (old.trials.iter())
        .map(|t| (t.id.as_str(), key(t)))
        .collect();
    (now.trials.iter())
        .map(|t| {
            let same = was.get(t.id.as_str()) == Some(&key(t));
            let mark = match marks.get(t.id.as_str()) {
                Some(m) if same => *m,
                _ => number,
            };
            (t.id.as_str().to_string(), mark)
        })
        .collect()
}
