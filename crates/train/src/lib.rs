//! `ablate-train` owns training one trial: VGG-style CNNs in candle, age encodings
//! and losses, metrics, the training loop, checkpoints, and the `ablate worker`
//! protocol (trial JSON in, JSON-lines events out, files in the run directory).
//!
//! It must not know about SQLite, scheduling or other trials: a worker is given
//! one resolved trial and the paths it needs, and reports on stdout.

pub mod batch;
pub mod bench;
pub mod bench_grid;
pub mod bench_ops;
mod bench_text;
pub mod checkpoint;
pub mod cpu_ops;
pub mod encoding;
pub mod error;
pub mod evaluate;
pub mod memory;
pub mod metrics;
pub mod model;
pub mod optim;
pub mod parts;
pub mod pool;
pub mod protocol;
pub mod resume;
pub mod rng;
pub mod tasks;
pub mod trainer;

pub use error::TrainError;

/// The version of what training means (defined in the protocol, so the
/// orchestrator knows it without linking the trainer); see its doc.
pub const TRAINER_VERSION: u32 = ablate_protocol::BUILTIN_TRAINER_VERSION;
pub use protocol::{Event, FailureClass, TrialInput, TrialResult};
