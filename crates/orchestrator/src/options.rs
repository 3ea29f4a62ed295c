//! What a run is asked to do (`RunOptions`) and where its database is: below
//! `run.rs`, the dispatcher and `cancel.rs`, which all read them.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ablate_spec::Sweep;

use crate::slurm::SlurmOptions;

#[derive(Debug, Clone)]
pub struct RunOptions {
    pub gpus: Vec<u32>,
    pub slots_per_gpu: u32,
    pub cpu_slots: u32,
    pub max_attempts: u32,
    pub backoff: Duration,
    /// Kill a worker silent for this long (no event, no heartbeat).
    pub heartbeat_timeout: Duration,
    pub trial_timeout: Option<Duration>,
    /// Between SIGTERM and SIGKILL when stopping.
    pub grace: Duration,
    pub rerun_failed: bool,
    pub only: Option<String>,
    pub dry_run: bool,
    pub db: Option<PathBuf>,
    /// This process's own executable, which runs `ablate worker`: locally from
    /// this process's image (`LocalBackend::pin_self`), under Slurm by its path.
    pub ablate_exe: PathBuf,
    /// GPU index -> model name, for provenance.
    pub gpu_names: HashMap<u32, String>,
    /// Run trials as Slurm jobs instead of local processes.
    pub slurm: Option<SlurmOptions>,
    /// Keep stale results (other data or trainer) instead of rerunning their trials.
    pub keep_stale: bool,
    /// Keep a succeeded trial's resumable state instead of deleting it.
    pub keep_state: bool,
    /// The longest line of worker output read whole (bytes); longer ones are cut.
    pub max_line: usize,
}

pub fn db_path(sweep: &Sweep, db: Option<&Path>) -> PathBuf {
    db.map_or_else(|| sweep.output.join("ablate.db"), Path::to_path_buf)
}
