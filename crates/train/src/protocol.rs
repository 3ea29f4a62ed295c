//! The worker protocol, as `ablate-protocol` defines it (re-exported here so the
//! trainer's users need one import); docs/worker-protocol.md describes it for users
//! who plug in their own worker.

pub use ablate_protocol::{
    AgeEvaluation, Counts, Degenerate, EpochReport, Evaluation, Event, FailureClass,
    MALLOC_TUNABLES, RunDir, TrialInput, TrialResult,
};
