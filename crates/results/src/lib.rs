//! `ablate-results` owns a sweep's results as typed data: every trial of the
//! sweep file with what the store holds of it (state, kind, membership, factor
//! labels, metrics, the result as reported, its attempts) and where the work ran
//! (versions, devices, hours, memory peaks). The report renders it, the cost
//! model prices from it, and a judge between rounds or a server can read it
//! without either.
//!
//! It reads the store and never writes it; it knows nothing of rendering,
//! scheduling or training, and of judging only the judge's input
//! (`judging.rs`), so every reader judges the same results alike. Trials come from the sweep file, so one that
//! never ran is here as `pending` and a partial sweep gives partial results.

mod judging;
mod provenance;
mod row;

use std::collections::BTreeMap;

use ablate_protocol::{Metric, Reported, TrialState};
use ablate_spec::{Membership, Sweep, TrialId, TrialKind};
use ablate_store::{AttemptProvenance, Store, StoreError};
use serde::Serialize;

pub use judging::{Judge, Judged};
pub use provenance::Provenance;

/// A study of the sweep, as results are grouped by.
#[derive(Debug, Clone, Serialize)]
pub struct StudyInfo {
    pub name: String,
    pub description: Option<String>,
    /// Axes the study varies, in order, with their values.
    pub axes: Vec<(String, Vec<String>)>,
}

/// One trial of the sweep file and what the store holds of it.
#[derive(Debug, Clone, Serialize)]
pub struct TrialRow {
    pub id: TrialId,
    pub kind: TrialKind,
    pub state: TrialState,
    /// The studies it belongs to, or the pretraining stage it trains.
    pub studies: Vec<Membership>,
    pub labels: BTreeMap<String, String>,
    pub seed: u64,
    pub fold: Option<u32>,
    /// The metrics its result has (test split).
    pub metrics: BTreeMap<Metric, f64>,
    /// Why it counts as degenerate: its own evidence, then a pretraining trial's
    /// it started from.
    pub degenerate: Option<Vec<String>>,
    /// Validation score per epoch.
    pub curve: Vec<f64>,
    /// CS(θ), θ = 0..=10 (age models).
    pub cs: Option<Vec<f64>>,
    /// Training, validation and test images (finished trials).
    pub images: Option<[u64; 3]>,
    /// The result as its worker reported it (a user's worker may leave out fields
    /// or add its own); `typed()` reads it in ablate's own form.
    #[serde(skip)]
    pub result: Option<Reported>,
    /// Its attempts, oldest first.
    #[serde(skip)]
    pub attempts: Vec<AttemptProvenance>,
}

impl TrialRow {
    pub fn succeeded(&self) -> bool {
        self.state == TrialState::Succeeded
    }

    /// Whether it belongs to study `name`.
    pub fn in_study(&self, name: &str) -> bool {
        self.studies.iter().any(|m| m.study() == Some(name))
    }

    /// Its last succeeded attempt: the one its result came from.
    pub fn succeeded_attempt(&self) -> Option<&AttemptProvenance> {
        (self.attempts.iter().rev()).find(|a| a.state == ablate_protocol::AttemptState::Succeeded)
    }
}

/// A sweep's results: its studies and stages, every trial in run order (a
/// pretraining trial before its dependants) and where the work ran.
#[derive(Debug, Clone, Serialize)]
pub struct SweepResults {
    pub sweep: String,
    pub description: Option<String>,
    pub studies: Vec<StudyInfo>,
    /// Pretraining stage -> its task (`identity`, `general`).
    pub stages: BTreeMap<String, String>,
    pub trials: Vec<TrialRow>,
    pub provenance: Provenance,
}

impl SweepResults {
    /// The trial with id `id`.
    pub fn trial(&self, id: &str) -> Option<&TrialRow> {
        self.trials.iter().find(|t| t.id == id)
    }
}

/// Reads the results of `sweep` from `store`.
pub async fn load(store: &Store, sweep: &Sweep) -> Result<SweepResults, StoreError> {
    let rows = store.results(&sweep.name).await?;
    let attempts = store.provenance(&sweep.name).await?;
    Ok(from_rows(sweep, rows, attempts))
}

/// The results of `sweep` from the store's rows (what [`load`] reads).
pub fn from_rows(
    sweep: &Sweep,
    rows: Vec<ablate_store::ResultRow>,
    attempts: Vec<AttemptProvenance>,
) -> SweepResults {
    let provenance = provenance::collect(sweep, &attempts);
    let trials = row::rows(sweep, rows, attempts);
    let studies = (sweep.studies.iter())
        .map(|s| StudyInfo {
            name: s.name.clone(),
            description: s.description.clone(),
            axes: s.axes.clone(),
        })
        .collect();
    let stages = (sweep.stages.iter())
        .map(|s| (s.name.clone(), s.task.clone()))
        .collect();
    SweepResults {
        sweep: sweep.name.clone(),
        description: sweep.description.clone(),
        studies,
        stages,
        trials,
        provenance,
    }
}
