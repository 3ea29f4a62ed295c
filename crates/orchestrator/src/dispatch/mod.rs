//! The dispatcher: one task owning all scheduling state. It launches ready trials
//! into free slots and `select!`s over worker events, Ctrl-C/SIGTERM and a timer;
//! every database write goes through it.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use ablate_protocol::{
    Env, FailureClass, MALLOC_TUNABLES, Reported, RunDir, TrialInput, TrialState as State,
};
use ablate_spec::types::Device;
use ablate_spec::{Sweep, Trial};
use ablate_store::{AttemptStart, Store};
use nix::sys::signal::Signal;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;

use crate::RunError;
use crate::backend::{Backend, BackendEvent, Launch};
use crate::policy::Stopped;
use crate::progress::{Reporter, RunningView};
use crate::provenance::{self, Provenance};
use crate::run::RunOptions;
use crate::slots::{Slot, SlotKind};

mod events;

/// How many lines of an attempt's stdout that are not protocol events are shown.
const OTHER_LINES_SHOWN: usize = 3;

/// Where a dependency stands, for a trial waiting on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dep {
    Succeeded,
    /// In a batch queue, which starts the dependant itself once this one succeeds.
    Submitted,
    /// Failed, blocked or interrupted (or never succeeded in an earlier run).
    Failed,
    Waiting,
}

#[derive(Debug)]
struct Active {
    slot: usize,
    attempt: i64,
    started: Instant,
    last_seen: Instant,
    view: RunningView,
    finished: Option<Reported>,
    failed: Option<(FailureClass, String)>,
    stopped: Option<Stopped>,
    /// Lines of this attempt's stdout that were not protocol events.
    other_lines: usize,
    /// The batch job carrying it, once submitted.
    job: Option<String>,
    /// Waiting in a batch queue: no heartbeat expected yet.
    queued: bool,
}

impl Active {
    fn new(
        slot: usize,
        attempt: i64,
        view: RunningView,
        job: Option<String>,
        queued: bool,
    ) -> Self {
        let now = Instant::now();
        Active {
            slot,
            attempt,
            started: now,
            last_seen: now,
            view,
            finished: None,
            failed: None,
            stopped: None,
            other_lines: 0,
            job,
            queued,
        }
    }
}

#[derive(Debug)]
pub struct Job {
    pub id: String,
    pub index: usize,
    pub device: Device,
    deps: Vec<String>,
    state: State,
    attempts: u32,
    not_before: Option<Instant>,
    active: Option<Active>,
}

impl Job {
    pub fn new(t: &Trial, index: usize, attempts: u32) -> Self {
        Job {
            id: t.id.clone(),
            index,
            device: t.exec.device,
            deps: t.depends_on.clone(),
            state: State::Pending,
            attempts,
            not_before: None,
            active: None,
        }
    }
}

pub struct Dispatcher<'a> {
    sweep: &'a Sweep,
    store: Store,
    slots: Vec<Slot>,
    opts: &'a RunOptions,
    jobs: Vec<Job>,
    by_id: HashMap<String, usize>,
    reporter: &'a mut dyn Reporter,
    backend: Box<dyn Backend>,
    provenance: Provenance,
    stopping: Option<Instant>,
    durations: Vec<Duration>,
}

impl<'a> Dispatcher<'a> {
    pub fn new(
        sweep: &'a Sweep,
        store: Store,
        slots: Vec<Slot>,
        opts: &'a RunOptions,
        jobs: Vec<Job>,
        reporter: &'a mut dyn Reporter,
        backend: Box<dyn Backend>,
    ) -> Self {
        let by_id = jobs
            .iter()
            .enumerate()
            .map(|(i, j)| (j.id.clone(), i))
            .collect();
        Dispatcher {
            sweep,
            store,
            slots,
            opts,
            jobs,
            by_id,
            reporter,
            backend,
            provenance: provenance::collect(&sweep.file),
            stopping: None,
            durations: Vec::new(),
        }
    }

    /// (succeeded, failed, blocked, interrupted, still running) among the jobs;
    /// only batch jobs are still running after `run` (left to the scheduler).
    pub fn counts(&self) -> (usize, usize, usize, usize, usize) {
        let n = |s: State| self.jobs.iter().filter(|j| j.state == s).count();
        (
            n(State::Succeeded),
            n(State::Failed),
            n(State::Blocked),
            n(State::Interrupted),
            n(State::Running),
        )
    }

    pub fn log(&mut self, line: &str) {
        self.reporter.log(line);
    }

    /// Follows a batch job an earlier orchestrator submitted (attempt `attempt`).
    pub fn adopt(&mut self, trial: &str, attempt: i64, job: &str, events: PathBuf) -> bool {
        let Some(&i) = self.by_id.get(trial) else {
            return false;
        };
        let Some(slot) = self.slots.iter().position(|s| s.busy.is_none()) else {
            return false;
        };
        let t = &self.sweep.trials[self.jobs[i].index];
        let view = RunningView {
            trial: t.short_id().to_string(),
            what: format!("slurm job {job}"),
            device: "slurm".into(),
            epochs: Some(t.config.train.epochs),
            ..RunningView::default()
        };
        self.slots[slot].busy = Some(trial.to_string());
        let j = &mut self.jobs[i];
        j.state = State::Running;
        j.active = Some(Active::new(
            slot,
            attempt,
            view,
            Some(job.to_string()),
            true,
        ));
        self.backend.adopt(trial, job, events);
        true
    }

    pub async fn run(&mut self) -> Result<(), RunError> {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let mut sigint =
            signal(SignalKind::interrupt()).map_err(|e| RunError::Io(e.to_string()))?;
        let mut sigterm =
            signal(SignalKind::terminate()).map_err(|e| RunError::Io(e.to_string()))?;
        let mut tick = tokio::time::interval(Duration::from_millis(250));
        self.block_unrunnable().await?;
        loop {
            if self.stopping.is_none() {
                self.launch_ready(&tx).await?;
            }
            let running = self.jobs.iter().any(|j| j.state == State::Running);
            let waiting = self.jobs.iter().any(|j| j.state == State::Pending);
            // Batch jobs go on without us: a stop leaves them to the scheduler.
            let detach = self.stopping.is_some() && self.backend.detached();
            if (!running || detach) && (!waiting || self.stopping.is_some()) {
                break;
            }
            tokio::select! {
                Some(ev) = rx.recv() => self.on_event(ev).await?,
                _ = sigint.recv() => self.stop("interrupted (Ctrl-C)"),
                _ = sigterm.recv() => self.stop("terminated (SIGTERM)"),
                _ = tick.tick() => self.on_tick(&tx),
            }
            self.reporter.update(&self.snapshot());
        }
        for j in self
            .jobs
            .iter_mut()
            .filter(|j| j.state == State::Pending && self.stopping.is_some())
        {
            j.state = State::Interrupted;
        }
        self.reporter.finish();
        Ok(())
    }

    /// Ids of the trials running now (owned, so the caller can signal while mutating).
    fn running_ids(&self) -> Vec<String> {
        self.jobs
            .iter()
            .filter(|j| j.state == State::Running)
            .map(|j| j.id.clone())
            .collect()
    }

    fn stop(&mut self, why: &str) {
        if self.stopping.is_some() {
            return;
        }
        if self.backend.detached() {
            self.stopping = Some(Instant::now());
            let n = self.running_ids().len();
            self.reporter.log(&format!(
                "{why}: detaching; {n} Slurm job(s) go on without this process. `ablate run` again reconnects to them, `ablate cancel` cancels them"
            ));
            return;
        }
        self.reporter.log(&format!(
            "{why}: stopping; no new trials, running ones get SIGTERM, then SIGKILL after {:?}",
            self.opts.grace
        ));
        self.stopping = Some(Instant::now());
        let ids = self.running_ids();
        for id in ids {
            if let Some(a) = self.jobs[self.by_id[&id]].active.as_mut() {
                a.stopped = Some(Stopped::Interrupt);
            }
            self.backend.signal(&id, Signal::SIGTERM);
        }
    }

    fn on_tick(&mut self, tx: &mpsc::UnboundedSender<BackendEvent>) {
        self.backend.poll(tx);
        let now = Instant::now();
        if let Some(t) = self.stopping
            && now.duration_since(t) > self.opts.grace
        {
            let ids = self.running_ids();
            for id in ids {
                self.backend.signal(&id, Signal::SIGKILL);
            }
        }
        let mut hung = Vec::new();
        for j in self.jobs.iter_mut().filter(|j| j.state == State::Running) {
            let Some(a) = j.active.as_mut() else { continue };
            if a.stopped.is_some() || a.queued {
                continue;
            }
            let why = if now.duration_since(a.last_seen) > self.opts.heartbeat_timeout {
                Some(format!(
                    "no event or heartbeat for {:?}; killed as hung",
                    self.opts.heartbeat_timeout
                ))
            } else {
                self.opts
                    .trial_timeout
                    .filter(|t| now.duration_since(a.started) > *t)
                    .map(|t| format!("ran past the trial timeout of {t:?}; killed"))
            };
            if let Some(w) = why {
                a.stopped = Some(Stopped::Hung(w));
                hung.push(j.id.clone());
            }
        }
        for id in hung {
            self.backend.signal(&id, Signal::SIGKILL);
        }
    }

    /// Trials whose dependencies already failed (in an earlier run) are blocked now.
    async fn block_unrunnable(&mut self) -> Result<(), RunError> {
        let states: HashMap<String, State> = self
            .store
            .states(&self.sweep.name)
            .await?
            .into_iter()
            .collect();
        let failed: Vec<String> = self
            .jobs
            .iter()
            .flat_map(|j| j.deps.iter())
            .filter(|d| {
                !self.by_id.contains_key(*d) && states.get(*d).is_some_and(|s| s.dooms_dependants())
            })
            .cloned()
            .collect();
        for d in failed {
            self.block_dependants(&d, "it failed in an earlier run")
                .await?;
        }
        Ok(())
    }

    fn dep_state(&self, dep: &str, db: &HashMap<String, State>) -> Dep {
        let job = self.by_id.get(dep).map(|i| &self.jobs[*i]);
        match job.map(|j| j.state) {
            Some(State::Succeeded) => Dep::Succeeded,
            // A batch scheduler starts dependants itself once this job succeeds.
            Some(State::Running)
                if self.backend.detached()
                    && job
                        .and_then(|j| j.active.as_ref())
                        .is_some_and(|a| a.job.is_some() && a.stopped.is_none()) =>
            {
                Dep::Submitted
            }
            Some(State::Failed | State::Blocked | State::Interrupted) => Dep::Failed,
            Some(_) => Dep::Waiting,
            None => match db.get(dep) {
                Some(State::Succeeded) => Dep::Succeeded,
                _ => Dep::Failed,
            },
        }
    }

    async fn launch_ready(
        &mut self,
        tx: &mpsc::UnboundedSender<BackendEvent>,
    ) -> Result<(), RunError> {
        let needs_db = self.jobs.iter().any(|j| {
            j.state == State::Pending && j.deps.iter().any(|d| !self.by_id.contains_key(d))
        });
        let db: HashMap<String, State> = if needs_db {
            self.store
                .states(&self.sweep.name)
                .await?
                .into_iter()
                .collect()
        } else {
            HashMap::new()
        };
        let now = Instant::now();
        for i in 0..self.jobs.len() {
            let j = &self.jobs[i];
            if j.state != State::Pending
                || j.not_before.is_some_and(|t| t > now)
                || !j
                    .deps
                    .iter()
                    .all(|d| matches!(self.dep_state(d, &db), Dep::Succeeded | Dep::Submitted))
            {
                continue;
            }
            let Some(slot) = self
                .slots
                .iter()
                .position(|s| s.busy.is_none() && s.fits(j.device))
            else {
                continue;
            };
            self.start(i, slot, tx).await?;
        }
        Ok(())
    }

    async fn start(
        &mut self,
        i: usize,
        slot: usize,
        tx: &mpsc::UnboundedSender<BackendEvent>,
    ) -> Result<(), RunError> {
        let trial = &self.sweep.trials[self.jobs[i].index];
        let dir = RunDir::of(&self.sweep.output, &trial.id)
            .absolute()
            .map_err(|e| RunError::Io(e.to_string()))?;
        let run_dir = dir.path().to_path_buf();
        std::fs::create_dir_all(&run_dir)
            .map_err(|e| RunError::Io(format!("cannot create {}: {e}", run_dir.display())))?;
        let file = dir.trial_json();
        let input = self.trial_input(trial, &run_dir)?;
        std::fs::write(
            &file,
            serde_json::to_string_pretty(&input).map_err(|e| RunError::Io(e.to_string()))?,
        )
        .map_err(|e| RunError::Io(format!("cannot write {}: {e}", file.display())))?;
        let s = &self.slots[slot];
        let device_name = match s.kind {
            SlotKind::Gpu(g) => self.opts.gpu_names.get(&g).cloned(),
            SlotKind::Cpu | SlotKind::Batch => None,
        };
        let batch = s.kind == SlotKind::Batch;
        let gpus = match trial.exec.device {
            Device::Cuda if batch => self
                .opts
                .slurm
                .as_ref()
                .map_or(1, |o| o.gpus_per_trial.max(1)),
            Device::Cuda => 1,
            Device::Cpu => 0,
        };
        let start = AttemptStart {
            trial_id: trial.id.clone(),
            sweep: self.sweep.name.clone(),
            slot: s.name.clone(),
            device: s.device_label(),
            device_name,
            threads: trial.exec.threads,
            host: self.provenance.host.clone(),
            orchestrator_pid: std::process::id(),
            ablate_version: self.provenance.version.clone(),
            git_commit: self.provenance.git_commit.clone(),
            git_dirty: self.provenance.git_dirty,
            backend: if batch { "slurm" } else { "local" }.into(),
        };
        let attempt = self.store.start_attempt(&start).await?;
        let mut env = vec![
            (Env::THREADS.to_string(), trial.exec.threads.to_string()),
            (Env::SLOT.to_string(), s.name.clone()),
            (Env::TRIAL_ID.to_string(), trial.id.clone()),
        ];
        if std::env::var_os(Env::GLIBC_TUNABLES).is_none() {
            env.push((Env::GLIBC_TUNABLES.to_string(), MALLOC_TUNABLES.to_string()));
        }
        // A batch scheduler sets CUDA_VISIBLE_DEVICES to the GPUs it grants.
        match s.kind {
            SlotKind::Gpu(g) => env.push((Env::CUDA_VISIBLE_DEVICES.into(), g.to_string())),
            SlotKind::Cpu => env.push((Env::CUDA_VISIBLE_DEVICES.into(), String::new())),
            SlotKind::Batch => {}
        }
        // Dependencies still in the batch queue: the new job starts after them.
        let after: Vec<String> = trial
            .depends_on
            .iter()
            .filter_map(|d| self.by_id.get(d))
            .filter_map(|&k| {
                let j = &self.jobs[k];
                (j.state == State::Running)
                    .then(|| j.active.as_ref().and_then(|a| a.job.clone()))
                    .flatten()
            })
            .collect();
        let mut argv = match &self.sweep.worker {
            Some(cmd) => worker_argv(cmd, self.sweep.file.parent()),
            None => vec![self.opts.ablate_exe.display().to_string(), "worker".into()],
        };
        argv.push(file.display().to_string());
        let what = trial
            .labels
            .iter()
            .filter(|(k, _)| !matches!(k.as_str(), "data" | "width"))
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(" ");
        self.reporter.log(&format!(
            "start {} on {} (attempt {}): {what}",
            trial.short_id(),
            s.name,
            self.jobs[i].attempts + 1
        ));
        let view = RunningView {
            trial: trial.short_id().to_string(),
            what,
            device: s.device_label(),
            epochs: Some(trial.config.train.epochs),
            ..RunningView::default()
        };
        self.slots[slot].busy = Some(trial.id.clone());
        let j = &mut self.jobs[i];
        j.state = State::Running;
        j.attempts += 1;
        j.active = Some(Active::new(slot, attempt, view, None, batch));
        self.backend.launch(
            Launch {
                trial: j.id.clone(),
                argv,
                env,
                log: dir.worker_log(),
                run_dir,
                attempt,
                threads: trial.exec.threads,
                gpus,
                after,
            },
            tx.clone(),
        );
        Ok(())
    }

    fn trial_input(
        &self,
        trial: &Trial,
        run_dir: &std::path::Path,
    ) -> Result<TrialInput, RunError> {
        let name = self
            .sweep
            .datasets
            .iter()
            .find(|(_, d)| **d == trial.config.data)
            .map(|(n, _)| n.clone())
            .unwrap_or_default();
        let abs = |p: PathBuf| std::path::absolute(&p).unwrap_or(p);
        let cache = abs(ablate_data::cache_path(
            &self.sweep.output.join("cache"),
            &name,
            trial.config.train.input_size,
        ));
        let init = (trial.config.init.as_ref())
            .map(|id| abs(RunDir::of(&self.sweep.output, id).checkpoint()));
        Ok(TrialInput {
            id: trial.id.clone(),
            config: trial.config.clone(),
            exec: trial.exec.clone(),
            cache,
            run_dir: run_dir.to_path_buf(),
            init_checkpoint: init,
            heartbeat_s: 10.0,
            labels: trial.labels.clone(),
        })
    }
}

/// A `[worker] command`: a program path with a `/` is relative to the sweep file's folder.
fn worker_argv(cmd: &[String], base: Option<&std::path::Path>) -> Vec<String> {
    let mut argv = cmd.to_vec();
    if argv[0].contains('/') && !argv[0].starts_with('/') {
        let p = base.unwrap_or(std::path::Path::new("")).join(&argv[0]);
        argv[0] = std::path::absolute(&p).unwrap_or(p).display().to_string();
    }
    argv
}
