//! `ablate data inspect` as a library: a dataset named on the command line by
//! its kind, every image decoded (so corrupt files are counted), where the
//! dataset is, and the text of its summary.

use std::path::{Path, PathBuf};

use ablate_spec::types::{DatasetSpec, Source, Split};
use rayon::prelude::*;

use crate::prepare::Progress;
use crate::{DataError, Scan, Skipped, Summary};

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
pub fn spec_of_kind(kind: &str, path: &Path, min_images: u32) -> Result<DatasetSpec, DataError> {
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
            columns: Box::new(crate::scan::csv::default_columns(path)?),
        },
        other => {
            return Err(DataError::UnknownKind {
                kind: other.to_string(),
            });
        }
    };
    Ok(DatasetSpec {
        source,
        split: Split::DEFAULT,
        strict: false,
        max_images: None,
    })
}

/// Where a dataset is, for people: its folder, a manifest with the folder its
/// image paths are relative to, or "(generated)".
pub fn location(source: &Source, base: &Path) -> String {
    let folder = |r: PathBuf| match r.display().to_string() {
        s if s.is_empty() => ".".to_string(),
        s => s,
    };
    match (source, crate::root(source, base)) {
        (Source::Csv { path, .. }, root) => format!(
            "{} (image paths relative to {})",
            base.join(path).display(),
            root.map_or_else(|| ".".to_string(), folder)
        ),
        (_, Some(root)) => folder(root),
        (_, None) => "(generated)".to_string(),
    }
}

/// Decodes every image of `scan` (files under `root`), moving those that fail
/// to its skipped files with the reason, so corrupt files are counted.
pub fn decode_all(scan: &mut Scan, root: &Path, progress: Progress<'_>) {
    let total = scan.samples.len();
    let done = std::sync::atomic::AtomicUsize::new(0);
    let results: Vec<Result<(), crate::SkipReason>> = scan
        .samples
        .par_iter()
        .map(|s| {
            let r = crate::check_decodes(&root.join(&s.path));
            let n = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
            if n.is_multiple_of(256) || n == total {
                progress(n, total);
            }
            r
        })
        .collect();
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

/// The text `ablate data inspect` prints.
pub fn text(kind: &str, location: &str, s: &Summary) -> String {
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
