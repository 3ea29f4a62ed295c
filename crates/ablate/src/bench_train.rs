//! `ablate bench train`: prints what `ablate_train::bench` measures.

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
    pub json: bool,
}

pub fn run(a: Args) -> Result<()> {
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
    let opts = ablate_train::bench::BenchOptions {
        depth: a.depth,
        width: a.width,
        batch: a.batch,
        size: a.size,
        steps: a.steps.max(1),
        warmup: 1,
        batch_norm: a.batch_norm,
        device,
    };
    let r = ablate_train::bench::run(&opts).map_err(|e| crate::InvalidInput(e.message))?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&r)?);
    } else {
        println!(
            "{} (width {}, batch_norm {}) {}x{} batch {} on {} with {} threads: {:.1} images/s; forward {:.1} ms, backward+update {:.1} ms per step; {} parameters; peak memory {}",
            r.depth,
            r.width,
            r.batch_norm,
            r.size,
            r.size,
            r.batch,
            r.device,
            r.threads,
            r.images_per_s,
            r.forward_ms,
            r.backward_update_ms,
            r.parameters,
            r.peak_rss_mb
                .map_or("n/a".to_string(), |m| format!("{m:.0} MB"))
        );
    }
    Ok(())
}
