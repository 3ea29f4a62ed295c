//! One trial from start to finish: data and split, model and transfer, the epoch
//! loop with validation, best-epoch checkpointing, the test evaluation and result.
//!
//! [`run_until`] takes the steps in order: [`Trial::prepare`] (`prepare.rs`: data,
//! network, transfer, optimiser), [`Trial::start`] (`start.rs`: whether to resume,
//! `started`, an earlier attempt's epochs again), [`Trial::epoch`] for each epoch
//! left (`epoch.rs`: its batches, then validation, best weights and the state), and
//! [`Trial::finish`] (`finish.rs`: the test set and the result). `saver.rs` writes
//! and reads the resumable state.

mod epoch;
mod finish;
mod prepare;
mod saver;
mod start;

use std::fmt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use candle_core::Device;

use ablate_spec::types::{Device as DeviceKind, ExecSpec, Precision};

use crate::error::TrainError;
use crate::protocol::{Event, RunDir, TrialInput, TrialResult};
use crate::resume::Progress;
use crate::rng::Rng;
use crate::tasks::Heads;

use prepare::Trial;

pub use crate::parts::{TrialSplit, trial_split};

pub const CHECKPOINT: &str = RunDir::CHECKPOINT;
pub const RESULT: &str = RunDir::RESULT;
pub const METRICS: &str = RunDir::METRICS;

/// The device a trial asks for; CUDA ordinal 0 (the scheduler pins a GPU with CUDA_VISIBLE_DEVICES).
pub fn device(exec: &ExecSpec) -> Result<Device, TrainError> {
    match exec.device {
        DeviceKind::Cpu => Ok(Device::Cpu),
        DeviceKind::Cuda if !cfg!(feature = "cuda") => Err(TrainError::CudaNotBuilt),
        DeviceKind::Cuda => Device::new_cuda(0).map_err(TrainError::NoCudaDevice),
    }
}

/// The arithmetic of the process's CUDA fp32 matrix products: TF32 tensor
/// cores only for `precision = "tf32"` (candle's cuBLAS flag; off by default,
/// as in PyTorch). cuDNN's side follows NVIDIA_TF32_OVERRIDE, which the
/// orchestrator sets to 0 for fp32 CUDA trials. The CPU computes in fp32.
pub fn set_precision(device: &Device, precision: Precision) {
    candle_core::cuda::set_gemm_reduced_precision_f32(
        device.is_cuda() && precision == Precision::Tf32,
    );
}

pub fn device_name(device: &Device) -> String {
    match device {
        Device::Cpu => "cpu".into(),
        Device::Cuda(_) => "cuda:0".into(),
        Device::Metal(_) => "metal".into(),
    }
}

/// Writes `text` to `dir/name` through a temporary file and a rename.
pub fn write_atomic(dir: &Path, name: &str, text: &str) -> Result<(), TrainError> {
    let tmp = dir.join(format!(".{name}.tmp"));
    std::fs::write(&tmp, text)
        .and_then(|()| std::fs::rename(&tmp, dir.join(name)))
        .map_err(|source| TrainError::Io {
            action: "write",
            path: dir.join(name),
            source,
        })
}

/// What a trial tells the person running it, beside its events: not part of the
/// worker protocol (`ablate worker` prints each on stderr as its `Display`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// How this attempt starts: resumed from a state, or why a state was not
    /// used (the `started` event's `resume` says the same).
    Resume(String),
    /// Something the result's reader should know (the result's `warnings`).
    Warning(String),
}

impl fmt::Display for Notice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Notice::Resume(note) => write!(f, "note: {note}"),
            Notice::Warning(w) => write!(f, "warning: {w}"),
        }
    }
}

/// Runs the trial, reporting through `emit` (events) and `notify` (notices for
/// the person running it); files go to `input.run_dir`. A stop asked with
/// [`request_stop`] saves the state and ends it.
pub fn run(
    input: &TrialInput,
    emit: &mut dyn FnMut(&Event),
    notify: &mut dyn FnMut(&Notice),
) -> Result<TrialResult, TrainError> {
    run_until(input, emit, notify, &STOP)
}

/// [`run`], stopped (state saved, `preempted`) at the first step boundary after
/// `stop` becomes true.
pub fn run_until(
    input: &TrialInput,
    emit: &mut dyn FnMut(&Event),
    notify: &mut dyn FnMut(&Notice),
    stop: &AtomicBool,
) -> Result<TrialResult, TrainError> {
    let mut trial = Trial::prepare(input)?;
    let progress = trial.start(emit, notify)?;
    let mut run = Running::new(progress);
    let first = run.p.epochs_done + 1;
    for epoch in first..=input.config.train.epochs {
        // Batches an earlier attempt already trained (a state saved mid-epoch).
        let skip = if epoch == first {
            run.p.batches_done
        } else {
            0
        };
        trial.epoch(&mut run, epoch, skip, stop, emit)?;
    }
    trial.finish(run.p, emit, notify)
}

/// Set from a signal handler (`ablate worker` installs them): the trial saves
/// its state at the next step boundary and stops.
static STOP: AtomicBool = AtomicBool::new(false);

/// Asks the running trial to save its resumable state and stop.
pub fn request_stop() {
    STOP.store(true, Ordering::SeqCst);
}

/// Where training stands (the resumable progress) and what moves it on: the
/// random streams and this attempt's clocks.
struct Running {
    p: Progress,
    shuffle: Rng,
    augment: Rng,
    drop: Rng,
    started: Instant,
    /// Seconds the earlier attempts took.
    elapsed0: f64,
    last_beat: Instant,
}

impl Running {
    fn new(p: Progress) -> Self {
        let (shuffle, augment, drop) = (Rng::at(p.shuffle), Rng::at(p.augment), Rng::at(p.dropout));
        let started = Instant::now();
        let elapsed0 = p.elapsed_s;
        Running {
            p,
            shuffle,
            augment,
            drop,
            started,
            elapsed0,
            last_beat: Instant::now(),
        }
    }

    /// Seconds since the trial's first attempt started, over all attempts.
    fn elapsed(&self) -> f64 {
        self.elapsed0 + self.started.elapsed().as_secs_f64()
    }
}

/// Sends a `memory` event whenever a peak grew since the last one.
struct Memory {
    peak: crate::memory::Peak,
    reported: (u64, u64),
}

impl Memory {
    fn start() -> Self {
        Memory {
            peak: crate::memory::Peak::start(),
            reported: (0, 0),
        }
    }

    fn report(&mut self, device: &Device, emit: &mut dyn FnMut(&Event)) {
        let (host, gpu) = (self.peak.host(), crate::memory::gpu_peak(device));
        if host.unwrap_or(0) > self.reported.0 || gpu.unwrap_or(0) > self.reported.1 {
            self.reported = (host.unwrap_or(0), gpu.unwrap_or(0));
            emit(&Event::Memory {
                host_private_bytes: host,
                gpu_bytes: gpu,
            });
        }
    }
}

fn selection_name(heads: &Heads) -> String {
    if heads.age.is_some() {
        ablate_protocol::Metric::AgeMae.key().into()
    } else {
        "accuracy".into()
    }
}

#[cfg(test)]
mod tests {
    use super::Notice;

    #[test]
    fn notices_read_as_the_worker_prints_them() {
        let note = Notice::Resume("resumed from state.safetensors after epoch 1 of 3".into());
        assert_eq!(
            note.to_string(),
            "note: resumed from state.safetensors after epoch 1 of 3"
        );
        let w = Notice::Warning("3 ages outside the encoding's range".into());
        assert_eq!(
            w.to_string(),
            "warning: 3 ages outside the encoding's range"
        );
    }
}
