//! The pixel caches a run's trials read: where each lives, building them before
//! the first launch, and their content digests (what results are recorded with
//! and compared against).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use ablate_spec::Sweep;
use ablate_spec::types::{DatasetSpec, TrialConfig};

use crate::RunError;
use crate::progress::Reporter;

/// Cache path -> content digest.
pub type Digests = HashMap<PathBuf, String>;

/// The cache a trial with `config` reads, under the sweep's (absolute) `output`.
pub fn cache_of(sweep: &Sweep, output: &Path, config: &TrialConfig) -> PathBuf {
    let name = sweep
        .dataset_of(config)
        .map(|(n, _)| n.clone())
        .unwrap_or_default();
    ablate_data::cache_path(&output.join("cache"), &name, config.train.input_size)
}

/// Looks at every dataset `configs` read, building nothing: each folder or
/// manifest is there (all missing ones named at once), readable, its labels
/// readable as declared, and the caches to build fit on their disk. What `run`
/// checks before it prepares anything, and all `run --dry-run` checks. Returns
/// each dataset's scan.
pub fn check(
    sweep: &Sweep,
    output: &Path,
    configs: &[&TrialConfig],
) -> Result<HashMap<String, ablate_data::Scan>, RunError> {
    let base = sweep.file.parent().unwrap_or(Path::new(""));
    // Every dataset is looked for before any is prepared: a missing one is
    // reported with all the others at once, and no time goes into caches first.
    let mut missing: Vec<(&String, ablate_data::DataError)> = Vec::new();
    for config in configs {
        if let Some((name, spec)) = sweep.dataset_of(config)
            && !missing.iter().any(|(n, _)| *n == name)
            && let Some(e) = ablate_data::missing(&spec.source, base)
        {
            missing.push((name, e));
        }
    }
    match missing.len() {
        0 => check_space(sweep, output, configs),
        1 => Err(missing.remove(0).1.into()),
        _ => Err(ablate_data::DataError::Missing {
            list: missing.into_iter().map(|(_, e)| e).collect(),
        }
        .into()),
    }
}

/// One cache a run's trials read, checked and ready to build (or reuse).
#[derive(Debug)]
pub struct CacheJob<'a> {
    pub name: &'a str,
    pub size: u32,
    pub path: PathBuf,
    spec: &'a DatasetSpec,
    base: &'a Path,
    scan: ablate_data::Scan,
}

impl CacheJob<'_> {
    /// Builds the cache, or reuses it when its fingerprint matches.
    pub fn build(
        self,
        progress: ablate_data::Progress<'_>,
    ) -> Result<ablate_data::Prepared, ablate_data::DataError> {
        let (spec, base, size) = (self.spec, self.base, self.size);
        ablate_data::prepare_scanned(spec, base, size, &self.path, self.scan, progress)
    }
}

/// Every cache `configs` read, once each, in their order, after [`check`]:
/// every dataset is there and the caches to build fit on their disk. The one
/// way caches are prepared, by a run and by `ablate data prepare`.
pub fn jobs<'a>(
    sweep: &'a Sweep,
    output: &Path,
    configs: &[&TrialConfig],
) -> Result<Vec<CacheJob<'a>>, RunError> {
    let base = sweep.file.parent().unwrap_or(Path::new(""));
    let mut scans = check(sweep, output, configs)?;
    let mut jobs: Vec<CacheJob<'a>> = Vec::new();
    for config in configs {
        let Some((name, spec)) = sweep.dataset_of(config) else {
            continue;
        };
        let path = cache_of(sweep, output, config);
        if jobs.iter().any(|j| j.path == path) {
            continue;
        }
        let scan = match scans.get(name) {
            Some(s) => s.clone(),
            None => {
                let s = ablate_data::scan_dataset(spec, base)?;
                scans.insert(name.clone(), s.clone());
                s
            }
        };
        let size = config.train.input_size;
        jobs.push(CacheJob {
            name,
            size,
            path,
            spec,
            base,
            scan,
        });
    }
    Ok(jobs)
}

/// Builds (or reuses) the cache of every dataset and size `configs` read.
pub fn prepare<'a>(
    sweep: &Sweep,
    output: &Path,
    configs: impl Iterator<Item = &'a TrialConfig>,
    reporter: &mut dyn Reporter,
) -> Result<Digests, RunError> {
    let mut digests = Digests::new();
    let configs: Vec<&TrialConfig> = configs.collect();
    for job in jobs(sweep, output, &configs)? {
        let (name, size, path) = (job.name, job.size, job.path.clone());
        let p = job.build(&|_, _| {})?;
        if !p.reused {
            reporter.log(&format!(
                "prepared {name} at {size}px: {} images, {} skipped ({:.1} s)",
                p.images, p.skipped, p.seconds
            ));
        }
        digests.insert(path, p.content);
    }
    Ok(digests)
}

/// Bytes for people: MiB below a GiB, else GiB.
fn human(bytes: u64) -> String {
    let b = bytes as f64;
    if bytes < 1 << 30 {
        format!("{:.1} MiB", b / f64::from(1u32 << 20))
    } else {
        format!("{:.2} GiB", b / f64::from(1u32 << 30))
    }
}

/// Free bytes on the file system holding `dir` (or its nearest existing parent).
/// `ABLATE_TEST_FREE_BYTES` stands in for it in tests.
fn free_bytes(dir: &Path) -> Option<u64> {
    if let Some(v) = std::env::var("ABLATE_TEST_FREE_BYTES")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        return Some(v);
    }
    let existing = dir.ancestors().find(|d| d.exists())?;
    let st = nix::sys::statvfs::statvfs(existing).ok()?;
    Some(st.blocks_available().saturating_mul(st.fragment_size()))
}

/// Refuses, before anything is built, a sweep whose caches would not fit on
/// their disk: every cache to build, plus the largest once more (its pixels are
/// spooled, then copied into the cache). Returns each dataset's scan, which
/// building the caches then reuses.
fn check_space(
    sweep: &Sweep,
    output: &Path,
    configs: &[&TrialConfig],
) -> Result<HashMap<String, ablate_data::Scan>, RunError> {
    let base = sweep.file.parent().unwrap_or(Path::new(""));
    let mut scans: HashMap<String, ablate_data::Scan> = HashMap::new();
    let mut seen = std::collections::HashSet::new();
    let mut builds = Vec::new();
    for config in configs {
        let Some((name, spec)) = sweep.dataset_of(config) else {
            continue;
        };
        let path = cache_of(sweep, output, config);
        if !seen.insert(path.clone()) {
            continue;
        }
        let size = config.train.input_size;
        let scan = match scans.entry(name.clone()) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => {
                e.insert(ablate_data::scan_dataset(spec, base)?)
            }
        };
        let need = ablate_data::cache_need(spec, size, &path, scan);
        if !need.reused {
            builds.push((format!("{name} at {size}px"), need));
        }
    }
    let total: u64 = builds.iter().map(|(_, n)| n.bytes).sum();
    let peak = total + builds.iter().map(|(_, n)| n.bytes).max().unwrap_or(0);
    let dir = output.join("cache");
    match free_bytes(&dir) {
        Some(free) if peak > free => {
            let list: Vec<String> = builds
                .iter()
                .map(|(what, n)| format!("{what}: {} images, {}", n.images, human(n.bytes)))
                .collect();
            Err(RunError::NoSpace(format!(
                "the caches this sweep needs do not fit on the disk of {}: {} ({} in all, {} while the largest is written), and {} is free; free some space, or set the sweep's output (`[sweep] output`) on a larger disk",
                dir.display(),
                list.join("; "),
                human(total),
                human(peak),
                human(free)
            )))
        }
        _ => Ok(scans),
    }
}

/// The caches as they stand, building nothing: for `ablate status` and `--dry-run`.
#[derive(Debug, Default)]
pub struct Existing {
    /// Digests of caches that exist and record one.
    pub digests: Digests,
    /// Caches whose data changed on disk since they were built (names, sizes or
    /// mtimes of its files): the next run rebuilds them, and only then can say
    /// whether the content, and so any result, changed.
    pub outdated: Vec<PathBuf>,
}

/// The digests the caches `configs` read hold now. A cache that is missing,
/// unreadable or from before digests is left out: its results cannot be judged
/// until a run builds it. `scans`: datasets already scanned (by name), each
/// other one is scanned once here.
pub fn existing<'a>(
    sweep: &Sweep,
    output: &Path,
    configs: impl Iterator<Item = &'a TrialConfig>,
    mut scans: HashMap<String, ablate_data::Scan>,
) -> Existing {
    let mut out = Existing::default();
    let base = sweep.file.parent().unwrap_or(Path::new(""));
    let mut seen = std::collections::HashSet::new();
    for config in configs {
        let path = cache_of(sweep, output, config);
        if !seen.insert(path.clone()) {
            continue;
        }
        let Ok(meta) = ablate_data::read_meta_file(&path) else {
            continue;
        };
        if !meta.content.is_empty() {
            out.digests.insert(path.clone(), meta.content);
        }
        let current = sweep.dataset_of(config).and_then(|(name, spec)| {
            let scan = match scans.entry(name.clone()) {
                std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                std::collections::hash_map::Entry::Vacant(e) => {
                    e.insert(ablate_data::scan_dataset(spec, base).ok()?)
                }
            };
            Some(ablate_data::fingerprint(
                spec,
                config.train.input_size,
                scan,
            ))
        });
        if current.is_some_and(|fp| fp != meta.fingerprint) {
            out.outdated.push(path);
        }
    }
    out
}
