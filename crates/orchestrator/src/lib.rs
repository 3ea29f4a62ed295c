//! `ablate-orchestrator` runs a sweep: it records the sweep in the store, recovers
//! from a previous orchestrator's death, prepares data caches, and drives one
//! dispatcher task that owns all scheduling state and `select!`s over worker
//! events, signals and a timer.
//!
//! Trials run as child processes behind the [`Backend`] trait (local processes, or Slurm jobs); the dispatcher never touches a process directly. It is the only writer
//! of the database. It must not know how a trial trains: it speaks the worker
//! protocol only.

mod backend;
mod cancel;
mod dispatch;
mod policy;
pub mod progress;
mod provenance;
mod run;
mod slots;
pub mod slurm;

pub use backend::{Backend, BackendEvent, Launch, LocalBackend};
pub use cancel::{Cancelled, cancel};
pub use progress::{Reporter, Snapshot};
pub use run::{RunOptions, Summary, db_path, run};
pub use slurm::SlurmOptions;

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Store(#[from] ablate_store::StoreError),
    #[error(transparent)]
    Data(#[from] ablate_data::DataError),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Io(String),
}
