//! `ablate bench train`: prints what `ablate_train::bench_grid` measures:
//! training steps of each configuration of a grid, or (`--per-op`) each conv and
//! pool kernel on both CPU paths.

use std::io::Write;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use candle_core::Device;
use serde::Serialize;

use ablate_train::bench::BenchReport;
use ablate_train::bench_grid::{self, Grid};

/// `ablate bench train`'s flags: the grid to measure, and how.
pub struct Args {
    pub grid: Grid,
    pub device: String,
    pub per_op: bool,
    pub json: bool,
    pub jsonl: bool,
    pub max_seconds: Option<f64>,
}

/// One line of `--jsonl` for a configuration that gave no report.
#[derive(Serialize)]
struct Failed<'a> {
    depth: &'a str,
    size: usize,
    batch: usize,
    batch_norm: bool,
    ops: &'a str,
    error: String,
}

pub fn run(a: &Args) -> Result<()> {
    let grid = &a.grid;
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
    grid.check()?;
    let t0 = Instant::now();
    let device: Device = ablate_train::trainer::device(&ablate_spec::types::ExecSpec {
        device: kind,
        threads: 1,
        checkpoint_ms: None,
    })
    .map_err(|e| crate::InvalidInput(e.to_string()))?;
    let device_init_ms = 1e3 * t0.elapsed().as_secs_f64();
    let configs = grid.configs(&device)?;
    let deadline = a
        .max_seconds
        .map(|s| t0 + Duration::from_secs_f64(s.max(0.0)));
    let single = configs.len() == 1;
    let mut reports = Vec::new();
    let mut failed = 0;
    for c in &configs {
        let r = match grid.measure(c, &device, deadline) {
            Some(r) => r.map(|mut r| {
                r.device_init_ms = Some(device_init_ms);
                r
            }),
            None => Err(format!(
                "not run: --max-seconds {} reached",
                a.max_seconds.unwrap_or(0.0)
            )),
        };
        match r {
            // One configuration keeps the old contract: its error is the command's.
            Err(e) if single => bail!(crate::InvalidInput(e)),
            Err(error) => {
                failed += 1;
                let f = Failed {
                    depth: &c.depth,
                    size: c.size,
                    batch: c.batch,
                    batch_norm: c.batch_norm,
                    ops: c.ops.name(),
                    error,
                };
                if a.jsonl {
                    emit_line(&serde_json::to_string(&f)?)?;
                } else {
                    eprintln!(
                        "error: {} at {}px batch {} (batch_norm {}, {} ops): {}",
                        f.depth, f.size, f.batch, f.batch_norm, f.ops, f.error
                    );
                }
            }
            Ok(r) => {
                if a.jsonl {
                    emit_line(&serde_json::to_string(&r)?)?;
                } else if !a.json {
                    print_report(&r);
                }
                reports.push(r);
            }
        }
    }
    if a.json && !a.jsonl {
        match reports.as_slice() {
            [one] => println!("{}", serde_json::to_string_pretty(one)?),
            all => println!("{}", serde_json::to_string_pretty(all)?),
        }
    } else if !a.jsonl && device.is_cpu() && grid.ops.len() == 2 {
        for pair in reports.chunks(2) {
            if let [fast, reference] = pair {
                println!(
                    "{} at {}px: fast ops: {:.2}x candle's ops",
                    fast.depth,
                    fast.size,
                    fast.images_per_s / reference.images_per_s.max(1e-9)
                );
            }
        }
    }
    if failed > 0 {
        bail!(
            "{failed} of {} benchmark configurations failed",
            configs.len()
        );
    }
    Ok(())
}

/// A line a reader may act on at once (the GPU check keeps what finished
/// before a timeout), so it is flushed.
fn emit_line(line: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}")?;
    out.flush()?;
    Ok(())
}

fn print_report(r: &BenchReport) {
    println!(
        "{} (width {}, batch_norm {}) {}x{} batch {} on {} with {} threads, {} ops: {:.1} images/s; forward {:.1} ms, backward+update {:.1} ms per step; {} parameters; peak memory {}{}",
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
            .map_or("n/a".to_string(), |m| format!("{m:.0} MB")),
        r.peak_gpu_allocated_mb
            .map_or(String::new(), |m| format!(", GPU tensors {m:.0} MiB"))
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
    let (depth, batch, size) = match (
        a.grid.depth.as_slice(),
        a.grid.batch.as_slice(),
        a.grid.size.as_slice(),
    ) {
        ([d], [b], [s]) => (d, *b, *s),
        _ => bail!(crate::InvalidInput(
            "--per-op takes one --depth, --batch and --size".into()
        )),
    };
    bench_grid::batches_per_size(&[batch], &[size])?;
    let shapes = ablate_train::bench_ops::layer_shapes(depth, a.grid.width, batch, size)
        .map_err(|e| crate::InvalidInput(e.to_string()))?;
    let r = ablate_train::bench_ops::per_op(&shapes, a.grid.steps.max(1))
        .map_err(|e| crate::InvalidInput(e.to_string()))?;
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
