//! `ablate-cost`: what a sweep will cost before it runs (`ablate plan
//! --estimate`), per trial, per study and in all: images processed, host
//! memory, disk (caches, checkpoints, resumable states) and compute hours.
//! Unlike plain `plan` it reads the data folders (a scan: file names and
//! labels, no image decoded), or a dataset's declared size where it is not on
//! this machine.
//!
//! Hours and memory come from a throughput whose source each row states: trials
//! of the same shape (network, input size, batch, device, threads) that already
//! ran in the sweep's database (their wall time per processed image, their peak
//! private memory), `--calibrate` (a few training steps of the trial's own
//! network on this machine), or for CUDA trials a GPU model's measured row
//! (`gpu_table`). With none, hours and memory are left open, never guessed.
//!
//! It owns the sizing arithmetic and its text form; it must not know how a
//! sweep is scheduled or how its report is laid out, and it writes nothing.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ablate_spec::{Membership, Sweep, Trial};
use ablate_train::tasks::Heads;
use serde::Serialize;

mod counts;
pub mod gpu_table;
mod render;
mod speed;

pub use gpu_table::{Row, Table};
pub use render::{duration_text, render};
pub use speed::{History, Speed};

#[derive(Debug, thiserror::Error)]
pub enum CostError {
    #[error(
        "data `{name}` is not on this machine, and [data.{name}] expected does not say how many {} it has; add {} to it",
        gaps.join(" or "),
        gaps.iter().map(|g| format!("`{g} = N`")).collect::<Vec<_>>().join(" and ")
    )]
    Undeclared { name: String, gaps: Vec<String> },
    #[error(
        "cannot estimate data `{name}`: it is not on this machine; to estimate before it is, declare its size in [data.{name}]: `expected = {{ images = N }}` (with `identities = K` for a face-recognition set, `classes = C` for a general-purpose one)"
    )]
    NotHere {
        name: String,
        #[source]
        source: ablate_data::DataError,
    },
    #[error(
        "{what}: not a GPU throughput table ({source}); expected a check's gpu-throughput.json ({{\"gpu\", \"measured\", \"rows\": [...]}}) or {{\"tables\": [...]}} of them, as scripts/gpu_check.py writes"
    )]
    NotATable {
        what: String,
        source: serde_json::Error,
    },
    #[error(
        "--gpu-model {name}: {source_name} has no measurements of that GPU (it has {}); measure it with scripts/gpu-check.sh on that GPU (docs/gpu.md) and pass its gpu-throughput.json with --gpu-table, or use --calibrate on that machine",
        if known.is_empty() { "none yet".to_string() } else { known.join(", ") }
    )]
    UnknownGpu {
        name: String,
        source_name: String,
        known: Vec<String>,
    },
    #[error("cannot read {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Data(#[from] ablate_data::DataError),
    #[error(transparent)]
    Store(#[from] ablate_store::StoreError),
    #[error(transparent)]
    Train(#[from] ablate_train::error::TrainError),
    #[error("cannot start the calibration's thread pool: {0}")]
    Pool(#[from] ablate_train::pool::PoolError),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Json(#[from] serde_json::Error),
}

impl CostError {
    /// The error is in what the user gave (the sweep, its data, the flags).
    pub fn is_invalid_input(&self) -> bool {
        match self {
            CostError::Undeclared { .. }
            | CostError::NotATable { .. }
            | CostError::UnknownGpu { .. } => true,
            CostError::NotHere { source, .. } | CostError::Data(source) => {
                source.is_invalid_input()
            }
            CostError::Store(e) => e.is_invalid_input(),
            _ => false,
        }
    }
}

/// What one trial costs.
#[derive(Debug, Clone, Serialize)]
pub struct Cost {
    pub trial: ablate_spec::TrialId,
    pub study: String,
    /// Training, validation and test images.
    pub images: [usize; 3],
    /// Images through the network: every epoch's training and validation, and
    /// the test set once.
    pub processed: u64,
    pub parameters: usize,
    /// Disk of its checkpoints and its resumable state, in bytes.
    pub checkpoint_bytes: u64,
    pub state_bytes: u64,
    pub host_bytes: Option<u64>,
    /// Peak GPU memory, from a GPU table's row.
    pub gpu_bytes: Option<u64>,
    pub hours: Option<f64>,
    /// Where hours and memory come from.
    pub source: String,
}

/// A dataset estimated from `[data.NAME] expected`: its size, and whether its
/// labels include ages (the stand-in spreads them over 0-100).
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Declared {
    #[serde(flatten)]
    pub size: ablate_spec::types::Expected,
    pub ages_assumed: bool,
}

/// A sweep's estimate: every trial's cost, the caches it needs (by "NAME at
/// SIZEpx") and the datasets estimated from their declared size.
#[derive(Debug, Clone)]
pub struct Estimate {
    pub costs: Vec<Cost>,
    pub caches: BTreeMap<String, ablate_data::CacheNeed>,
    pub declared: BTreeMap<String, Declared>,
}

impl Estimate {
    /// The JSON form `plan --estimate --json` prints.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "trials": self.costs,
            "declared": self.declared,
            "caches": self.caches.iter().map(|(k, n)| serde_json::json!({
                "cache": k, "images": n.images, "bytes": n.bytes, "up_to_date": n.reused
            })).collect::<Vec<_>>()
        })
    }
}

/// How hours and memory are found besides the database's history.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sources<'a> {
    /// Time a few training steps of each shape the history lacks.
    pub calibrate: bool,
    /// A GPU model's measurements, for the CUDA trials.
    pub gpu: Option<&'a Table>,
}

/// Prices every trial of `sweep`, given what earlier trials of the same shapes
/// measured (`history`, which calibration adds to).
pub fn estimate(
    sweep: &Sweep,
    sources: Sources<'_>,
    mut history: History,
) -> Result<Estimate, CostError> {
    let base = sweep.file.parent().unwrap_or(Path::new("")).to_path_buf();
    let output = std::path::absolute(&sweep.output)?;
    let mut data = counts::Data::new(sweep, base, output);
    let mut costs = Vec::new();
    for t in &sweep.trials {
        let Some(counted) = data.count(t)? else {
            continue;
        };
        let images = counted.images;
        let parameters = ablate_train::model::parameter_count(
            &t.config.model,
            t.config.train.input_size as usize,
            counted.heads,
        )
        .map_err(ablate_train::error::TrainError::from)?;
        let epochs = u64::from(t.config.train.epochs);
        let processed = epochs * (images[0] + images[1]) as u64 + images[2] as u64;
        let (checkpoint_bytes, state_bytes) = disk(t, parameters);
        let priced = history.price(t, images, counted.heads, sources)?;
        costs.push(Cost {
            trial: t.id.clone(),
            study: first_study(t),
            images,
            processed,
            parameters,
            checkpoint_bytes,
            state_bytes,
            host_bytes: priced.host_bytes,
            gpu_bytes: priced.gpu_bytes,
            hours: priced.hours,
            source: priced.source,
        });
    }
    let (caches, declared) = data.finish();
    Ok(Estimate {
        costs,
        caches,
        declared,
    })
}

/// The study a trial's cost is counted under: its first, or its first
/// pretraining stage.
fn first_study(t: &Trial) -> String {
    t.studies
        .first()
        .cloned()
        .or_else(|| {
            t.stages
                .first()
                .map(|s| Membership::Pretrain(s.clone()).to_string())
        })
        .unwrap_or_default()
}

/// Bytes of a trial's checkpoints (two for a multi-task trial: one per task's
/// best epoch) and of its resumable state (weights and optimiser moments).
fn disk(t: &Trial, parameters: usize) -> (u64, u64) {
    use ablate_spec::types::{Objective, Optimizer};
    let multi = matches!(
        &t.config.objective,
        Objective::Faces {
            gender: Some(_),
            age: Some(_)
        }
    );
    let weights = parameters as u64 * 4;
    let moments = match t.config.train.optimizer {
        Optimizer::Adamw => 2,
        Optimizer::Sgd => u64::from(t.config.train.momentum > 0.0),
    };
    (weights * if multi { 2 } else { 1 }, weights * (1 + moments))
}

/// Whether a sample counts for a trial's tasks (the trainer's own filter).
fn usable(t: &Trial, s: &ablate_data::Sample) -> bool {
    Heads::usable(&t.config.objective, s)
}

#[cfg(test)]
mod tests;
