//! Where a sweep stands (`ablate status`), read from its database read-only
//! (the orchestrator stays its writer): the database's counts completed with
//! the sweep's own trials, its stale results and outdated caches, and notes on
//! where the states come from.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use ablate_protocol::TrialState;
use ablate_spec::Sweep;
use ablate_store::{StatusReport, StudyCounts};

use crate::RunError;

/// A sweep's status.
#[derive(Debug)]
pub struct SweepStatus {
    /// Every trial of the sweep counted, those the database never saw as pending.
    pub report: StatusReport,
    pub stale: Vec<crate::Stale>,
    pub outdated: Vec<PathBuf>,
    pub notes: Vec<String>,
    /// The claims judged on the trials finished so far (as the report judges
    /// them, without its advice); None before any training trial finished.
    pub judgement: Option<ablate_results::Judged>,
    /// The results the claims were judged on (None without a database).
    pub results: Option<ablate_results::SweepResults>,
}

/// The status of `sweep` in the database at `path` (which may not exist yet).
pub async fn status(sweep: &Sweep, path: &Path) -> Result<SweepStatus, RunError> {
    let read = if path.exists() {
        Some(read(sweep, path).await?)
    } else {
        None
    };
    let notes = notes(sweep, path, read.as_ref().map(|r| r.sweeps.as_slice()));
    Ok(match read {
        Some(r) => SweepStatus {
            report: complete(r.report, sweep, &r.known),
            stale: r.stale,
            outdated: r.outdated,
            notes,
            judgement: r.judgement,
            results: Some(r.results),
        },
        None => SweepStatus {
            report: complete(None, sweep, &HashMap::new()),
            stale: Vec::new(),
            outdated: Vec::new(),
            notes,
            judgement: None,
            results: None,
        },
    })
}

/// What the database says of a sweep, and what it does not hold.
struct Read {
    report: Option<StatusReport>,
    known: HashMap<String, TrialState>,
    stale: Vec<crate::Stale>,
    outdated: Vec<PathBuf>,
    /// The sweeps the database holds (name, text its last run used).
    sweeps: Vec<(String, String)>,
    judgement: Option<ablate_results::Judged>,
    results: ablate_results::SweepResults,
}

async fn read(sweep: &Sweep, path: &Path) -> Result<Read, RunError> {
    let store = ablate_store::Store::open_read_only(path).await?;
    let report = store.status(&sweep.name).await;
    let known = store.states(&sweep.name).await;
    let sweeps = store.sweeps().await;
    let stale = crate::stale_results(&store, sweep).await;
    let results = ablate_results::load(&store, sweep).await;
    store.close().await;
    let (stale, outdated) = stale?;
    let results = results?;
    let judgement = judge(sweep, &results);
    let sweeps = sweeps?;
    let held = sweeps.iter().any(|s| s.name == sweep.name);
    Ok(Read {
        report: held.then_some(report?),
        known: known?.into_iter().collect(),
        stale,
        outdated,
        sweeps: sweeps.into_iter().map(|s| (s.name, s.spec_text)).collect(),
        judgement,
        results,
    })
}

/// The sweep's claims judged on its finished trials, if any training trial finished.
fn judge(sweep: &Sweep, results: &ablate_results::SweepResults) -> Option<ablate_results::Judged> {
    let finished =
        (results.trials.iter()).any(|t| t.kind == ablate_spec::TrialKind::Train && t.succeeded());
    finished.then(|| results.judge_sweep(sweep, false))
}

/// The database's report completed with the sweep's own trials: one the
/// database has not seen (a sweep never run, another sweep's database, trials
/// an edit or an override added) is pending.
fn complete(
    report: Option<StatusReport>,
    sweep: &Sweep,
    known: &HashMap<String, TrialState>,
) -> StatusReport {
    let state = |id: &str| {
        known
            .get(id)
            .copied()
            .unwrap_or(TrialState::Pending)
            .to_string()
    };
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for t in &sweep.trials {
        *counts.entry(state(t.id.as_str())).or_insert(0) += 1;
    }
    let studies = sweep
        .memberships()
        .into_iter()
        .map(|g| {
            let mut c = StudyCounts {
                study: g.to_string(),
                total: 0,
                counts: BTreeMap::new(),
            };
            let members = sweep
                .trials
                .iter()
                .filter(|t| t.memberships().any(|m| m == g));
            for t in members {
                c.total += 1;
                *c.counts.entry(state(t.id.as_str())).or_insert(0) += 1;
            }
            c
        })
        .collect();
    let base = report.unwrap_or_else(|| StatusReport::empty(&sweep.name, &sweep.spec_hash));
    StatusReport {
        total: sweep.trials.len(),
        counts,
        studies,
        ..base
    }
}

/// What the user should know about where the states come from.
fn notes(sweep: &Sweep, path: &Path, sweeps: Option<&[(String, String)]>) -> Vec<String> {
    let Some(sweeps) = sweeps else {
        return vec![format!(
            "no database at {} yet: nothing of this sweep has run, every trial is pending",
            path.display()
        )];
    };
    let Some((_, text)) = sweeps.iter().find(|(n, _)| *n == sweep.name) else {
        let names: Vec<&str> = sweeps.iter().map(|(n, _)| n.as_str()).collect();
        return vec![format!(
            "{} holds no run of sweep {} (it holds: {}): every trial is pending",
            path.display(),
            sweep.name,
            if names.is_empty() {
                "none".into()
            } else {
                names.join(", ")
            }
        )];
    };
    let now = sweep.overrides.join(" ");
    match ablate_spec::overrides_in(text) {
        Some(then) if then != now => vec![format!(
            "its last run used the overrides `{then}`: pass them again to see that run's trials"
        )],
        None if !now.is_empty() => vec![format!(
            "its last run used no overrides; with `{now}` these are other trials"
        )],
        _ => Vec::new(),
    }
}
