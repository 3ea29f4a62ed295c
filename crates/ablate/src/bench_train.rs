//! `ablate bench train`: prints what `ablate_train::bench` measures: training
//! steps of a net, or (`--per-op`) each conv and pool kernel on both CPU paths.

use anyhow::{Result, bail};
use candle_core::Device;

pub struct Args {
    pub depth: String,
    pub width: f64,
    pub batch: usize,
    pub size: usize,
    pub steps: usize,
    pub batch_norm: bool,
    pub device: String,
    pub ops: String,
    pub per_op: bool,
    pub json: bool,
}

pub fn run(a: &Args) -> Result<()> {
    use ablate_train::model::Ops;
    // `both` (the default): the fast path, then candle's as the reference.
    let paths: Vec<Ops> = match a.ops.as_str() {
        "both" => vec![Ops::Fast, Ops::Candle],
        one => vec![one.parse().map_err(|_: String| {
            crate::InvalidInput(format!("--ops {one:?}: expected fast, candle or both"))
        })?],
    };
    if a.per_op {
        return per_op(a);
    }
    let kind = match a.device.as_str() {
        "cpu" => ablate_spec::types::Device::Cpu,
        "cuda" => ablate_spec::types::Device::Cuda,
        other => bail!(crate::InvalidInput(format!(
            "--device {other:?}: expected cpu or cuda"
        ))),
    };
    if !(1..=4096).contains(&a.batch) || !(16..=512).contains(&a.size) {
        bail!(crate::InvalidInput(
            "--batch must be 1..=4096 and --size 16..=512".into()
        ));
    }
    let device: Device = ablate_train::trainer::device(&ablate_spec::types::ExecSpec {
        device: kind,
        threads: 1,
    })
    .map_err(|e| crate::InvalidInput(e.message))?;
    // CUDA tensors always run candle's kernels: one path to time.
    let paths = if device.is_cpu() {
        paths
    } else {
        vec![Ops::Candle]
    };
    let mut reports = Vec::new();
    for ops in paths {
        let opts = ablate_train::bench::BenchOptions {
            depth: a.depth.clone(),
            width: a.width,
            batch: a.batch,
            size: a.size,
            steps: a.steps.max(1),
            warmup: 1,
            batch_norm: a.batch_norm,
            device: device.clone(),
            ops,
        };
        let r = ablate_train::bench::run(&opts).map_err(|e| crate::InvalidInput(e.message))?;
        if !a.json {
            print_report(&r);
        }
        reports.push(r);
    }
    match reports.as_slice() {
        [one] if a.json => println!("{}", serde_json::to_string_pretty(one)?),
        all if a.json => println!("{}", serde_json::to_string_pretty(all)?),
        [fast, reference] => println!(
            "fast ops: {:.2}x candle's ops",
            fast.images_per_s / reference.images_per_s.max(1e-9)
        ),
        _ => {}
    }
    Ok(())
}

fn print_report(r: &ablate_train::bench::BenchReport) {
    println!(
        "{} (width {}, batch_norm {}) {}x{} batch {} on {} with {} threads, {} ops: {:.1} images/s; forward {:.1} ms, backward+update {:.1} ms per step; {} parameters; peak memory {}",
        r.depth,
        r.width,
        r.batch_norm,
        r.size,
        r.size,
        r.batch,
        r.device,
        r.threads,
        r.ops,
        r.images_per_s,
        r.forward_ms,
        r.backward_update_ms,
        r.parameters,
        r.peak_rss_mb
            .map_or("n/a".to_string(), |m| format!("{m:.0} MB"))
    );
}

/// Each conv layer shape of `--depth` at `--width` (and the pool ending each
/// stage), at `--batch` and `--size`, best of `--steps` runs; `--ops` does not
/// apply, both paths are timed.
fn per_op(a: &Args) -> Result<()> {
    if a.device != "cpu" {
        bail!(crate::InvalidInput(
            "--per-op times CPU kernels: use --device cpu".into()
        ));
    }
    if !(1..=4096).contains(&a.batch) || !(16..=512).contains(&a.size) {
        bail!(crate::InvalidInput(
            "--batch must be 1..=4096 and --size 16..=512".into()
        ));
    }
    let shapes = ablate_train::bench_ops::layer_shapes(&a.depth, a.width, a.batch, a.size)
        .map_err(|e| crate::InvalidInput(e.message))?;
    let r = ablate_train::bench_ops::per_op(&shapes, a.steps.max(1))
        .map_err(|e| crate::InvalidInput(e.message))?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&r)?);
        return Ok(());
    }
    println!(
        "per-op CPU times, {} threads, best of {} runs (ms):",
        r.threads, r.runs
    );
    println!(
        "{:<26} {:<20} {:>6} {:>10} {:>10} {:>8}",
        "op", "shape", "layers", "candle", "fast", "speedup"
    );
    for t in &r.timings {
        println!(
            "{:<26} {:<20} {:>6} {:>10.2} {:>10.2} {:>7.1}x",
            t.op,
            t.shape,
            t.layers,
            t.candle_ms,
            t.fast_ms,
            t.candle_ms / t.fast_ms.max(1e-9)
        );
    }
    let (candle, fast) = r.step_ms();
    println!(
        "conv work of one training step (fused forward, input grad, weight grad; x layers): candle {candle:.1} ms, fast {fast:.1} ms"
    );
    Ok(())
}
