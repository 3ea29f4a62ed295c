//! The benchmarks' text for people: one line per training measurement, a
//! table of per-kernel times.

use std::fmt;

use crate::bench::BenchReport;
use crate::bench_ops::PerOpReport;

impl fmt::Display for BenchReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = self;
        write!(
            f,
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
            (r.peak_rss_mb).map_or("n/a".to_string(), |m| format!("{m:.0} MB")),
            (r.peak_gpu_allocated_mb)
                .map_or(String::new(), |m| format!(", GPU tensors {m:.0} MiB"))
        )
    }
}

impl fmt::Display for PerOpReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "per-op CPU times, {} threads, best of {} runs (ms):",
            self.threads, self.runs
        )?;
        writeln!(
            f,
            "{:<26} {:<20} {:>6} {:>10} {:>10} {:>8}",
            "op", "shape", "layers", "candle", "fast", "speedup"
        )?;
        for t in &self.timings {
            writeln!(
                f,
                "{:<26} {:<20} {:>6} {:>10.2} {:>10.2} {:>7.1}x",
                t.op,
                t.shape,
                t.layers,
                t.candle_ms,
                t.fast_ms,
                t.candle_ms / t.fast_ms.max(1e-9)
            )?;
        }
        let (candle, fast) = self.step_ms();
        writeln!(
            f,
            "conv work of one training step (fused forward, input grad, weight grad; x layers): candle {candle:.1} ms, fast {fast:.1} ms"
        )
    }
}

#[cfg(test)]
mod tests {
    use crate::bench_ops::{OpTiming, PerOpReport};

    #[test]
    fn the_per_op_table_sums_a_steps_kernels_times_their_layers() {
        let t = |op: &str, layers: usize, in_step: bool| OpTiming {
            op: op.into(),
            shape: "8x32x16x16".into(),
            layers,
            in_step,
            candle_ms: 4.0,
            fast_ms: 1.0,
        };
        let r = PerOpReport {
            threads: 2,
            runs: 3,
            timings: vec![t("conv forward", 2, true), t("max pool", 3, false)],
        };
        let text = r.to_string();
        assert!(text.starts_with("per-op CPU times, 2 threads, best of 3 runs (ms):\n"));
        assert!(text.contains("     4.00       1.00     4.0x\n"), "{text}");
        assert!(text.ends_with("candle 8.0 ms, fast 2.0 ms\n"), "{text}");
    }
}
