//! `ablate-orchestrator` runs a sweep: it records the sweep in the store, recovers
//! from a previous orchestrator's death, prepares data caches, and drives one
//! dispatcher task that owns all scheduling state and `select!`s over worker
//! events, signals and a timer.
//!
//! Trials run as child processes behind the [`Backend`] trait (local processes, or
//! Slurm jobs); the dispatcher never touches a process directly. It is the only
//! writer of the database. It must not know how a trial trains: it speaks the
//! worker protocol (`ablate-protocol`) only, and depends on no trainer (no candle).

use std::path::PathBuf;

mod attempt_files;
mod backend;
mod caches;
mod cancel;
mod dispatch;
pub mod gpus;
mod lines;
mod local;
mod lock;
mod options;
mod policy;
pub mod progress;
mod provenance;
mod rounds;
mod run;
mod slots;
pub mod slurm;
mod stale;
mod status;
mod summary;
mod tree;

pub use backend::{Backend, BackendEvent, Launch};
pub use caches::{CacheJob, cache_of, jobs as cache_jobs};
pub use cancel::{Cancelled, cancel};
pub use lines::{DEFAULT_MAX_LINE, Line, LineDecoder};
pub use local::LocalBackend;
pub use lock::lock_path;
pub use options::{RunOptions, db_path};
pub use progress::{Reporter, Snapshot};
pub use run::run;
pub use slurm::SlurmOptions;
pub use stale::{Stale, in_store as stale_results};
pub use status::{SweepStatus, status};
pub use summary::Summary;

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Store(#[from] ablate_store::StoreError),
    #[error(transparent)]
    Data(#[from] ablate_data::DataError),
    /// What was asked cannot be done as asked (no GPU given for CUDA trials, an
    /// unknown study, the database held by another `ablate run`): the message says
    /// how to fix it.
    #[error("{0}")]
    Invalid(String),
    /// The caches a sweep needs would not fit on their disk; the message has the
    /// numbers.
    #[error("{0}")]
    NoSpace(String),
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write {}: {source}", path.display())]
    Json {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("cannot listen for Ctrl-C and SIGTERM: {0}")]
    Signals(std::io::Error),
    #[error("cannot signal the orchestrator (pid {pid}): {source}")]
    Signal { pid: i32, source: nix::Error },
    #[error("cannot run {program}: {source}")]
    Spawn {
        program: &'static str,
        source: std::io::Error,
    },
    #[error("{program} failed: {stderr}")]
    Command {
        program: &'static str,
        stderr: String,
    },
}

impl RunError {
    /// The error is in what the user gave (the sweep, its data, the command line),
    /// not a failure while working: `ablate` exits 2 for it.
    pub fn is_invalid_input(&self) -> bool {
        match self {
            RunError::Invalid(_) => true,
            RunError::Data(e) => e.is_invalid_input(),
            RunError::Store(e) => e.is_invalid_input(),
            _ => false,
        }
    }

    pub(crate) fn io(
        action: &'static str,
        path: &std::path::Path,
    ) -> impl FnOnce(std::io::Error) -> RunError {
        let path = path.to_path_buf();
        move |source| RunError::Io {
            action,
            path,
            source,
        }
    }
}
