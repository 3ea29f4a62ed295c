//! Building caches: scan, pick, decode or render in parallel, write atomically.
//! A cache whose fingerprint matches the source is reused untouched.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use ablate_spec::types::DatasetSpec;
use rayon::prelude::*;
use sha2::{Digest, Sha256};

use crate::cache::{self, Meta};
use crate::error::DataError;
use crate::sample::{Sample, Scan, SkipReason, Skipped};
use crate::split::stable_hash;
use crate::synthetic::Generator;
use crate::{decode, scan, synth};

/// Decoded pixels held in memory at once while a cache is built.
const CHUNK_BYTES: usize = 256 << 20;

/// What `prepare` did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Prepared {
    pub path: PathBuf,
    /// True when an up-to-date cache was found and nothing was decoded.
    pub reused: bool,
    pub images: usize,
    pub skipped: usize,
    pub excluded: usize,
    pub seconds: f64,
    /// The cache's content digest, recorded with every result trained on it.
    pub content: String,
}

impl Prepared {
    pub fn images_per_s(&self) -> f64 {
        self.images as f64 / self.seconds.max(1e-9)
    }

    /// What became of dataset `name`'s cache at `size` px, in a line for people.
    pub fn describe(&self, name: &str, size: u32) -> String {
        if self.reused {
            format!(
                "{name} @ {size}px: up to date ({} images) in {}",
                self.images,
                self.path.display()
            )
        } else {
            format!(
                "{name} @ {size}px: {} images, {} skipped, {} excluded; built in {:.1} s ({:.0} images/s) -> {}",
                self.images,
                self.skipped,
                self.excluded,
                self.seconds,
                self.images_per_s(),
                self.path.display()
            )
        }
    }
}

/// The cache file of dataset `name` at `size` pixels inside `dir`.
pub fn cache_path(dir: &Path, name: &str, size: u32) -> PathBuf {
    dir.join(format!("{name}-{size}px.cache"))
}

/// Progress callback: (done, total).
pub type Progress<'a> = &'a (dyn Fn(usize, usize) + Sync);

/// Scans a dataset and applies its `strict` and `max_images` rules.
pub fn scan_dataset(spec: &DatasetSpec, base: &Path) -> Result<Scan, DataError> {
    let mut scan = scan(&spec.source, base)?;
    strict_check(spec, base, &scan.skipped)?;
    if let Some(max) = spec
        .max_images
        .map(|m| m as usize)
        .filter(|m| *m < scan.samples.len())
    {
        // Ranked by a hash of the path, so adding files elsewhere does not reshuffle the subset.
        let mut ranked: Vec<(u64, usize)> = scan
            .samples
            .iter()
            .enumerate()
            .map(|(i, s)| (stable_hash(s.path.as_bytes()), i))
            .collect();
        ranked.sort_unstable();
        let mut keep: Vec<usize> = ranked[..max].iter().map(|(_, i)| *i).collect();
        keep.sort_unstable();
        scan.excluded += scan.samples.len() - max;
        scan.exclusion_rule = Some(match scan.exclusion_rule.take() {
            Some(rule) => format!("{rule}; a subset of {max} images (max_images)"),
            None => format!("a subset of {max} images (max_images)"),
        });
        scan.samples = keep.into_iter().map(|i| scan.samples[i].clone()).collect();
    }
    Ok(scan)
}

fn strict_check(spec: &DatasetSpec, base: &Path, skipped: &[Skipped]) -> Result<(), DataError> {
    match skipped.first() {
        Some(first) if spec.strict => Err(DataError::Strict {
            path: scan::root(&spec.source, base).unwrap_or_default(),
            skipped: skipped.len(),
            first: format!("{}: {}", first.path, first.reason),
        }),
        _ => Ok(()),
    }
}

/// Fingerprint of what the pixels and labels of a cache depend on. The split is not
/// part of it: splits are computed from the cached labels at load time.
pub fn fingerprint(spec: &DatasetSpec, size: u32, scan: &Scan) -> String {
    let mut h = Sha256::new();
    h.update(format!(
        "ablate-data/cache/v{}/gen{}\n",
        cache::FORMAT,
        synth::GENERATOR_VERSION
    ));
    h.update(serde_json::to_vec(&spec.source).unwrap_or_default());
    if matches!(spec.source, ablate_spec::types::Source::Csv { .. }) {
        // Since this marker a missing cell drops one label (not the row) and
        // gender codes are read only as declared: older csv caches are rebuilt.
        h.update(b"\ncsv labels v2");
    }
    h.update(format!("\nmax_images={:?}\nsize={size}\n", spec.max_images));
    if spec.max_images.is_some() {
        // Before this marker, a generated subset rendered each image at its position
        // in the subset, not its own index: such caches must be rebuilt.
        h.update(b"subset rendered by index\n");
    }
    for s in &scan.stamps {
        h.update(format!("{}\t{}\t{}\n", s.path, s.len, s.mtime_ns));
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// What the cache of `spec` at `size` in `out` holds: its images and bytes, and
/// whether an up-to-date one is there already (reused, nothing written). While it is written, its pixels are on the disk twice (a spool file,
/// then the cache), so building it needs twice the bytes for a moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheNeed {
    pub images: usize,
    /// The cache's size on disk (about: pixels plus a bound for the labels).
    pub bytes: u64,
    /// An up-to-date cache is there: building it writes nothing.
    pub reused: bool,
}

/// [`CacheNeed`] of a cache, from the dataset's [`scan_dataset`] (no image is
/// decoded).
pub fn cache_need(spec: &DatasetSpec, size: u32, out: &Path, scan: &Scan) -> CacheNeed {
    let images = scan.samples.len();
    let reused =
        cache::read_meta_file(out).is_ok_and(|m| m.fingerprint == fingerprint(spec, size, scan));
    // Pixels, plus a generous bound for the header's labels and paths.
    let per = u64::from(size).pow(2) * 3 + 512;
    CacheNeed {
        images,
        bytes: images as u64 * per,
        reused,
    }
}

/// Builds (or reuses) the cache of `spec` at `size` in `out`.
pub fn prepare(
    spec: &DatasetSpec,
    base: &Path,
    size: u32,
    out: &Path,
    progress: Progress<'_>,
) -> Result<Prepared, DataError> {
    prepare_scanned(spec, base, size, out, scan_dataset(spec, base)?, progress)
}

/// [`prepare`] from the dataset's [`scan_dataset`], for a caller that already
/// has it.
pub fn prepare_scanned(
    spec: &DatasetSpec,
    base: &Path,
    size: u32,
    out: &Path,
    mut scan: Scan,
    progress: Progress<'_>,
) -> Result<Prepared, DataError> {
    let start = Instant::now();
    let fp = fingerprint(spec, size, &scan);
    if let Ok(meta) = cache::read_meta_file(out)
        && meta.fingerprint == fp
    {
        // Caches written before content digests: compute it once from the file.
        let content = if meta.content.is_empty() {
            cache::Cache::load(out)?.content_digest()
        } else {
            meta.content.clone()
        };
        return Ok(Prepared {
            content,
            path: out.to_path_buf(),
            reused: true,
            images: meta.count,
            skipped: meta.skipped.len(),
            excluded: meta.excluded,
            seconds: start.elapsed().as_secs_f64(),
        });
    }

    let total = scan.samples.len();
    let done = AtomicUsize::new(0);
    let tick = || {
        let n = done.fetch_add(1, Ordering::Relaxed) + 1;
        if n.is_multiple_of(64) || n == total {
            progress(n, total);
        }
    };
    let generator = Generator::new(&spec.source);
    let root = scan::root(&spec.source, base).unwrap_or_default();
    let image = (size as usize).pow(2) * 3;
    // Decoded pixels are held one chunk at a time and stream into the cache file,
    // so memory stays bounded whatever the set's size; each chunk still decodes
    // in parallel.
    let chunk = (CHUNK_BYTES / image).max(1);
    let mut writer = cache::Writer::new(out)?;
    let all: Vec<Sample> = std::mem::take(&mut scan.samples);
    let mut samples = Vec::with_capacity(total);
    for (c, part) in all.chunks(chunk).enumerate() {
        let decoded: Vec<Result<Vec<u8>, SkipReason>> = part
            .par_iter()
            .enumerate()
            .map(|(j, s)| {
                let i = c * chunk + j;
                let r = match &generator {
                    // Generated paths are always `#<index>`; the position is only a fallback.
                    Some(g) => Ok(g.render(crate::synthetic::index_of(&s.path).unwrap_or(i), size)),
                    None => decode::load_square(&root.join(&s.path), size),
                };
                tick();
                r
            })
            .collect();
        for (sample, result) in part.iter().zip(decoded) {
            match result {
                Ok(p) => {
                    writer.push(&p)?;
                    samples.push(sample.clone());
                }
                Err(reason) => scan.skipped.push(Skipped {
                    path: sample.path.clone(),
                    reason,
                }),
            }
        }
    }
    strict_check(spec, base, &scan.skipped)?;
    if samples.is_empty() {
        return Err(DataError::NothingUsable {
            path: root,
            kind: spec.source.kind(),
            layout: "readable images",
            skipped: scan.skipped.len(),
            first_reason: scan
                .skipped
                .first()
                .map(|s| format!("{}: {}", s.path, s.reason)),
        });
    }
    let mut meta = Meta {
        fingerprint: fp,
        kind: spec.source.kind().to_string(),
        size,
        count: samples.len(),
        paths: samples.iter().map(|s| s.path.clone()).collect(),
        identities: scan.identities,
        classes: scan.classes,
        skipped: scan.skipped,
        excluded: scan.excluded,
        exclusion_rule: scan.exclusion_rule,
        writer: format!("ablate-data {}", env!("CARGO_PKG_VERSION")),
        content: String::new(),
    };
    writer.finish(&mut meta, &samples)?;
    Ok(Prepared {
        content: meta.content.clone(),
        path: out.to_path_buf(),
        reused: false,
        images: samples.len(),
        skipped: meta.skipped.len(),
        excluded: meta.excluded,
        seconds: start.elapsed().as_secs_f64(),
    })
}

#[cfg(test)]
mod describe_tests {
    use super::Prepared;

    #[test]
    fn a_cache_says_whether_it_was_reused_or_built_and_how_fast() {
        let mut p = Prepared {
            path: "out/cache/faces-64px.cache".into(),
            reused: true,
            images: 1920,
            skipped: 2,
            excluded: 3,
            seconds: 4.0,
            content: String::new(),
        };
        assert_eq!(
            p.describe("faces", 64),
            "faces @ 64px: up to date (1920 images) in out/cache/faces-64px.cache"
        );
        p.reused = false;
        assert_eq!(
            p.describe("faces", 64),
            "faces @ 64px: 1920 images, 2 skipped, 3 excluded; built in 4.0 s (480 images/s) -> out/cache/faces-64px.cache"
        );
    }
}
