//! What a worker is given: `ablate worker TRIAL.json` reads this.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use ablate_spec::TrialId;
use ablate_spec::types::{ExecSpec, TrialConfig};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrialInput {
    pub id: TrialId,
    pub config: TrialConfig,
    pub exec: ExecSpec,
    /// The pixel cache of `config.data` at `config.train.input_size`.
    pub cache: PathBuf,
    /// The content digest that cache had when the orchestrator prepared it: a
    /// worker given another cache fails `bad-config` rather than train on it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_digest: Option<String>,
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
    pub labels: BTreeMap<String, String>,
}

fn default_heartbeat() -> f64 {
    10.0
}
