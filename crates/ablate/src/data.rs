//! `ablate data`: inspect a dataset, prepare a sweep's caches, preview synthetic faces.

use std::path::{Path, PathBuf};

use ablate_data::inspect;
use ablate_spec::types::DatasetSpec;
use anyhow::{Context, Result, bail};

use crate::progress::Progress;

/// `ablate data inspect`'s flags.
#[derive(clap::Args, Debug)]
pub struct InspectArgs {
    /// A dataset folder (csv: manifest) with --kind, or a sweep file followed by a dataset name.
    target: PathBuf,
    /// The dataset's name in the sweep file.
    name: Option<String>,
    /// Dataset kind of a folder given directly: utkface, lfw, fgnet, csv.
    #[arg(long)]
    kind: Option<String>,
    /// lfw: leave out people with fewer images.
    #[arg(long, default_value_t = 1)]
    min_images: u32,
    #[arg(long)]
    json: bool,
    /// Exit non-zero (2) if any file was skipped.
    #[arg(long)]
    strict: bool,
}

/// A named dataset of a sweep file, with the folder its paths are relative to.
fn spec_from_sweep(file: &Path, name: &str) -> Result<(DatasetSpec, PathBuf)> {
    let sweep = ablate_spec::load(file)?;
    let Some(spec) = sweep.datasets.get(name) else {
        let names: Vec<&str> = sweep.datasets.keys().map(String::as_str).collect();
        bail!(crate::InvalidInput(format!(
            "{} has no dataset {name:?}; its datasets are: {}",
            file.display(),
            names.join(", ")
        )));
    };
    Ok((
        spec.clone(),
        file.parent().unwrap_or(Path::new("")).to_path_buf(),
    ))
}

/// Scans and fully decodes every image (so corrupt files are counted), then summarises.
pub fn inspect(a: &InspectArgs) -> Result<()> {
    let (spec, base) = match (&a.kind, &a.name) {
        (Some(kind), None) => (
            inspect::spec_of_kind(kind, &a.target, a.min_images)?,
            PathBuf::new(),
        ),
        (None, Some(name)) => spec_from_sweep(&a.target, name)?,
        (Some(_), Some(_)) => bail!(crate::InvalidInput(
            "give either --kind KIND PATH or SWEEP.toml NAME, not both".into()
        )),
        (None, None) => bail!(crate::InvalidInput(format!(
            "which dataset? use `ablate data inspect --kind KIND PATH` or `ablate data inspect SWEEP.toml NAME` (kinds: {})",
            inspect::KINDS.join(", ")
        ))),
    };
    let mut scan = ablate_data::scan(&spec.source, &base)?;
    if let Some(root) = ablate_data::root(&spec.source, &base) {
        let progress = Progress::new("decoding");
        inspect::decode_all(&mut scan, &root, &|n, total| progress.update(n, total));
        progress.finish();
    }
    let summary = ablate_data::summarize(&scan);
    let location = inspect::location(&spec.source, &base);
    if a.json {
        let v =
            serde_json::json!({ "kind": spec.source.kind(), "path": location, "summary": summary });
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        print!("{}", inspect::text(spec.source.kind(), &location, &summary));
    }
    if (a.strict || spec.strict) && summary.skipped > 0 {
        bail!(crate::InvalidInput(format!(
            "{location}: {} files skipped (--strict)",
            summary.skipped
        )));
    }
    Ok(())
}

/// Builds every (dataset, input size) cache the sweep's trials use, in
/// `<output>/cache`, checked and built as `ablate run` builds them.
pub fn prepare(file: &Path, only: Option<&str>) -> Result<()> {
    let sweep = ablate_spec::load(file)?;
    if let Some(only) = only
        && !sweep.datasets.contains_key(only)
    {
        bail!(crate::InvalidInput(format!(
            "{} has no dataset {only:?}",
            file.display()
        )));
    }
    let output = std::path::absolute(&sweep.output)?;
    let configs: Vec<_> = sweep
        .trials
        .iter()
        .map(|t| &t.config)
        .filter(|c| only.is_none_or(|o| sweep.dataset_of(c).is_some_and(|(n, _)| n == o)))
        .collect();
    let mut jobs = ablate_orchestrator::cache_jobs(&sweep, &output, &configs)?;
    jobs.sort_by(|a, b| (a.name, a.size).cmp(&(b.name, b.size)));
    for job in jobs {
        let (name, size) = (job.name.to_string(), job.size);
        let progress = Progress::new(&format!("{name} {size}px"));
        let done = job
            .build(&|d, t| progress.update(d, t))
            .with_context(|| format!("dataset {name:?} of {}", file.display()))?;
        progress.finish();
        println!("{}", done.describe(&name, size));
    }
    Ok(())
}

/// Writes a labelled montage of a built-in synthetic set.
pub fn preview(kind: &str, out: &Path, count: usize, size: u32, seed: u64) -> Result<()> {
    if !(16..=256).contains(&size) {
        bail!(crate::InvalidInput(format!(
            "--size {size} is out of range: use 16 to 256"
        )));
    }
    let tiles = ablate_data::synth::preview_tiles(kind, count, size, seed).ok_or_else(|| {
        crate::InvalidInput(format!(
            "cannot preview {kind:?}: expected synthetic-faces or synthetic-objects"
        ))
    })?;
    let columns = (tiles.len() as f64).sqrt().ceil() as u32;
    let png = ablate_data::synth::montage_png(&tiles, size, columns)?;
    std::fs::write(out, png).with_context(|| format!("cannot write {}", out.display()))?;
    println!(
        "wrote {} ({} images, {size}x{size} px each)",
        out.display(),
        tiles.len()
    );
    Ok(())
}

/// `ablate data split`: a trial's parts as CSV, read through the trainer's own
/// `trial_split` so the rows cannot drift from what the worker trains on.
pub fn split(trial: &Path, out: Option<&Path>) -> Result<()> {
    let text = std::fs::read_to_string(trial)
        .with_context(|| format!("cannot read trial file {}", trial.display()))?;
    let input: ablate_train::TrialInput = serde_json::from_str(&text).map_err(|e| {
        crate::InvalidInput(format!(
            "{}: not a trial file ({e}); trial files are written by `ablate run` at <output>/trials/<id>/trial.json",
            trial.display()
        ))
    })?;
    let split = ablate_train::trainer::trial_split(&input)
        .map_err(|e| crate::InvalidInput(format!("{}: {e}", trial.display())))?;
    let sink: Box<dyn std::io::Write> = match out {
        Some(p) => Box::new(
            std::fs::File::create(p).with_context(|| format!("cannot create {}", p.display()))?,
        ),
        None => Box::new(std::io::stdout().lock()),
    };
    let parts = [
        ("train", split.train.as_slice()),
        ("val", split.val.as_slice()),
        ("test", split.test.as_slice()),
    ];
    ablate_data::write_parts_csv(sink, &split.cache.samples, parts)?;
    Ok(())
}
