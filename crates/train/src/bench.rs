//! The training benchmark: a depth preset on random data, timed step by step, so
//! candle can be compared with other frameworks on the same machine. Its per-op
//! companion is `bench_ops`.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use candle_core::{DType, Device, Tensor, Var};
use candle_nn::{VarBuilder, VarMap};
use serde::Serialize;

use ablate_spec::presets;
use ablate_spec::types::{ModelSpec, Optimizer, Precision, Schedule, TrainSpec};

use crate::encoding::cross_entropy;
use crate::error::TrainError;
use crate::model::{HeadSizes, Net, Ops, init_weights};
use crate::optim::Optim;
use crate::rng::Rng;

#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// A depth preset; `bench` is the fixed benchmark net (8 conv, FC 256, 10 classes).
    pub depth: String,
    pub width: f64,
    pub batch: usize,
    pub size: usize,
    pub steps: usize,
    pub warmup: usize,
    pub batch_norm: bool,
    pub device: Device,
    /// Kernels for CPU tensors (CUDA always runs candle's).
    pub ops: Ops,
    /// Give up (an error naming how many steps ran) when a step would start after this.
    pub deadline: Option<Instant>,
    /// The arithmetic of CUDA matrix products (`[train] precision`).
    pub precision: Precision,
}

#[derive(Debug, Clone, Serialize)]
pub struct BenchReport {
    pub depth: String,
    pub width: f64,
    pub batch: usize,
    pub size: usize,
    pub batch_norm: bool,
    pub device: String,
    /// The kernels that actually ran: "candle" on CUDA whatever was asked.
    pub ops: String,
    /// `fp32` or `tf32` (`[train] precision`; always fp32 on the CPU), and the
    /// process's NVIDIA_TF32_OVERRIDE, which decides cuDNN's side: `0` keeps
    /// its convolutions from TF32 too.
    pub precision: &'static str,
    pub tf32_override: Option<String>,
    pub threads: usize,
    pub steps: usize,
    pub warmup: usize,
    pub images_per_s: f64,
    /// Mean milliseconds per step: forward (with loss) and backward + update.
    pub forward_ms: f64,
    pub backward_update_ms: f64,
    /// Milliseconds of the warm-up steps together: on a process's first CUDA
    /// net this holds the driver's JIT compilation of candle's PTX.
    pub warmup_ms: f64,
    /// The training loss of every step, warm-up included, in order. Weights,
    /// data and dropout masks are drawn on the host from fixed seeds, so two
    /// devices (or kernel paths) differ here only by float rounding.
    pub losses: Vec<f32>,
    /// Wall-clock span of this measurement (Unix milliseconds), so samples of an
    /// outside monitor (nvidia-smi) can be matched to it.
    pub started_unix_ms: u64,
    pub ended_unix_ms: u64,
    /// Milliseconds the process took to create the device (on CUDA: the context),
    /// filled in by the caller, which creates it once for all its measurements.
    pub device_init_ms: Option<f64>,
    pub parameters: usize,
    /// The net that ran (after the width multiplier), so another framework can
    /// build the same one (scripts/bench_pytorch.py --like).
    pub convs: Vec<u32>,
    pub channels: Vec<u32>,
    pub fc: Vec<u32>,
    /// Peak resident memory of the process (VmHWM), in MB, where the OS reports it.
    pub peak_rss_mb: Option<f64>,
    /// On a GPU, the peak of this net's tensors on the device in MiB (what PyTorch's
    /// `max_memory_allocated` counts; see [`crate::memory`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peak_gpu_allocated_mb: Option<f64>,
}

pub fn run(o: &BenchOptions) -> Result<BenchReport, TrainError> {
    let preset = presets::find(&o.depth).ok_or_else(|| TrainError::UnknownDepth {
        depth: o.depth.clone(),
        known: presets::names().join(", "),
    })?;
    let model = preset.scaled(o.width, o.batch_norm);
    let heads = HeadSizes {
        general: Some(10),
        ..HeadSizes::default()
    };
    run_model(o, &model, heads)
}

/// [`run`] on a given network with given heads (`ablate plan --estimate
/// --calibrate` times a trial's own net); the loss is on its first head.
pub fn run_model(
    o: &BenchOptions,
    model: &ModelSpec,
    heads: HeadSizes,
) -> Result<BenchReport, TrainError> {
    let model = model.clone();
    let classes = [heads.general, heads.identity, heads.age, heads.gender]
        .into_iter()
        .flatten()
        .next()
        .ok_or_else(|| TrainError::BadConfig("the network has no head".into()))?;
    // Each net's own peak, though one process measures them all.
    o.device.synchronize()?;
    crate::memory::reset_gpu_peak(&o.device);
    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, &o.device);
    let net = Net::new(&model, o.size, heads, 0.5, &vb)
        .map_err(TrainError::BenchNetwork)?
        .with_ops(o.ops);
    init_weights(&varmap, 0, &o.device)?;
    let named: Vec<(String, Var)> = varmap
        .data()
        .lock()
        .map_err(|_| TrainError::Internal("lock"))?
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let parameters = named
        .iter()
        .filter(|(n, _)| !n.contains("running_"))
        .map(|(_, v)| v.elem_count())
        .sum();
    let spec = TrainSpec {
        input_size: o.size as u32,
        epochs: 1,
        batch_size: o.batch as u32,
        optimizer: Optimizer::Sgd,
        lr: 0.01,
        momentum: 0.0,
        weight_decay: 0.0,
        schedule: Schedule::Constant,
        warmup_epochs: 0,
        flip: false,
        crop: 0,
        dropout: 0.5,
        precision: o.precision,
    };
    crate::trainer::set_precision(&o.device, o.precision);
    let mut optim = Optim::new(&spec, named);
    let mut rng = Rng::new(1);
    let x: Vec<f32> = (0..o.batch * 3 * o.size * o.size)
        .map(|_| rng.normal())
        .collect();
    let x = Tensor::from_vec(x, (o.batch, 3, o.size, o.size), &o.device)?;
    let y = Tensor::from_vec(
        (0..o.batch as u32)
            .map(|i| i % classes as u32)
            .collect::<Vec<u32>>(),
        o.batch,
        &o.device,
    )?;
    let started_unix_ms = unix_ms();
    let (mut fwd, mut bwd, mut warm) = (0.0, 0.0, 0.0);
    let mut losses = Vec::with_capacity(o.warmup + o.steps);
    for step in 0..o.warmup + o.steps {
        if o.deadline.is_some_and(|d| Instant::now() >= d) {
            return Err(TrainError::TimeLimit {
                step,
                steps: o.warmup + o.steps,
            });
        }
        let t0 = Instant::now();
        let out = net.forward(&x, true, &mut rng)?;
        let logits = [out.general, out.identity, out.age, out.gender]
            .into_iter()
            .flatten()
            .next()
            .ok_or(TrainError::Internal("no head"))?;
        let loss = cross_entropy(&logits, &y)?;
        // Reading the loss forces the computation (CUDA is asynchronous).
        losses.push(loss.to_scalar::<f32>()?);
        let t1 = Instant::now();
        let grads = loss.backward()?;
        optim.step(&grads, 0.01)?;
        o.device.synchronize()?;
        let t2 = Instant::now();
        if step >= o.warmup {
            fwd += (t1 - t0).as_secs_f64();
            bwd += (t2 - t1).as_secs_f64();
        } else {
            warm += (t2 - t0).as_secs_f64();
        }
    }
    let steps = o.steps.max(1) as f64;
    Ok(BenchReport {
        depth: o.depth.clone(),
        width: o.width,
        batch: o.batch,
        size: o.size,
        batch_norm: o.batch_norm,
        device: crate::trainer::device_name(&o.device),
        precision: o.precision.as_str(),
        tf32_override: std::env::var("NVIDIA_TF32_OVERRIDE").ok(),
        ops: if o.device.is_cpu() {
            o.ops
        } else {
            Ops::Candle
        }
        .name()
        .to_string(),
        threads: rayon::current_num_threads(),
        steps: o.steps,
        warmup: o.warmup,
        images_per_s: (o.batch as f64 * steps) / (fwd + bwd).max(1e-9),
        forward_ms: 1e3 * fwd / steps,
        backward_update_ms: 1e3 * bwd / steps,
        warmup_ms: 1e3 * warm,
        losses,
        started_unix_ms,
        ended_unix_ms: unix_ms(),
        device_init_ms: None,
        parameters,
        convs: model.convs,
        channels: model.channels,
        fc: model.fc,
        peak_rss_mb: peak_rss_mb(),
        peak_gpu_allocated_mb: crate::memory::gpu_peak(&o.device).map(|b| b as f64 / 1048576.0),
    })
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}
