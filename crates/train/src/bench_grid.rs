//! `ablate bench train`'s measurements as a library: the grid of
//! configurations (sizes outermost, then presets, BatchNorm settings and op
//! paths), checked before anything runs, and one measurement of each, with a
//! panic inside candle reported as that entry's failure so the others go on.
//!
//! Lists of presets, sizes and BatchNorm settings run in one process, so that on
//! a GPU the CUDA context and the PTX JIT are paid once, not once per number.

use std::time::Instant;

use candle_core::Device;

use ablate_spec::types::Precision;

use crate::bench::{BenchOptions, BenchReport};
use crate::error::TrainError;
use crate::model::Ops;

/// What to measure: every combination of the lists.
#[derive(Debug, Clone)]
pub struct Grid {
    pub depth: Vec<String>,
    pub width: f64,
    /// One batch size for every size, or one per size in the same order.
    pub batch: Vec<usize>,
    pub size: Vec<usize>,
    pub steps: usize,
    pub warmup: usize,
    pub batch_norm: Vec<bool>,
    pub ops: Vec<Ops>,
    /// The arithmetic of CUDA matrix products; fp32 only on the CPU.
    pub precision: Precision,
}

/// One measurement to make.
#[derive(Debug, Clone)]
pub struct Config {
    pub depth: String,
    pub size: usize,
    pub batch: usize,
    pub batch_norm: bool,
    pub ops: Ops,
}

/// The op paths `--ops` names: `fast`, `candle`, or `both` (the fast path, then
/// candle's as the reference).
pub fn ops_of(name: &str) -> Result<Vec<Ops>, TrainError> {
    match name {
        "both" => Ok(vec![Ops::Fast, Ops::Candle]),
        one => Ok(vec![one.parse().map_err(|_: String| {
            TrainError::BadConfig(format!("--ops {one:?}: expected fast, candle or both"))
        })?]),
    }
}

/// `batch` gives one batch size for every size, or one per size, in order.
pub fn batches_per_size(batch: &[usize], size: &[usize]) -> Result<Vec<usize>, TrainError> {
    let bad = |m: String| Err(TrainError::BadConfig(m));
    if let Some(b) = batch.iter().find(|b| !(1..=4096).contains(*b)) {
        return bad(format!("--batch {b}: must be 1..=4096"));
    }
    if let Some(s) = size.iter().find(|s| !(16..=512).contains(*s)) {
        return bad(format!("--size {s}: must be 16..=512"));
    }
    match batch {
        [one] => Ok(vec![*one; size.len()]),
        many if many.len() == size.len() => Ok(many.to_vec()),
        many => bad(format!(
            "--batch has {} values for {} sizes: give one batch size, or one per --size in the same order",
            many.len(),
            size.len()
        )),
    }
}

impl Grid {
    /// The lists checked (batch sizes, sizes, presets), before any device is
    /// started; returns the batch size of each size.
    pub fn check(&self) -> Result<Vec<usize>, TrainError> {
        let batches = batches_per_size(&self.batch, &self.size)?;
        for d in &self.depth {
            if ablate_spec::presets::find(d).is_none() {
                return Err(TrainError::BadConfig(format!(
                    "--depth {d:?}: unknown depth; expected one of {}",
                    ablate_spec::presets::names().join(", ")
                )));
            }
        }
        Ok(batches)
    }

    /// Every configuration, sizes outermost, after checking the lists. CUDA
    /// tensors always run candle's kernels: one path to time there.
    pub fn configs(&self, device: &Device) -> Result<Vec<Config>, TrainError> {
        let batches = self.check()?;
        if device.is_cpu() && self.precision != Precision::Fp32 {
            return Err(TrainError::BadConfig(format!(
                "--precision {} is for CUDA (--device cuda); the CPU computes in fp32",
                self.precision.as_str()
            )));
        }
        let paths = if device.is_cpu() {
            self.ops.clone()
        } else {
            vec![Ops::Candle]
        };
        let mut configs = Vec::new();
        for (&size, &batch) in self.size.iter().zip(&batches) {
            for depth in &self.depth {
                for &batch_norm in &self.batch_norm {
                    for &ops in &paths {
                        configs.push(Config {
                            depth: depth.clone(),
                            size,
                            batch,
                            batch_norm,
                            ops,
                        });
                    }
                }
            }
        }
        Ok(configs)
    }

    /// Measures `c` on `device` in the kernels' thread pool; a panic inside
    /// candle is this entry's failure (its message), not the process's end.
    /// `None` past `deadline`: not run.
    pub fn measure(
        &self,
        c: &Config,
        device: &Device,
        deadline: Option<Instant>,
    ) -> Option<Result<BenchReport, String>> {
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return None;
        }
        let opts = BenchOptions {
            depth: c.depth.clone(),
            width: self.width,
            batch: c.batch,
            size: c.size,
            steps: self.steps.max(1),
            warmup: self.warmup,
            batch_norm: c.batch_norm,
            device: device.clone(),
            ops: c.ops,
            deadline,
            precision: self.precision,
        };
        let on_pool = crate::pool::install(|| {
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| crate::bench::run(&opts)))
        });
        Some(match on_pool {
            Err(e) => Err(format!("cannot start the thread pool: {e}")),
            Ok(Ok(r)) => r.map_err(|e| e.to_string()),
            Ok(Err(p)) => Err(format!(
                "panicked: {}",
                p.downcast_ref::<String>()
                    .map(String::as_str)
                    .or_else(|| p.downcast_ref::<&str>().copied())
                    .unwrap_or("(no message)")
            )),
        })
    }
}
