//! `ablate-protocol` owns what a trial's worker and the orchestrator agree on, and
//! the words every crate uses for a trial's life: what a trial is given (a JSON
//! file), what it prints (JSON lines), what it leaves in its run directory, its exit
//! codes and environment; why an attempt failed and whether that is worth a retry;
//! the states of trials and attempts.
//!
//! It must not know how a trial trains (no candle), how trials are scheduled, or
//! where states are stored: it is types and their wire form, so a worker written in
//! any language can be checked against docs/worker-protocol.md and this crate.

mod check;
mod env;
mod event;
mod failure;
mod input;
mod layout;
pub mod metrics;
mod nonfinite;
mod state;

pub use ablate_spec::{BackendKind, Membership, Metric, TrialId};
pub use check::{Violation, check_finished, required_metrics};
pub use env::{Env, MALLOC_TUNABLES};
pub use event::{
    AgeEvaluation, Counts, Degenerate, EpochReport, Evaluation, Event, Incoming, NotAnEvent,
    ReadEvent, Reported, TrialResult,
};
pub use failure::FailureClass;
pub use input::TrialInput;
pub use layout::RunDir;
pub use metrics::{AgeMetrics, ClassMetrics, pointer};
pub use state::{AttemptState, TrialState, UnknownState};

/// The version of what training means in ablate's own worker: the data pipeline,
/// initialisation, losses, optimiser, selection. Bump it whenever a trial trained
/// again would give another result: results recorded with another version are
/// stale and rerun. `crates/train/tests/golden.rs` fails when a short run's losses
/// change, with a message saying to bump this. (A `[worker] command` reports its
/// own version; the sweep's `[worker] version` says which one is current.)
pub const BUILTIN_TRAINER_VERSION: u32 = 1;
