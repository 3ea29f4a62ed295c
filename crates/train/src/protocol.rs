//! The worker protocol: what a trial is given (JSON file), what it prints (JSON
//! lines on stdout), what it leaves in its run directory, and its exit codes.
//! Documented for users who plug in their own worker in docs/worker-protocol.md.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use ablate_spec::types::{ExecSpec, TrialConfig};

use crate::metrics::{AgeMetrics, ClassMetrics};

/// `ablate worker TRIAL.json` reads this.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrialInput {
    pub id: String,
    pub config: TrialConfig,
    pub exec: ExecSpec,
    /// The pixel cache of `config.data` at `config.train.input_size`.
    pub cache: PathBuf,
    /// Where checkpoint.safetensors, result.json and metrics.jsonl go.
    pub run_dir: PathBuf,
    /// Checkpoint of the pretraining trial whose trunk initialises this one.
    #[serde(default)]
    pub init_checkpoint: Option<PathBuf>,
    /// Seconds between heartbeats within an epoch.
    #[serde(default = "default_heartbeat")]
    pub heartbeat_s: f64,
    /// The trial's factor values (axis -> label), for workers and logs; not used to train.
    #[serde(default)]
    pub labels: std::collections::BTreeMap<String, String>,
}

fn default_heartbeat() -> f64 {
    10.0
}

/// Why a trial failed; decides whether a scheduler retries it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FailureClass {
    /// The trial cannot run as configured (mismatched checkpoint, no CUDA, missing labels).
    BadConfig,
    /// The loss became NaN or infinite.
    NanLoss,
    OutOfMemory,
    /// Reading or writing files failed.
    Io,
    Internal,
}

impl FailureClass {
    /// The worker's exit code for this failure.
    pub fn exit_code(self) -> u8 {
        match self {
            FailureClass::BadConfig => 3,
            FailureClass::NanLoss => 4,
            FailureClass::OutOfMemory => 5,
            FailureClass::Io => 6,
            FailureClass::Internal => 7,
        }
    }

    /// Worth running again (a transient condition), as opposed to deterministic failures.
    pub fn retryable(self) -> bool {
        matches!(self, FailureClass::OutOfMemory | FailureClass::Io)
    }
}

/// Validation (or test) metrics of one evaluation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Evaluation {
    pub gender: Option<ClassMetrics>,
    pub age: Option<AgeEvaluation>,
    pub identity: Option<ClassMetrics>,
    pub general: Option<ClassMetrics>,
    /// Mean loss over the evaluated images.
    pub loss: f64,
}

/// Age read out both ways where the model is a classifier: one training, two results.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgeEvaluation {
    /// Expected value (sum of p_i * age_i) for classifiers; the output for regression.
    pub expected: AgeMetrics,
    /// ArgMax read-out (classifiers only).
    pub argmax: Option<AgeMetrics>,
    /// MAE of always predicting the training mean: the bar a real model clears.
    pub baseline_mae: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochReport {
    pub epoch: u32,
    pub train_loss: f64,
    pub lr: f64,
    pub val: Evaluation,
    /// The selection metric on validation (see `TrialResult::selection`).
    pub val_score: f64,
    pub images_per_s: f64,
    pub elapsed_s: f64,
}

/// A run whose predictions collapsed, with the evidence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Degenerate {
    pub evidence: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Counts {
    pub train: usize,
    pub val: usize,
    pub test: usize,
}

/// What `result.json` holds and the `finished` event carries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrialResult {
    pub trial: String,
    pub test: Evaluation,
    pub best_epoch: u32,
    pub epochs: u32,
    /// What picked the best epoch: `age_mae` (lower is better) or `accuracy` (higher).
    pub selection: String,
    pub best_val_score: f64,
    pub degenerate: Option<Degenerate>,
    pub images: Counts,
    /// Hash of the train/val/test index lists.
    pub split_digest: String,
    pub parameters: usize,
    pub train_seconds: f64,
    pub images_per_s: f64,
    pub device: String,
    pub threads: usize,
}

/// One JSON line on the worker's stdout.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum Event {
    Started {
        trial: String,
        device: String,
        threads: usize,
        images: Counts,
        parameters: usize,
        epochs: u32,
    },
    Epoch(Box<EpochReport>),
    Heartbeat {
        epoch: u32,
        step: usize,
        steps: usize,
        loss: f64,
        elapsed_s: f64,
    },
    Finished {
        result: Box<TrialResult>,
    },
    Failed {
        class: FailureClass,
        message: String,
    },
}

/// The GLIBC_TUNABLES a training process runs under (unless the user set their
/// own). glibc hands every buffer above its dynamic mmap threshold back to the
/// kernel on free, so each step would page-fault its activations and gradients in
/// again, zero-filled; keeping them on the heap measured 142-159 images/s against
/// 127-140 for `ablate bench train` (bench net, 2 threads).
pub const MALLOC_TUNABLES: &str =
    "glibc.malloc.mmap_threshold=1073741824:glibc.malloc.trim_threshold=4294967296";
