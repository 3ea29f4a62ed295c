//! `ablate bench data`: how fast caches are built and loaded, on a real folder.

use std::path::Path;
use std::time::Instant;

use anyhow::{Result, bail};

use crate::progress::Progress;

pub fn data(kind: &str, path: &Path, size: u32, json: bool) -> Result<()> {
    if !path.exists() {
        bail!(crate::InvalidInput(format!(
            "{} does not exist; pass --path to a {kind} dataset folder",
            path.display()
        )));
    }
    let spec = ablate_data::inspect::spec_of_kind(kind, path, 1)?;
    let dir = tempfile::tempdir()?;
    let cache = ablate_data::cache_path(dir.path(), "bench", size);
    let threads = rayon::current_num_threads();
    let progress = Progress::new("building cache");
    let built = ablate_data::prepare(&spec, Path::new(""), size, &cache, &|d, t| {
        progress.update(d, t);
    })?;
    progress.finish();
    let bytes = std::fs::metadata(&cache)?.len();
    // The first load may come from disk, later ones from the page cache: report both.
    let mut loads = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        let c = ablate_data::Cache::load(&cache)?;
        loads.push(t.elapsed().as_secs_f64());
        std::hint::black_box(c.len());
    }
    let first = loads[0];
    let mut warm = loads[1..].to_vec();
    warm.sort_by(f64::total_cmp);
    let median = warm[warm.len() / 2];
    if json {
        let v = serde_json::json!({
            "kind": kind, "path": path.display().to_string(), "size": size, "threads": threads,
            "images": built.images, "skipped": built.skipped,
            "build_s": built.seconds, "build_images_per_s": built.images_per_s(),
            "cache_bytes": bytes, "load_first_s": first, "load_median_s": median,
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        println!(
            "cache build: {} images ({} skipped) at {size}x{size} in {:.2} s = {:.0} images/s ({threads} threads)",
            built.images,
            built.skipped,
            built.seconds,
            built.images_per_s()
        );
        println!(
            "cache load:  {:.1} MB in {:.3} s first, {:.3} s median of 4 more ({:.0} MB/s)",
            bytes as f64 / 1e6,
            first,
            median,
            bytes as f64 / 1e6 / median
        );
    }
    Ok(())
}
