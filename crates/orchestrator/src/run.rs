//! Setting up a run: lock, store, recovery after a crash, the work set, caches and
//! trial files; then the dispatcher.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use ablate_protocol::{AttemptState, BackendKind, RunDir, TrialState};
use ablate_spec::types::Device;
use ablate_spec::{Sweep, TrialId, short_id};
use ablate_store::{AttemptEnd, Store, SweepRecord, TrialRecord};

use crate::RunError;
use crate::backend::Backend;
use crate::dispatch::{Dispatcher, Job, Parts};
use crate::local::LocalBackend;
use crate::lock::lock;
use crate::options::{RunOptions, db_path};
use crate::progress::Reporter;
use crate::rounds::Round;
use crate::slots;
use crate::slurm::SlurmBackend;
use crate::stale::{self, Stale};
use crate::summary::Summary;
use crate::{attempt_files, caches};

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
        let at = position[t.id.as_str()];
        list.extend(t.memberships().map(|m| (m.to_string(), at)));
    }
    sweep
        .trials
        .iter()
        .map(|t| TrialRecord {
            id: t.id.clone(),
            kind: t.kind.as_str().into(),
            config: serde_json::to_value(&t.config).unwrap_or_default(),
            exec: serde_json::to_value(&t.exec).unwrap_or_default(),
            labels: serde_json::to_value(&t.labels).unwrap_or_default(),
            depends_on: t.depends_on.iter().map(ToString::to_string).collect(),
            memberships: memberships.remove(t.id.as_str()).unwrap_or_default(),
        })
        .collect()
}

/// A Slurm job an earlier orchestrator submitted, to follow instead of resubmitting.
#[derive(Debug)]
struct Open {
    attempt: i64,
    trial: TrialId,
    job: String,
    events: PathBuf,
}

/// What recovery found.
#[derive(Debug, Default)]
struct Recovered {
    /// Local attempts closed as interrupted (their trials run again).
    interrupted: usize,
    /// Slurm jobs to follow.
    open: Vec<Open>,
    /// What the user should know (workers on other hosts left alone).
    notes: Vec<String>,
}

/// Attempts left `running` by a dead orchestrator. Local workers are killed if
/// still alive and their attempts recorded interrupted, so the trials run again;
/// Slurm jobs are returned to be followed (a local run refuses while any exist).
/// `output`: the sweep's output folder, absolute, as workers were given it.
async fn recover(
    store: &Store,
    sweep: &Sweep,
    output: &Path,
    slurm: bool,
) -> Result<Recovered, RunError> {
    let host = crate::provenance::host();
    let mut n = 0;
    let mut open = Vec::new();
    let mut notes = Vec::new();
    let running = store.running_attempts().await?;
    let in_slurm = running
        .iter()
        .filter(|a| a.backend == BackendKind::Slurm && a.job_id.is_some())
        .count();
    if in_slurm > 0 && !slurm {
        return Err(RunError::Invalid(format!(
            "{in_slurm} trial(s) of this database are Slurm jobs still open; run with --backend slurm to follow them, or `ablate cancel` them first"
        )));
    }
    // An orchestrator killed right after an `sbatch` returned left a job in the
    // queue that its attempt does not name: found by its job name, it is followed,
    // not submitted again.
    let unnamed = running
        .iter()
        .any(|a| a.backend == BackendKind::Slurm && a.job_id.is_none());
    let by_name = if slurm && unnamed {
        crate::cancel::jobs_by_name(sweep)
    } else {
        Default::default()
    };
    let prefix = crate::slurm::job_prefix(sweep);
    for mut a in running {
        if a.backend == BackendKind::Slurm
            && a.job_id.is_none()
            && let Some(job) = by_name
                .get(&crate::slurm::sbatch::job_name(&prefix, &a.trial_id))
                .and_then(|ids| ids.last())
        {
            let events = RunDir::of(output, &a.trial_id).job_events(a.id);
            let events_text = events.display().to_string();
            store.set_attempt_job(a.id, job, &events_text).await?;
            a.job_id = Some(job.clone());
            a.events_path = Some(events_text);
        }
        if let (Some(job), Some(events)) = (&a.job_id, &a.events_path) {
            open.push(Open {
                attempt: a.id,
                trial: a.trial_id.clone(),
                job: job.clone(),
                events: PathBuf::from(events),
            });
            continue;
        }
        let mut message = "the orchestrator stopped without closing this attempt".to_string();
        match a.pid {
            Some(pid) if a.host != host => {
                // A pid means nothing on another machine (a shared file system
                // holds the database): say so rather than signal a stranger.
                let what = format!(
                    "its worker ran on host {} (pid {pid}), not this one ({host}), and was not signalled; if it still runs there, stop it",
                    a.host
                );
                notes.push(format!("trial {}: {what}", short_id(&a.trial_id)));
                message = format!("{message}; {what}");
            }
            Some(pid)
                if is_our_worker(pid as i32, &RunDir::of(output, &a.trial_id).trial_json()) =>
            {
                let _ = nix::sys::signal::killpg(
                    nix::unistd::Pid::from_raw(pid as i32),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
            _ => {}
        }
        let end = AttemptEnd {
            message: Some(message),
            ..AttemptEnd::new(AttemptState::Interrupted)
        };
        store
            .finish_attempt(a.id, &a.trial_id, &end, TrialState::Interrupted)
            .await?;
        n += 1;
    }
    Ok(Recovered {
        interrupted: n,
        open,
        notes,
    })
}

/// A pid is ours only if it still runs this trial's worker: pids are reused, and
/// another sweep's worker (another database, the same trial id even) has another
/// trial file. One of its arguments must be exactly this file.
fn is_our_worker(pid: i32, trial_file: &Path) -> bool {
    let want = trial_file.as_os_str().as_encoded_bytes();
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .is_ok_and(|c| c.split(|b| *b == 0).any(|arg| arg == want))
}

pub async fn run(
    sweep: &Sweep,
    spec_text: &str,
    opts: &RunOptions,
    reporter: &mut dyn Reporter,
) -> Result<Summary, RunError> {
    let db = db_path(sweep, opts.db.as_deref());
    if let Some(dir) = db.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(RunError::io("create", dir))?;
    }
    let _lock = lock(&db)?;
    let store = Store::open(&db).await?;
    sync(&store, sweep, spec_text).await?;
    let output = std::path::absolute(&sweep.output)
        .map_err(RunError::io("resolve the output folder", &sweep.output))?;
    let Recovered {
        interrupted,
        open,
        notes,
    } = recover(&store, sweep, &output, opts.slurm.is_some()).await?;
    if interrupted > 0 {
        reporter.log(&format!("found {interrupted} attempt(s) left running by a stopped orchestrator; they will run again"));
    }
    for note in &notes {
        reporter.log(&format!("note  {note}"));
    }
    // The work set: the selected studies' trials and everything they wait on.
    let all = sweep
        .work_set(opts.only.as_deref())
        .map_err(no_such_study(opts))?;
    let mut states: HashMap<String, TrialState> =
        store.states(&sweep.name).await?.into_iter().collect();
    let digests = digests(sweep, &output, &all, opts, reporter)?;
    let stale = find_stale(&store, sweep, &output, &all, &digests).await?;
    set_aside(&store, &output, &stale, opts, reporter, &mut states).await?;
    let mut summary = Summary {
        total: all.len(),
        fixed_max: all.len(),
        stale_kept: opts.keep_stale && !stale.is_empty(),
        stale,
        ..Summary::default()
    };
    let mut open = open;
    let mut first = true;
    // One round for fixed seeds; for adaptive ones, rounds until every claim
    // has stopped, or the run is stopped or leaves jobs in Slurm.
    loop {
        let round = Round::judge(&store, sweep).await?;
        let wanted = match &round {
            Some(r) => {
                reporter.log(&r.line());
                r.work_set(sweep, opts.only.as_deref())
                    .map_err(no_such_study(opts))?
            }
            None => all.clone(),
        };
        let mut counted = Summary::default();
        let jobs = to_run(&store, sweep, &wanted, &states, &open, opts, &mut counted).await?;
        if first {
            summary.already_done = counted.already_done;
            summary.failed = counted.failed;
        }
        if let Some(r) = &round {
            summary.total = wanted.len();
            summary.looks = Some((r.sequential.looks_judged, r.sequential.looks));
        }
        if opts.dry_run {
            summary.would_run = jobs.iter().map(|j| j.id.clone()).collect();
            break;
        }
        let done = round.as_ref().is_some_and(|r| r.sequential.done);
        if done || (jobs.is_empty() && !first) {
            break;
        }
        let counts = dispatch(
            sweep, &output, &store, opts, reporter, jobs, &open, states, &digests,
        )
        .await?;
        first = false;
        open.clear();
        summary.succeeded += counts.succeeded;
        summary.failed += counts.failed;
        summary.blocked += counts.blocked;
        summary.interrupted += counts.interrupted;
        summary.in_slurm = counts.running;
        // A stopped run, jobs left in Slurm, or fixed seeds: no next round here.
        if round.is_none() || counts.interrupted > 0 || counts.running > 0 {
            break;
        }
        states = store.states(&sweep.name).await?.into_iter().collect();
    }
    store.close().await;
    Ok(summary)
}

fn no_such_study(opts: &RunOptions) -> impl Fn(Vec<&str>) -> RunError + '_ {
    move |names| {
        RunError::Invalid(format!(
            "--only {:?}: no such study; studies are: {}",
            opts.only.as_deref().unwrap_or_default(),
            names.join(", ")
        ))
    }
}

/// Runs `jobs` to the end (or until stopped), following the Slurm jobs an
/// earlier orchestrator left `open`.
#[allow(clippy::too_many_arguments)]
async fn dispatch(
    sweep: &Sweep,
    output: &Path,
    store: &Store,
    opts: &RunOptions,
    reporter: &mut dyn Reporter,
    jobs: Vec<Job>,
    open: &[Open],
    states: HashMap<String, TrialState>,
    digests: &caches::Digests,
) -> Result<crate::dispatch::Counts, RunError> {
    let (slots, backend) = backend(opts, &jobs, open.len(), output)?;
    let parts = Parts {
        sweep,
        output: output.to_path_buf(),
        store: store.clone(),
        slots,
        opts,
        jobs,
        reporter,
        backend,
        data_digests: digests.clone(),
    };
    let mut dispatcher = Dispatcher::new(parts, states);
    let mut adopted = 0;
    for o in open {
        if dispatcher.adopt(&o.trial, o.attempt, &o.job, o.events.clone()) {
            adopted += 1;
        }
    }
    if adopted > 0 {
        dispatcher.log(&format!(
            "reconnected to {adopted} Slurm job(s) submitted earlier; following them instead of resubmitting"
        ));
    }
    let outcome = dispatcher.run().await;
    let counts = dispatcher.counts();
    drop(dispatcher);
    outcome?;
    Ok(counts)
}

/// Records the sweep, its trials and their memberships in the store.
async fn sync(store: &Store, sweep: &Sweep, spec_text: &str) -> Result<(), RunError> {
    // Pretraining stages first, then studies in the order the file declares them.
    let studies: Vec<String> = sweep
        .memberships()
        .iter()
        .map(ToString::to_string)
        .collect();
    let file = sweep.file.display().to_string();
    let record = SweepRecord {
        name: &sweep.name,
        file: &file,
        spec_text,
        spec_hash: &sweep.spec_hash,
        studies: &studies,
    };
    store.sync_sweep(&record, &records(sweep)).await?;
    Ok(())
}

/// The content digests of the caches the work set reads: built first by a
/// run (their digests decide which stored results still stand); a dry run
/// builds nothing and fails where the run would, before it would train.
fn digests(
    sweep: &Sweep,
    output: &Path,
    wanted: &HashSet<&str>,
    opts: &RunOptions,
    reporter: &mut dyn Reporter,
) -> Result<caches::Digests, RunError> {
    let configs = || {
        sweep
            .trials
            .iter()
            .filter(|t| wanted.contains(t.id.as_str()))
            .map(|t| &t.config)
    };
    if sweep.worker.is_none() && !opts.dry_run {
        return caches::prepare(sweep, output, configs(), reporter);
    }
    // The dry run's scans serve the digests too.
    let scans = if sweep.worker.is_none() {
        caches::check(sweep, output, &configs().collect::<Vec<_>>())?
    } else {
        HashMap::new()
    };
    Ok(caches::existing(sweep, output, configs(), scans).digests)
}

/// Sets stale results aside (a dry run only counts them) and makes their
/// trials pending, unless `--keep-stale`.
async fn set_aside(
    store: &Store,
    output: &Path,
    stale: &[Stale],
    opts: &RunOptions,
    reporter: &mut dyn Reporter,
    states: &mut HashMap<String, TrialState>,
) -> Result<(), RunError> {
    let Some(first) = stale.first() else {
        return Ok(());
    };
    let what = format!(
        "{} stale result(s), e.g. {}: {}",
        stale.len(),
        short_id(&first.trial),
        first.reason
    );
    if opts.keep_stale {
        reporter.log(&format!("keeping {what} (--keep-stale)"));
        return Ok(());
    }
    if !opts.dry_run {
        reporter.log(&format!("rerunning {what}; the old results are kept aside"));
        for s in stale {
            store.mark_stale(&s.trial, &s.reason).await?;
            attempt_files::keep_stale(output, &s.trial, s.attempt)?;
        }
    }
    for s in stale {
        states.insert(s.trial.to_string(), TrialState::Pending);
    }
    Ok(())
}

/// The work set's trials that run now, counting in `summary` those done before
/// and those that failed for good.
async fn to_run(
    store: &Store,
    sweep: &Sweep,
    wanted: &HashSet<&str>,
    states: &HashMap<String, TrialState>,
    open: &[Open],
    opts: &RunOptions,
    summary: &mut Summary,
) -> Result<Vec<Job>, RunError> {
    let mut jobs = Vec::new();
    for (index, t) in sweep
        .trials
        .iter()
        .enumerate()
        .filter(|(_, t)| wanted.contains(t.id.as_str()))
    {
        let state = states
            .get(t.id.as_str())
            .copied()
            .unwrap_or(TrialState::Pending);
        let run_it = match state {
            _ if open.iter().any(|o| o.trial == t.id) => true,
            TrialState::Succeeded => false,
            TrialState::Failed => opts.rerun_failed || store.last_failure_retryable(&t.id).await?,
            _ => true,
        };
        if state == TrialState::Succeeded {
            summary.already_done += 1;
        }
        if run_it {
            jobs.push(Job::new(t, index, store.attempt_count(&t.id).await?));
        } else if state == TrialState::Failed {
            summary.failed += 1;
        }
    }
    Ok(jobs)
}

/// The slots and the backend the jobs run on: Slurm's queue places, or this
/// machine's GPU and CPU slots.
fn backend(
    opts: &RunOptions,
    jobs: &[Job],
    open: usize,
    output: &Path,
) -> Result<(Vec<slots::Slot>, Box<dyn Backend>), RunError> {
    let needs_gpu = jobs.iter().any(|j| j.device == Device::Cuda);
    let needs_cpu = jobs.iter().any(|j| j.device == Device::Cpu);
    if needs_gpu && opts.gpus.is_empty() && opts.slurm.is_none() {
        return Err(RunError::Invalid("trials of this sweep ask for device = \"cuda\", but no GPU was given: pass --gpus 0,1 or --gpus all".into()));
    }
    let cpu_slots = if needs_cpu && opts.cpu_slots == 0 {
        1
    } else {
        opts.cpu_slots
    };
    Ok(match &opts.slurm {
        Some(o) => {
            // Jobs found open are followed even beyond --max-queued: they are
            // in Slurm already, and left unadopted they would be submitted again.
            let n = o
                .max_queued
                .map_or(jobs.len().max(1), |m| (m as usize).max(open));
            let b = SlurmBackend::new(o.clone(), output, opts.max_line)
                .map_err(RunError::io("write the Slurm job script under", output))?;
            (slots::batch(n), Box::new(b))
        }
        None => (
            slots::build(
                &opts.gpus,
                opts.slots_per_gpu,
                if needs_cpu { cpu_slots } else { 0 },
            ),
            Box::new(LocalBackend::new(opts.max_line).pin_self(&opts.ablate_exe)),
        ),
    })
}

/// Stale results among the work set's (see `stale::find`).
async fn find_stale(
    store: &Store,
    sweep: &Sweep,
    output: &Path,
    wanted: &HashSet<&str>,
    digests: &caches::Digests,
) -> Result<Vec<Stale>, RunError> {
    let recorded: Vec<_> = store
        .recorded_results(&sweep.name)
        .await?
        .into_iter()
        .filter(|r| wanted.contains(r.trial.as_str()))
        .collect();
    let trainer = stale::current_trainer(sweep);
    Ok(stale::find(
        sweep,
        output,
        &recorded,
        digests,
        trainer.as_deref(),
    ))
}
