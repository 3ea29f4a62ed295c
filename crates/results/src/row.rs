//! A trial of the sweep file joined with its stored result and attempts.

use std::collections::HashMap;

use ablate_protocol::{Metric, Reported, TrialState};
use ablate_spec::{Sweep, Trial, TrialId};
use ablate_store::{AttemptProvenance, ResultRow};
use serde_json::Value;

use crate::TrialRow;

/// Every trial of `sweep`, in its order, with what the store holds of it.
pub(crate) fn rows(
    sweep: &Sweep,
    rows: Vec<ResultRow>,
    attempts: Vec<AttemptProvenance>,
) -> Vec<TrialRow> {
    let mut stored: HashMap<TrialId, ResultRow> =
        rows.into_iter().map(|r| (r.id.clone(), r)).collect();
    let mut tried: HashMap<TrialId, Vec<AttemptProvenance>> = HashMap::new();
    for a in attempts {
        tried.entry(a.trial_id.clone()).or_default().push(a);
    }
    let trials = (sweep.trials.iter())
        .map(|t| {
            let attempts = tried.remove(t.id.as_str()).unwrap_or_default();
            row(t, stored.remove(t.id.as_str()), attempts)
        })
        .collect();
    inherit_degenerate(sweep, trials)
}

fn row(t: &Trial, stored: Option<ResultRow>, attempts: Vec<AttemptProvenance>) -> TrialRow {
    let state = stored.as_ref().map_or(TrialState::Pending, |r| r.state);
    let curve = (stored.iter().flat_map(|r| &r.epochs))
        .filter_map(|e| e.get("val_score").and_then(Value::as_f64))
        .collect();
    let result = stored.and_then(|r| r.result).map(Reported::from);
    let value = result.as_ref().map_or(&Value::Null, Reported::value);
    let metrics = (Metric::ALL.iter())
        .filter_map(|m| {
            (value.pointer(ablate_protocol::pointer(*m)))
                .and_then(Value::as_f64)
                .map(|v| (*m, v))
        })
        .collect();
    let images = ["train", "val", "test"]
        .map(|p| (value.pointer(&format!("/images/{p}"))).and_then(Value::as_u64));
    TrialRow {
        id: t.id.clone(),
        kind: t.kind,
        state,
        studies: t.memberships().collect(),
        labels: t.labels.clone(),
        seed: t.config.seed,
        fold: t.config.fold,
        metrics,
        degenerate: read(value, "/degenerate/evidence"),
        curve,
        cs: read(value, "/test/age/expected/cs"),
        images: match images {
            [Some(a), Some(b), Some(c)] => Some([a, b, c]),
            _ => None,
        },
        result,
        attempts,
    }
}

/// The value at `pointer`, where it has type `T`.
fn read<T: serde::de::DeserializeOwned>(value: &Value, pointer: &str) -> Option<T> {
    (value.pointer(pointer)).and_then(|v| serde_json::from_value(v.clone()).ok())
}

/// A trial that starts from a degenerate pretraining trial carries the flag, with
/// the reason: its trunk came from a run that learned nothing. Trials are in run
/// order (a pretraining trial before its dependants), so chains carry through.
fn inherit_degenerate(sweep: &Sweep, mut rows: Vec<TrialRow>) -> Vec<TrialRow> {
    let at: HashMap<&str, usize> = (sweep.trials.iter().enumerate())
        .map(|(i, t)| (t.id.as_str(), i))
        .collect();
    for (i, t) in sweep.trials.iter().enumerate() {
        let Some(&from) = t.config.init.as_deref().and_then(|d| at.get(d)) else {
            continue;
        };
        if !rows[i].succeeded() {
            continue;
        }
        let Some(first) = (rows[from].degenerate.as_ref()).and_then(|e| e.first().cloned()) else {
            continue;
        };
        let why = format!(
            "starts from pretraining trial {}, itself flagged degenerate ({first})",
            rows[from].id.short()
        );
        rows[i].degenerate.get_or_insert_with(Vec::new).push(why);
    }
    rows
}
