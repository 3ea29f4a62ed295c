//! Setting up a run: lock, store, recovery after a crash, the work set, caches and
//! trial files; then the dispatcher.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use ablate_spec::types::Device;
use ablate_spec::{Sweep, TrialKind};
use ablate_store::{AttemptEnd, Store, TrialRecord};

use crate::RunError;
use crate::dispatch::{Dispatcher, Job};
use crate::progress::Reporter;
use crate::slots;

#[derive(Debug, Clone)]
pub struct RunOptions {
    pub gpus: Vec<u32>,
    pub slots_per_gpu: u32,
    pub cpu_slots: u32,
    pub max_attempts: u32,
    pub backoff: Duration,
    /// Kill a worker silent for this long (no event, no heartbeat).
    pub heartbeat_timeout: Duration,
    pub trial_timeout: Option<Duration>,
    /// Between SIGTERM and SIGKILL when stopping.
    pub grace: Duration,
    pub rerun_failed: bool,
    pub only: Option<String>,
    pub dry_run: bool,
    pub db: Option<PathBuf>,
    /// The `ablate` executable that runs `ablate worker`.
    pub ablate_exe: PathBuf,
    /// GPU index -> model name, for provenance.
    pub gpu_names: HashMap<u32, String>,
}

#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Summary {
    pub total: usize,
    pub already_done: usize,
    pub succeeded: usize,
    pub failed: usize,
    pub blocked: usize,
    pub interrupted: usize,
    pub would_run: Vec<String>,
}

pub fn db_path(sweep: &Sweep, db: Option<&Path>) -> PathBuf {
    db.map_or_else(|| sweep.output.join("ablate.db"), Path::to_path_buf)
}

fn records(sweep: &Sweep) -> Vec<TrialRecord> {
    let mut memberships: HashMap<&str, Vec<(String, usize)>> = HashMap::new();
    let position: HashMap<&str, usize> = sweep
        .trials
        .iter()
        .enumerate()
        .map(|(i, t)| (t.id.as_str(), i))
        .collect();
    for t in &sweep.trials {
        let list = memberships.entry(&t.id).or_default();
        list.extend(
            t.studies
                .iter()
                .map(|s| (s.clone(), position[t.id.as_str()])),
        );
        list.extend(
            t.stages
                .iter()
                .map(|s| (format!("pretrain:{s}"), position[t.id.as_str()])),
        );
    }
    sweep
        .trials
        .iter()
        .map(|t| TrialRecord {
            id: t.id.clone(),
            kind: match t.kind {
                TrialKind::Train => "train".into(),
                TrialKind::Pretrain => "pretrain".into(),
            },
            config: serde_json::to_value(&t.config).unwrap_or_default(),
            exec: serde_json::to_value(&t.exec).unwrap_or_default(),
            labels: serde_json::to_value(&t.labels).unwrap_or_default(),
            depends_on: t.depends_on.clone(),
            memberships: memberships.remove(t.id.as_str()).unwrap_or_default(),
        })
        .collect()
}

/// Only one orchestrator per database: an exclusive advisory lock beside it.
fn lock(db: &Path) -> Result<nix::fcntl::Flock<std::fs::File>, RunError> {
    let path = db.with_extension("lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| RunError::Io(format!("cannot open lock {}: {e}", path.display())))?;
    nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusiveNonblock).map_err(|_| {
        RunError::Invalid(format!(
            "another `ablate run` is using {} (lock {} is held); wait for it or stop it first",
            db.display(),
            path.display()
        ))
    })
}

/// Attempts left `running` by a dead orchestrator: kill their workers if they are
/// still alive, and record them interrupted so the trials run again.
async fn recover(store: &Store) -> Result<usize, RunError> {
    let host = crate::provenance::host();
    let mut n = 0;
    for a in store.running_attempts().await? {
        if a.host == host
            && let Some(pid) = a.pid
            && is_our_worker(pid as i32)
        {
            let _ = nix::sys::signal::killpg(
                nix::unistd::Pid::from_raw(pid as i32),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        let end = AttemptEnd {
            state: "interrupted".into(),
            message: Some("the orchestrator stopped without closing this attempt".into()),
            ..Default::default()
        };
        store
            .finish_attempt(a.id, &a.trial_id, &end, "interrupted")
            .await?;
        n += 1;
    }
    Ok(n)
}

/// A pid is ours only if it still runs a worker (pids are reused).
fn is_our_worker(pid: i32) -> bool {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .is_ok_and(|c| String::from_utf8_lossy(&c).contains("trial.json"))
}

pub async fn run(
    sweep: &Sweep,
    spec_text: &str,
    opts: &RunOptions,
    reporter: &mut dyn Reporter,
) -> Result<Summary, RunError> {
    let db = db_path(sweep, opts.db.as_deref());
    if let Some(dir) = db.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| RunError::Io(format!("cannot create {}: {e}", dir.display())))?;
    }
    let _lock = lock(&db)?;
    let store = Store::open(&db).await?;
    // Pretraining stages first, then studies in the order the file declares them.
    let studies: Vec<String> = sweep
        .stages
        .iter()
        .map(|s| format!("pretrain:{}", s.name))
        .chain(sweep.studies.iter().map(|s| s.name.clone()))
        .collect();
    store
        .sync_sweep(
            &sweep.name,
            &sweep.file.display().to_string(),
            spec_text,
            &sweep.spec_hash,
            &studies,
            &records(sweep),
        )
        .await?;
    let recovered = recover(&store).await?;
    if recovered > 0 {
        reporter.log(&format!("found {recovered} attempt(s) left running by a stopped orchestrator; they will run again"));
    }

    // The work set: the selected studies' trials and everything they wait on.
    let mut wanted: HashSet<&str> = sweep
        .trials
        .iter()
        .filter(|t| opts.only.as_ref().is_none_or(|s| t.studies.contains(s)))
        .map(|t| t.id.as_str())
        .collect();
    if let Some(s) = &opts.only
        && !sweep.studies.iter().any(|x| &x.name == s)
    {
        let names: Vec<&str> = sweep.studies.iter().map(|x| x.name.as_str()).collect();
        return Err(RunError::Invalid(format!(
            "--only {s:?}: no such study; studies are: {}",
            names.join(", ")
        )));
    }
    for t in sweep.trials.iter().rev() {
        if wanted.contains(t.id.as_str()) {
            wanted.extend(t.depends_on.iter().map(String::as_str));
        }
    }
    let states: HashMap<String, String> = store.states(&sweep.name).await?.into_iter().collect();
    let mut summary = Summary {
        total: wanted.len(),
        ..Summary::default()
    };
    let mut jobs = Vec::new();
    for (index, t) in sweep
        .trials
        .iter()
        .enumerate()
        .filter(|(_, t)| wanted.contains(t.id.as_str()))
    {
        let state = states.get(&t.id).map_or("pending", String::as_str);
        let run_it = match state {
            "succeeded" => false,
            "failed" => opts.rerun_failed || store.last_failure_retryable(&t.id).await?,
            _ => true,
        };
        if state == "succeeded" {
            summary.already_done += 1;
        }
        if run_it {
            jobs.push(Job::new(t, index, store.attempt_count(&t.id).await?));
        } else if state == "failed" {
            summary.failed += 1;
        }
    }
    if opts.dry_run {
        summary.would_run = jobs.iter().map(|j| j.id.clone()).collect();
        store.close().await;
        return Ok(summary);
    }
    let needs_gpu = jobs.iter().any(|j| j.device == Device::Cuda);
    let needs_cpu = jobs.iter().any(|j| j.device == Device::Cpu);
    if needs_gpu && opts.gpus.is_empty() {
        return Err(RunError::Invalid("trials of this sweep ask for device = \"cuda\", but no GPU was given: pass --gpus 0,1 or --gpus all".into()));
    }
    let cpu_slots = if needs_cpu && opts.cpu_slots == 0 {
        1
    } else {
        opts.cpu_slots
    };
    let slots = slots::build(
        &opts.gpus,
        opts.slots_per_gpu,
        if needs_cpu { cpu_slots } else { 0 },
    );

    if sweep.worker.is_none() {
        prepare_caches(sweep, &jobs, reporter)?;
    }
    let mut dispatcher = Dispatcher::new(sweep, store.clone(), slots, opts, jobs, reporter);
    let outcome = dispatcher.run().await;
    let counts = dispatcher.counts();
    drop(dispatcher);
    store.close().await;
    outcome?;
    summary.succeeded = counts.0;
    summary.failed += counts.1;
    summary.blocked = counts.2;
    summary.interrupted = counts.3;
    Ok(summary)
}

fn prepare_caches(
    sweep: &Sweep,
    jobs: &[Job],
    reporter: &mut dyn Reporter,
) -> Result<(), RunError> {
    let mut done = HashSet::new();
    let base = sweep.file.parent().unwrap_or(Path::new(""));
    for j in jobs {
        let t = &sweep.trials[j.index];
        let Some((name, spec)) = sweep.datasets.iter().find(|(_, d)| **d == t.config.data) else {
            continue;
        };
        let size = t.config.train.input_size;
        if !done.insert((name.clone(), size)) {
            continue;
        }
        let path = ablate_data::cache_path(&sweep.output.join("cache"), name, size);
        let p = ablate_data::prepare(spec, base, size, &path, &|_, _| {})?;
        if !p.reused {
            reporter.log(&format!(
                "prepared {name} at {size}px: {} images, {} skipped ({:.1} s)",
                p.images, p.skipped, p.seconds
            ));
        }
    }
    Ok(())
}
