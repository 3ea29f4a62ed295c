//! `[train]` keys: one parser shared by the `[train]` section, pretraining stage
//! overrides and study axes, so a key means the same thing everywhere.

use std::fmt;

use crate::error::Ctx;
use crate::types::{Device, ExecSpec, Optimizer, Precision, Schedule, TrainSpec};
use crate::value::{self, Value};

pub(crate) const TRAIN_KEYS: &[&str] = &[
    "input_size",
    "epochs",
    "batch_size",
    "optimizer",
    "lr",
    "momentum",
    "weight_decay",
    "schedule",
    "step_every",
    "step_gamma",
    "warmup_epochs",
    "flip",
    "crop",
    "dropout",
    "batch_norm",
    "device",
    "threads",
    "checkpoint_minutes",
    "precision",
];

/// One parsed `[train]` key.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Setting {
    InputSize(u32),
    Epochs(u32),
    BatchSize(u32),
    Optimizer(Optimizer),
    Lr(f64),
    Momentum(f64),
    WeightDecay(f64),
    Schedule(&'static str),
    StepEvery(u32),
    StepGamma(f64),
    WarmupEpochs(u32),
    Flip(bool),
    Crop(u32),
    Dropout(f64),
    BatchNorm(bool),
    Device(Device),
    Threads(u32),
    CheckpointMinutes(f64),
    Precision(Precision),
}

pub(crate) fn parse(ctx: &mut Ctx<'_>, path: &str, key: &str, v: &Value<'_>) -> Option<Setting> {
    use Setting as S;
    Some(match key {
        "input_size" => S::InputSize(value::unsigned(ctx, path, v, 32..=224)?),
        "epochs" => S::Epochs(value::unsigned(ctx, path, v, 1..=100_000)?),
        "batch_size" => S::BatchSize(value::unsigned(ctx, path, v, 1..=65_536)?),
        "optimizer" => S::Optimizer(match value::choice(ctx, path, v, &["sgd", "adamw"])? {
            "sgd" => Optimizer::Sgd,
            _ => Optimizer::Adamw,
        }),
        "lr" => S::Lr(value::number(
            ctx,
            path,
            v,
            |x| x > 0.0 && x <= 10.0,
            "a learning rate in (0, 10]",
        )?),
        "momentum" => S::Momentum(value::number(
            ctx,
            path,
            v,
            |x| (0.0..1.0).contains(&x),
            "a momentum in [0, 1)",
        )?),
        "weight_decay" => S::WeightDecay(value::number(
            ctx,
            path,
            v,
            |x| (0.0..1.0).contains(&x),
            "a weight decay in [0, 1)",
        )?),
        "schedule" => S::Schedule(value::choice(
            ctx,
            path,
            v,
            &["constant", "step", "cosine"],
        )?),
        "step_every" => S::StepEvery(value::unsigned(ctx, path, v, 1..=100_000)?),
        "step_gamma" => S::StepGamma(value::number(
            ctx,
            path,
            v,
            |x| x > 0.0 && x <= 1.0,
            "a decay factor in (0, 1]",
        )?),
        "warmup_epochs" => S::WarmupEpochs(value::unsigned(ctx, path, v, 0..=100_000)?),
        "flip" => S::Flip(value::boolean(ctx, path, v)?),
        "crop" => S::Crop(value::unsigned(ctx, path, v, 0..=112)?),
        "dropout" => S::Dropout(value::number(
            ctx,
            path,
            v,
            |x| (0.0..1.0).contains(&x),
            "a dropout rate in [0, 1)",
        )?),
        "batch_norm" => S::BatchNorm(value::boolean(ctx, path, v)?),
        "device" => S::Device(match value::choice(ctx, path, v, &["cpu", "cuda"])? {
            "cpu" => Device::Cpu,
            _ => Device::Cuda,
        }),
        "threads" => S::Threads(value::unsigned(ctx, path, v, 1..=1024)?),
        "checkpoint_minutes" => S::CheckpointMinutes(value::number(
            ctx,
            path,
            v,
            |x| x > 0.0 && x <= 10_000.0,
            "minutes between resumable states within an epoch, in (0, 10000]",
        )?),
        "precision" => S::Precision(Precision::from_name(value::choice(
            ctx,
            path,
            v,
            &Precision::NAMES,
        )?)?),
        _ => return None,
    })
}

impl fmt::Display for Setting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use Setting as S;
        match self {
            S::InputSize(n)
            | S::Epochs(n)
            | S::BatchSize(n)
            | S::StepEvery(n)
            | S::WarmupEpochs(n)
            | S::Crop(n)
            | S::Threads(n) => write!(f, "{n}"),
            S::Lr(x)
            | S::Momentum(x)
            | S::WeightDecay(x)
            | S::StepGamma(x)
            | S::Dropout(x)
            | S::CheckpointMinutes(x) => {
                write!(f, "{x}")
            }
            S::Optimizer(Optimizer::Sgd) => f.write_str("sgd"),
            S::Optimizer(Optimizer::Adamw) => f.write_str("adamw"),
            S::Schedule(s) => f.write_str(s),
            S::Flip(b) | S::BatchNorm(b) => write!(f, "{b}"),
            S::Device(Device::Cpu) => f.write_str("cpu"),
            S::Device(Device::Cuda) => f.write_str("cuda"),
            S::Precision(p) => f.write_str(p.as_str()),
        }
    }
}

/// Training settings being assembled from defaults and overrides.
#[derive(Debug, Clone)]
pub(crate) struct Draft {
    spec: TrainSpec,
    schedule: &'static str,
    step_every: u32,
    step_gamma: f64,
    pub(crate) batch_norm: bool,
    pub(crate) exec: ExecSpec,
}

impl Default for Draft {
    fn default() -> Self {
        Self {
            spec: TrainSpec {
                input_size: 64,
                epochs: 10,
                batch_size: 64,
                optimizer: Optimizer::Sgd,
                lr: 0.01,
                momentum: 0.9,
                weight_decay: 5e-4,
                schedule: Schedule::Cosine,
                warmup_epochs: 0,
                flip: true,
                crop: 4,
                dropout: 0.5,
                precision: Precision::Fp32,
            },
            schedule: "cosine",
            step_every: 10,
            step_gamma: 0.1,
            batch_norm: true,
            exec: ExecSpec {
                device: Device::Cpu,
                threads: 2,
                checkpoint_ms: None,
            },
        }
    }
}

impl Draft {
    pub(crate) fn apply(&mut self, s: &Setting) {
        use Setting as S;
        let t = &mut self.spec;
        match *s {
            S::InputSize(n) => t.input_size = n,
            S::Epochs(n) => t.epochs = n,
            S::BatchSize(n) => t.batch_size = n,
            S::Optimizer(o) => t.optimizer = o,
            S::Lr(x) => t.lr = x,
            S::Momentum(x) => t.momentum = x,
            S::WeightDecay(x) => t.weight_decay = x,
            S::Schedule(k) => self.schedule = k,
            S::StepEvery(n) => self.step_every = n,
            S::StepGamma(x) => self.step_gamma = x,
            S::WarmupEpochs(n) => t.warmup_epochs = n,
            S::Flip(b) => t.flip = b,
            S::Crop(n) => t.crop = n,
            S::Dropout(x) => t.dropout = x,
            S::BatchNorm(b) => self.batch_norm = b,
            S::Device(d) => self.exec.device = d,
            S::Precision(p) => t.precision = p,
            S::Threads(n) => self.exec.threads = n,
            // At least a millisecond: the worker checks after every step.
            S::CheckpointMinutes(m) => {
                self.exec.checkpoint_ms = Some(((m * 60_000.0) as u64).max(1));
            }
        }
    }

    /// The finished settings, or why they do not fit together.
    pub(crate) fn finish(&self) -> Result<TrainSpec, String> {
        let mut spec = self.spec.clone();
        spec.schedule = match self.schedule {
            "constant" => Schedule::Constant,
            "step" => Schedule::Step {
                every: self.step_every,
                gamma: self.step_gamma,
            },
            _ => Schedule::Cosine,
        };
        if spec.warmup_epochs >= spec.epochs {
            return Err(format!(
                "warmup_epochs = {} leaves no epoch to train (epochs = {}); use fewer warm-up epochs",
                spec.warmup_epochs, spec.epochs
            ));
        }
        if spec.crop * 2 >= spec.input_size {
            return Err(format!(
                "crop = {} is too large for input_size = {}; use at most {}",
                spec.crop,
                spec.input_size,
                (spec.input_size - 1) / 2
            ));
        }
        if spec.precision != Precision::Fp32 && self.exec.device == Device::Cpu {
            return Err(format!(
                "precision = \"{}\" is for CUDA trials, and this one runs on the CPU, which computes in fp32; set device = \"cuda\" or leave precision out",
                spec.precision.as_str()
            ));
        }
        if spec.optimizer == Optimizer::Adamw {
            // AdamW has no momentum term: pin it so it cannot split otherwise identical trials.
            spec.momentum = 0.0;
        }
        Ok(spec)
    }
}
