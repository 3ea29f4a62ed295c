//! `ablate data`: inspect a dataset, prepare a sweep's caches, preview synthetic faces.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use ablate_data::{Scan, Skipped, Summary};
use ablate_spec::types::{DatasetSpec, Source, Split};
use anyhow::{Context, Result, bail};
use rayon::prelude::*;

use crate::progress::Progress;

/// Dataset kinds `--kind` accepts.
pub const KINDS: &[&str] = &[
    "utkface",
    "lfw",
    "fgnet",
    "csv",
    "synthetic-faces",
    "synthetic-objects",
];

/// A dataset given on the command line (`--kind KIND PATH`) rather than by a sweep file.
pub fn spec_from_kind(kind: &str, path: &Path, min_images: u32) -> Result<DatasetSpec> {
    let p = path.to_string_lossy().into_owned();
    let source = match kind {
        "utkface" => Source::Utkface { path: p },
        "lfw" => Source::Lfw {
            path: p,
            min_images,
        },
        "fgnet" => Source::Fgnet { path: p },
        "csv" => Source::Csv {
            path: p,
            root: None,
            columns: Box::new(ablate_data::csv_default_columns(path)?),
        },
        other => bail!(crate::InvalidInput(format!(
            "unknown dataset kind {other:?}: expected one of {}",
            KINDS.join(", ")
        ))),
    };
    Ok(DatasetSpec {
        source,
        split: Split::Fractions {
            train: 0.7,
            val: 0.15,
            test: 0.15,
            seed: 0,
        },
        strict: false,
        max_images: None,
    })
}

/// A named dataset of a sweep file, with the folder its paths are relative to.
pub fn spec_from_sweep(file: &Path, name: &str) -> Result<(DatasetSpec, PathBuf)> {
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
pub fn inspect(spec: &DatasetSpec, base: &Path, json: bool, strict: bool) -> Result<()> {
    let mut scan = ablate_data::scan(&spec.source, base)?;
    if let Some(root) = ablate_data::root(&spec.source, base) {
        decode_all(&mut scan, &root);
    }
    let summary = ablate_data::summarize(&scan);
    let folder = |r: PathBuf| match r.display().to_string() {
        s if s.is_empty() => ".".to_string(),
        s => s,
    };
    let location = match (&spec.source, ablate_data::root(&spec.source, base)) {
        (Source::Csv { path, .. }, root) => format!(
            "{} (image paths relative to {})",
            base.join(path).display(),
            root.map_or_else(|| ".".to_string(), folder)
        ),
        (_, Some(root)) => folder(root),
        (_, None) => "(generated)".to_string(),
    };
    if json {
        let v =
            serde_json::json!({ "kind": spec.source.kind(), "path": location, "summary": summary });
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        print!("{}", render(spec.source.kind(), &location, &summary));
    }
    if strict && summary.skipped > 0 {
        bail!(crate::InvalidInput(format!(
            "{location}: {} files skipped (--strict)",
            summary.skipped
        )));
    }
    Ok(())
}

fn decode_all(scan: &mut Scan, root: &Path) {
    let progress = Progress::new("decoding");
    let total = scan.samples.len();
    let done = std::sync::atomic::AtomicUsize::new(0);
    let results: Vec<Result<(), ablate_data::SkipReason>> = scan
        .samples
        .par_iter()
        .map(|s| {
            let r = ablate_data::check_decodes(&root.join(&s.path));
            let n = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
            if n.is_multiple_of(256) || n == total {
                progress.update(n, total);
            }
            r
        })
        .collect();
    progress.finish();
    let samples = std::mem::take(&mut scan.samples);
    for (s, r) in samples.into_iter().zip(results) {
        match r {
            Ok(()) => scan.samples.push(s),
            Err(reason) => scan.skipped.push(Skipped {
                path: s.path,
                reason,
            }),
        }
    }
}

fn render(kind: &str, location: &str, s: &Summary) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(out, "{kind} dataset at {location}");
    let _ = writeln!(
        out,
        "  images: {} usable, {} skipped{}",
        s.images,
        s.skipped,
        if s.excluded > 0 {
            format!(
                ", {} excluded ({})",
                s.excluded,
                s.exclusion_rule.as_deref().unwrap_or("")
            )
        } else {
            String::new()
        }
    );
    if s.with_age > 0 {
        let _ = writeln!(
            out,
            "  ages: {} labelled, mean {:.1}",
            s.with_age,
            s.age_mean.unwrap_or(0.0)
        );
        let max = s
            .age_histogram
            .iter()
            .map(|(_, n)| *n)
            .max()
            .unwrap_or(1)
            .max(1);
        for (bin, n) in &s.age_histogram {
            let _ = writeln!(out, "    {bin:>5}  {n:>6}  {}", "#".repeat(n * 40 / max));
        }
    }
    if s.male + s.female > 0 {
        let total = (s.male + s.female) as f64;
        let _ = writeln!(
            out,
            "  gender: {} male ({:.1}%), {} female ({:.1}%), {} without a label",
            s.male,
            100.0 * s.male as f64 / total,
            s.female,
            100.0 * s.female as f64 / total,
            s.without_gender
        );
    }
    if s.identities > 0 {
        let _ = writeln!(
            out,
            "  identities: {} people; {} with 2+ images, {} with 10+; at most {} images of one person",
            s.identities, s.identities_2plus, s.identities_10plus, s.images_per_identity_max
        );
    }
    if s.classes > 0 {
        let _ = writeln!(out, "  classes: {}", s.classes);
    }
    if s.skipped > 0 {
        let _ = writeln!(out, "skipped by reason:");
        for (reason, n) in &s.skipped_by_reason {
            let _ = writeln!(out, "  {reason}: {n}");
        }
        let _ = writeln!(out, "first {} skipped:", s.first_skipped.len());
        for k in &s.first_skipped {
            let _ = writeln!(out, "  {}: {}", k.path, k.reason);
        }
    }
    out
}

/// Builds every (dataset, input size) cache the sweep's trials use, in `<output>/cache`.
pub fn prepare(file: &Path, only: Option<&str>) -> Result<()> {
    let sweep = ablate_spec::load(file)?;
    let base = file.parent().unwrap_or(Path::new(""));
    let dir = sweep.output.join("cache");
    let mut wanted = BTreeSet::new();
    for t in &sweep.trials {
        if let Some((name, _)) = sweep.dataset_of(&t.config) {
            wanted.insert((name.clone(), t.config.train.input_size));
        }
    }
    if let Some(only) = only {
        if !sweep.datasets.contains_key(only) {
            bail!(crate::InvalidInput(format!(
                "{} has no dataset {only:?}",
                file.display()
            )));
        }
        wanted.retain(|(n, _)| n == only);
    }
    for (name, size) in wanted {
        let spec = &sweep.datasets[&name];
        let path = ablate_data::cache_path(&dir, &name, size);
        let progress = Progress::new(&format!("{name} {size}px"));
        let done = ablate_data::prepare(spec, base, size, &path, &|d, t| progress.update(d, t))
            .with_context(|| format!("dataset {name:?} of {}", file.display()))?;
        progress.finish();
        if done.reused {
            println!(
                "{name} @ {size}px: up to date ({} images) in {}",
                done.images,
                path.display()
            );
        } else {
            println!(
                "{name} @ {size}px: {} images, {} skipped, {} excluded; built in {:.1} s ({:.0} images/s) -> {}",
                done.images,
                done.skipped,
                done.excluded,
                done.seconds,
                done.images_per_s(),
                path.display()
            );
        }
    }
    Ok(())
}

/// Writes a labelled montage of a built-in synthetic set.
pub fn preview(kind: &str, out: &Path, count: usize, size: u32, seed: u64) -> Result<()> {
    use ablate_data::synth::{Gender, SyntheticFaces, SyntheticObjects};
    if !(16..=256).contains(&size) {
        bail!(crate::InvalidInput(format!(
            "--size {size} is out of range: use 16 to 256"
        )));
    }
    let count = count.clamp(1, 1024);
    let tiles: Vec<(Vec<u8>, String)> = match kind {
        "synthetic-faces" => {
            // Several images of each person, so identity consistency is visible too.
            let per = 4;
            let faces = SyntheticFaces::new(count.div_ceil(per) as u32, per as u32, seed);
            (0..count)
                .map(|i| {
                    let l = faces.label(i);
                    let g = if l.gender == Gender::Male { "m" } else { "f" };
                    (
                        faces.render(i, size),
                        format!("id{} {g} {}", l.identity, l.age),
                    )
                })
                .collect()
        }
        "synthetic-objects" => {
            let objects = SyntheticObjects::new(count.min(100) as u32, 1, seed);
            (0..count.min(objects.len()))
                .map(|i| {
                    (
                        objects.render(i, size),
                        objects.class_name(objects.label(i)),
                    )
                })
                .collect()
        }
        other => bail!(crate::InvalidInput(format!(
            "cannot preview {other:?}: expected synthetic-faces or synthetic-objects"
        ))),
    };
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
    let parts = ablate_train::trainer::trial_split(&input)
        .map_err(|e| crate::InvalidInput(format!("{}: {e}", trial.display())))?;
    let sink: Box<dyn std::io::Write> = match out {
        Some(p) => Box::new(
            std::fs::File::create(p).with_context(|| format!("cannot create {}", p.display()))?,
        ),
        None => Box::new(std::io::stdout().lock()),
    };
    let mut w = csv::Writer::from_writer(sink);
    w.write_record(["index", "part", "path", "age", "gender", "identity"])?;
    let opt = |v: Option<String>| v.unwrap_or_default();
    for (part, idx) in [
        ("train", &parts.train),
        ("val", &parts.val),
        ("test", &parts.test),
    ] {
        for &i in idx {
            let s = &parts.cache.samples[i];
            w.write_record([
                i.to_string(),
                part.to_string(),
                s.path.clone(),
                opt(s.age.map(|a| a.to_string())),
                opt(s.gender.map(|g| g.to_string())),
                opt(s.identity.map(|g| g.to_string())),
            ])?;
        }
    }
    w.flush()?;
    Ok(())
}
