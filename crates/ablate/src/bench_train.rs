//! `ablate bench train`: prints what `ablate_train::bench_grid` measures:
//! training steps of each configuration of a grid, or (`--per-op`) each conv and
//! pool kernel on both CPU paths.

use std::io::Write;
use std::time::{Duration, Instant};

use ablate_spec::types::Precision;
use anyhow::{Result, bail};
use candle_core::Device;
use serde::Serialize;

use ablate_train::bench_grid::{self, Grid};

/// `ablate bench train`'s flags: the grid to measure, and how.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Depth preset(s), comma-separated; `bench` is the fixed benchmark net
    /// (8 conv 32-64-128-256, FC 256, 10 classes). Lists of presets, sizes and
    /// BatchNorm settings run one after the other in this one process.
    #[arg(long, default_value = "bench", value_delimiter = ',')]
    depth: Vec<String>,
    #[arg(long, default_value_t = 1.0)]
    width: f64,
    /// Batch size: one for every --size, or one per --size in the same order.
    #[arg(long, default_value = "64", value_delimiter = ',')]
    batch: Vec<usize>,
    /// Input side in pixels, comma-separated for several.
    #[arg(long, default_value = "64", value_delimiter = ',')]
    size: Vec<usize>,
    #[arg(long, default_value_t = 5)]
    steps: usize,
    /// Untimed steps before the timed ones (their total time is reported as warmup_ms).
    #[arg(long, default_value_t = 1)]
    warmup: usize,
    #[arg(long, default_value_t = 2)]
    pub threads: usize,
    /// BatchNorm after each conv and hidden FC layer (off in the benchmark net):
    /// `--batch-norm` (on), or `--batch-norm=off,on` for both.
    #[arg(
        long,
        value_name = "off,on",
        num_args = 0..=1,
        require_equals = true,
        default_value = "off",
        default_missing_value = "on",
        value_delimiter = ',',
        value_parser = crate::flags::on_off
    )]
    batch_norm: Vec<bool>,
    /// cpu or cuda.
    #[arg(long, default_value = "cpu")]
    device: String,
    /// CPU kernels: fast (ablate's cpu_ops), candle (candle's own, the
    /// reference), or both, one after the other (--json then prints an array).
    #[arg(long, default_value = "both")]
    ops: String,
    /// The arithmetic of CUDA matrix products, as `[train] precision`: fp32
    /// (strict; set NVIDIA_TF32_OVERRIDE=0 to keep cuDNN from TF32 too) or tf32.
    #[arg(long, default_value = "fp32", value_parser = precision)]
    precision: Precision,
    /// Instead of training steps, time each conv and pool kernel on both paths (best of --steps runs).
    #[arg(long)]
    per_op: bool,
    /// One pretty JSON report (an array when there are several).
    #[arg(long)]
    json: bool,
    /// One compact JSON line per measurement, printed as each finishes; a
    /// configuration that fails prints a line with its `error` and the rest go on.
    #[arg(long, conflicts_with = "json")]
    jsonl: bool,
    /// Start no step after this many seconds from the process's start; what
    /// is left is reported as not run (exit 1). 0 (nothing starts) to 604800.
    #[arg(long, value_parser = crate::flags::budget_seconds::<604_800>)]
    max_seconds: Option<f64>,
}

fn precision(name: &str) -> Result<Precision, String> {
    Precision::from_name(name).ok_or_else(|| format!("expected {}", Precision::NAMES.join(" or ")))
}

impl Args {
    /// The library's grid of these flags.
    fn grid(&self) -> Result<Grid> {
        Ok(Grid {
            depth: self.depth.clone(),
            width: self.width,
            batch: self.batch.clone(),
            size: self.size.clone(),
            steps: self.steps,
            warmup: self.warmup,
            batch_norm: self.batch_norm.clone(),
            ops: bench_grid::ops_of(&self.ops)?,
            precision: self.precision,
        })
    }
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
    let grid = &a.grid()?;
    if a.per_op {
        return per_op(a, grid);
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
                    println!("{r}");
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

/// Each conv layer shape of `--depth` at `--width` (and the pool ending each
/// stage), at `--batch` and `--size`, best of `--steps` runs; `--ops` does not
/// apply, both paths are timed.
fn per_op(a: &Args, grid: &Grid) -> Result<()> {
    if a.device != "cpu" {
        bail!(crate::InvalidInput(
            "--per-op times CPU kernels: use --device cpu".into()
        ));
    }
    let (depth, batch, size) = match (
        grid.depth.as_slice(),
        grid.batch.as_slice(),
        grid.size.as_slice(),
    ) {
        ([d], [b], [s]) => (d, *b, *s),
        _ => bail!(crate::InvalidInput(
            "--per-op takes one --depth, --batch and --size".into()
        )),
    };
    bench_grid::batches_per_size(&[batch], &[size])?;
    let shapes = ablate_train::bench_ops::layer_shapes(depth, grid.width, batch, size)
        .map_err(|e| crate::InvalidInput(e.to_string()))?;
    let r = ablate_train::bench_ops::per_op(&shapes, grid.steps.max(1))
        .map_err(|e| crate::InvalidInput(e.to_string()))?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&r)?);
        return Ok(());
    }
    print!("{r}");
    Ok(())
}
