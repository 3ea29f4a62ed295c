//! A failed trial: what went wrong, its class (which decides retries) and a
//! message for the user (`Display`).

use std::path::PathBuf;

use crate::protocol::FailureClass;

/// Why a trial (or a benchmark) failed. [`TrainError::class`] says how the
/// orchestrator treats it; the message names the file, setting or step.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// The trial asks for CUDA and this build has none.
    #[error(
        "this trial asks for device = \"cuda\", but this ablate was built without CUDA; build it with `cargo build --release --features cuda` (see README) or set device = \"cpu\""
    )]
    CudaNotBuilt,
    /// The trial asks for CUDA and no device could be opened.
    #[error("no usable CUDA device: {0}")]
    NoCudaDevice(#[source] candle_core::Error),
    /// A setting that cannot work, said in the message.
    #[error("{0}")]
    BadConfig(String),
    /// A dependant trial without the checkpoint of the pretraining trial it starts from.
    #[error(
        "this trial starts from pretraining trial {pretraining}, but no init_checkpoint was given"
    )]
    NoInitCheckpoint {
        pretraining: ablate_protocol::TrialId,
    },
    /// The trial's network cannot be built from its settings.
    #[error("cannot build the network: {0}")]
    Network(#[source] candle_core::Error),
    /// A benchmark's network cannot be built (candle's message alone).
    #[error("{0}")]
    BenchNetwork(#[source] candle_core::Error),
    /// A benchmark's depth is not a preset.
    #[error("unknown depth {depth:?}; expected one of {known}")]
    UnknownDepth { depth: String, known: String },
    /// The pretraining checkpoint's trunk is not this network's: `what` is the
    /// tensor it lacks, has in another shape, or has in addition.
    #[error(
        "pretraining checkpoint {} has {what}: the pretraining trial must have the same depth, width, BatchNorm setting and input size",
        path.display()
    )]
    TrunkMismatch { path: PathBuf, what: String },
    /// The cache holds images of another size than the trial's input.
    #[error("cache {} holds {has}px images, the trial needs {needs}px", cache.display())]
    CacheSize {
        cache: PathBuf,
        has: u32,
        needs: u32,
    },
    /// The cache's content is not what the orchestrator prepared the trial with.
    #[error(
        "cache {} holds data with content digest {has}, but the trial file expects {expects}: \
         the data changed after the orchestrator prepared it; run `ablate run` again to rebuild \
         the cache and rerun the trials it decides",
        cache.display()
    )]
    DataChanged {
        cache: PathBuf,
        has: String,
        expects: String,
    },
    /// A part of the split has no image the trial's tasks can use.
    #[error("no {part} image has the {needs} this trial needs ({images} images in the cache)")]
    EmptyPart {
        part: &'static str,
        needs: &'static str,
        images: usize,
    },
    /// Reading the cache or splitting it.
    #[error("{0}")]
    Data(#[from] ablate_data::DataError),
    /// A file or folder operation: `cannot {action} {path}: {source}`.
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    /// Moving a pending checkpoint into place.
    #[error("cannot move checkpoint {} to {}: {source}", from.display(), to.display())]
    MoveCheckpoint {
        from: PathBuf,
        to: PathBuf,
        source: std::io::Error,
    },
    /// Writing or reading a checkpoint through candle: `cannot {action} checkpoint {path}: {source}`
    /// (boxed: it would make every `TrainError` larger).
    #[error("cannot {action} checkpoint {}: {source}", path.display())]
    Checkpoint {
        action: &'static str,
        path: PathBuf,
        source: Box<candle_core::Error>,
    },
    /// The loss stopped being a number; `advice` is what else to change.
    #[error(
        "the loss became {value} at epoch {epoch}, step {step}; lower the learning rate (lr = {lr:.3e}){advice}"
    )]
    Diverged {
        value: f32,
        epoch: u32,
        step: usize,
        lr: f64,
        advice: &'static str,
    },
    /// Stopped by a signal at a step boundary, its state saved.
    #[error(
        "stopped by a signal at epoch {epoch}, batch {batch} of {steps}; its state is saved in {}, and the next attempt resumes from it",
        crate::protocol::RunDir::STATE
    )]
    Stopped {
        epoch: u32,
        batch: usize,
        steps: usize,
    },
    /// A benchmark ran out of its time.
    #[error("time limit reached after {step} of {steps} steps")]
    TimeLimit { step: usize, steps: usize },
    /// A tensor operation failed (out of memory among others: see [`TrainError::class`]).
    #[error("{0}")]
    Candle(#[from] candle_core::Error),
    /// Serialising a report, the result or the state's description.
    #[error("{0}")]
    Json(#[from] serde_json::Error),
    /// Laying out the resumable state: `{what}: {source}`.
    #[error("{what}: {source}")]
    StateFile {
        what: String,
        source: safetensors::SafeTensorError,
    },
    /// Something that should not happen, said in the message.
    #[error("{0}")]
    Internal(&'static str),
}

impl TrainError {
    /// How the orchestrator treats the failure (retry, give up, resume).
    pub fn class(&self) -> FailureClass {
        use ablate_data::DataError as D;
        match self {
            TrainError::CudaNotBuilt
            | TrainError::NoCudaDevice(_)
            | TrainError::BadConfig(_)
            | TrainError::NoInitCheckpoint { .. }
            | TrainError::Network(_)
            | TrainError::BenchNetwork(_)
            | TrainError::UnknownDepth { .. }
            | TrainError::TrunkMismatch { .. }
            | TrainError::CacheSize { .. }
            | TrainError::DataChanged { .. }
            | TrainError::EmptyPart { .. } => FailureClass::BadConfig,
            TrainError::Data(D::Io { .. } | D::BadCache { .. } | D::NotFound { .. }) => {
                FailureClass::Io
            }
            TrainError::Data(_) => FailureClass::BadConfig,
            TrainError::Io { .. }
            | TrainError::MoveCheckpoint { .. }
            | TrainError::Checkpoint { .. } => FailureClass::Io,
            TrainError::Diverged { .. } => FailureClass::NanLoss,
            TrainError::Stopped { .. } => FailureClass::Preempted,
            TrainError::Candle(e) if out_of_memory(e) => FailureClass::OutOfMemory,
            TrainError::Candle(_)
            | TrainError::TimeLimit { .. }
            | TrainError::Json(_)
            | TrainError::StateFile { .. }
            | TrainError::Internal(_) => FailureClass::Internal,
        }
    }

    /// Whether the user's input is at fault (the trial's or the command's
    /// settings, the data pointed at), not the run or the machine: what
    /// `ablate` reports as invalid input.
    pub fn is_invalid_input(&self) -> bool {
        match self {
            TrainError::Data(e) => e.is_invalid_input(),
            e => e.class() == FailureClass::BadConfig,
        }
    }
}

/// Whether a candle error is the device (or the host) running out of memory.
fn out_of_memory(e: &candle_core::Error) -> bool {
    // The text only as a fallback: candle's messages are not an interface, but
    // an error that carries no kind (candle's own `Msg`s and `Wrapped`
    // strings, custom ops' messages) leaves nothing else to tell it by.
    out_of_memory_kind(e) || {
        let lower = e.to_string().to_ascii_lowercase();
        lower.contains("out of memory")
            || lower.contains("out_of_memory")
            || lower.contains("alloc") && lower.contains("fail")
    }
}

/// Out of memory by the error's kind: CUDA's `CUDA_ERROR_OUT_OF_MEMORY` or
/// cuBLAS's `CUBLAS_STATUS_ALLOC_FAILED` inside `Error::Cuda`, or an I/O error of
/// kind `OutOfMemory`. A failed host allocation in candle's CPU kernels aborts
/// the process (Rust's allocator has no error to return), so on the CPU that is
/// the only kind there is.
fn out_of_memory_kind(e: &candle_core::Error) -> bool {
    use candle_core::Error as E;
    match e {
        E::WithBacktrace { inner, .. } | E::Context { inner, .. } | E::WithPath { inner, .. } => {
            out_of_memory_kind(inner)
        }
        E::Io(io) => io.kind() == std::io::ErrorKind::OutOfMemory,
        #[cfg(feature = "cuda")]
        E::Cuda(inner) => cuda_out_of_memory(inner.as_ref()),
        _ => false,
    }
}

#[cfg(feature = "cuda")]
fn cuda_out_of_memory(e: &(dyn std::error::Error + Send + Sync + 'static)) -> bool {
    use candle_core::cuda_backend::CudaError;
    use candle_core::cuda_backend::cudarc::{cublas, driver};
    match e.downcast_ref::<CudaError>() {
        Some(CudaError::Cuda(d) | CudaError::Load { cuda: d, .. }) => matches!(
            d,
            driver::DriverError(driver::sys::CUresult::CUDA_ERROR_OUT_OF_MEMORY)
        ),
        Some(CudaError::Cublas(b)) => matches!(
            b,
            cublas::result::CublasError(cublas::sys::cublasStatus_t::CUBLAS_STATUS_ALLOC_FAILED)
        ),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn candle(e: candle_core::Error) -> TrainError {
        TrainError::Candle(e)
    }

    #[test]
    fn out_of_memory_is_told_by_the_error_kind_through_candle_wrappers() {
        let io = std::io::Error::new(std::io::ErrorKind::OutOfMemory, "mmap refused");
        let e = candle_core::Error::Io(io)
            .context("loading")
            .with_path("/x");
        assert!(
            out_of_memory_kind(&e),
            "found by kind, not by its text: {e}"
        );
        assert_eq!(candle(e).class(), FailureClass::OutOfMemory);
        let other = std::io::Error::new(std::io::ErrorKind::PermissionDenied, "denied");
        assert_eq!(
            candle(candle_core::Error::Io(other)).class(),
            FailureClass::Internal
        );
        let shape = candle_core::Error::EmptyTensor { op: "cat" };
        assert_eq!(candle(shape).class(), FailureClass::Internal);
    }

    #[test]
    fn out_of_memory_text_without_a_kind_is_still_out_of_memory() {
        let e = candle_core::Error::Msg(
            "DriverError(CUDA_ERROR_OUT_OF_MEMORY, \"out of memory\")".into(),
        );
        assert!(!out_of_memory_kind(&e));
        assert_eq!(candle(e).class(), FailureClass::OutOfMemory);
        let e = candle_core::Error::Msg("CublasError(CUBLAS_STATUS_ALLOC_FAILED)".into());
        assert_eq!(candle(e).class(), FailureClass::OutOfMemory);
    }

    #[cfg(feature = "cuda")]
    #[test]
    fn a_cuda_driver_out_of_memory_is_out_of_memory() {
        use candle_core::cuda_backend::CudaError;
        use candle_core::cuda_backend::cudarc::driver::{DriverError, sys::CUresult};
        let e: candle_core::Error =
            CudaError::Cuda(DriverError(CUresult::CUDA_ERROR_OUT_OF_MEMORY)).into();
        assert!(out_of_memory_kind(&e));
        let e: candle_core::Error =
            CudaError::Cuda(DriverError(CUresult::CUDA_ERROR_INVALID_VALUE)).into();
        assert!(!out_of_memory_kind(&e));
    }

    #[test]
    fn classes_and_what_is_the_users_input() {
        let io = || std::io::Error::from(std::io::ErrorKind::PermissionDenied);
        let cases = [
            (TrainError::CudaNotBuilt, FailureClass::BadConfig, true),
            (
                TrainError::BadConfig("x".into()),
                FailureClass::BadConfig,
                true,
            ),
            (
                TrainError::NoInitCheckpoint {
                    pretraining: "p".into(),
                },
                FailureClass::BadConfig,
                true,
            ),
            (
                TrainError::Io {
                    action: "write",
                    path: "/r".into(),
                    source: io(),
                },
                FailureClass::Io,
                false,
            ),
            (
                TrainError::Data(ablate_data::DataError::Io {
                    path: "/d".into(),
                    source: io(),
                }),
                FailureClass::Io,
                true,
            ),
            (
                TrainError::Data(ablate_data::DataError::NoSuchFold { fold: 3, folds: 2 }),
                FailureClass::BadConfig,
                true,
            ),
            (
                TrainError::Diverged {
                    value: f32::NAN,
                    epoch: 2,
                    step: 3,
                    lr: 0.1,
                    advice: "",
                },
                FailureClass::NanLoss,
                false,
            ),
            (
                TrainError::Stopped {
                    epoch: 1,
                    batch: 6,
                    steps: 14,
                },
                FailureClass::Preempted,
                false,
            ),
            (
                TrainError::Internal("no epoch ran"),
                FailureClass::Internal,
                false,
            ),
        ];
        for (e, class, input) in cases {
            assert_eq!((e.class(), e.is_invalid_input()), (class, input), "{e}");
        }
    }

    #[test]
    fn messages_are_the_ones_users_know() {
        let e = TrainError::Stopped {
            epoch: 1,
            batch: 6,
            steps: 14,
        };
        assert_eq!(
            e.to_string(),
            "stopped by a signal at epoch 1, batch 6 of 14; its state is saved in state.safetensors, and the next attempt resumes from it"
        );
        let e = TrainError::Diverged {
            value: f32::NAN,
            epoch: 2,
            step: 3,
            lr: 0.01,
            advice: " or turn on batch_norm",
        };
        assert_eq!(
            e.to_string(),
            "the loss became NaN at epoch 2, step 3; lower the learning rate (lr = 1.000e-2) or turn on batch_norm"
        );
        let e = TrainError::Io {
            action: "write",
            path: "/r/metrics.jsonl".into(),
            source: std::io::Error::from(std::io::ErrorKind::PermissionDenied),
        };
        assert_eq!(
            e.to_string(),
            "cannot write /r/metrics.jsonl: permission denied"
        );
    }
}
