//! The dispatcher's state and its decisions, with no I/O: `Core::handle` takes an
//! input (a backend event, a stop signal, a tick) at a given instant and returns
//! the effects to apply (store writes, signals to workers, launches, log lines),
//! so every scheduling rule is a unit test of milliseconds (dispatch/tests.rs).

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use ablate_protocol::{
    BackendKind, Env, FailureClass, MALLOC_TUNABLES, Reported, RunDir, TrialInput,
    TrialState as State,
};
use ablate_spec::types::{Device, Precision};
use ablate_spec::{Sweep, Trial, TrialId, short_id};
use ablate_store::{AttemptEnd, AttemptStart, Progress};
use nix::sys::signal::Signal;

use crate::backend::{BackendEvent, Launch};
use crate::policy::Stopped;
use crate::progress::{RunningView, Snapshot};
use crate::provenance::Provenance;
use crate::slots::{Slot, SlotKind};

/// What the core reacts to.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    Backend(BackendEvent),
    /// Ctrl-C or SIGTERM (named for the log).
    Stop(&'static str),
    /// The periodic timer: timeouts, the grace period.
    Tick,
}

/// What the loop must do, in order.
#[derive(Debug, Clone)]
pub enum Effect {
    /// Open an attempt in the store, write the trial file, then launch the worker
    /// (with the attempt's id filled in).
    Start(Box<Start>),
    SetPid {
        trial: TrialId,
        pid: u32,
    },
    SetJob {
        trial: TrialId,
        job: String,
        events: PathBuf,
    },
    RecordEpoch {
        trial: TrialId,
        epoch: u32,
        line: String,
    },
    /// Where the attempt is in its epoch (a heartbeat's epoch and step), at
    /// most once per [`super::output::PROGRESS_EVERY`] per attempt.
    RecordProgress {
        trial: TrialId,
        progress: Progress,
    },
    /// The attempt's peak memory so far (bytes), as its worker reported it.
    RecordMemory {
        trial: TrialId,
        host: Option<u64>,
        gpu: Option<u64>,
    },
    /// Record the result and the run directory's artifacts, then close the attempt.
    Succeed {
        trial: TrialId,
        result: Option<Reported>,
        end: AttemptEnd,
    },
    FinishAttempt {
        trial: TrialId,
        end: AttemptEnd,
        state: State,
    },
    SetState {
        trial: TrialId,
        state: State,
        reason: String,
    },
    Signal {
        trial: TrialId,
        signal: Signal,
    },
    Withdraw {
        trial: TrialId,
    },
    Log(String),
}

/// A launch as the core decides it; the loop opens the attempt and fills in its id.
#[derive(Debug, Clone)]
pub struct Start {
    pub attempt: AttemptStart,
    pub input: TrialInput,
    pub file: PathBuf,
    pub launch: Launch,
}

/// An event the core cannot place: the loop logs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unexpected(pub String);

/// The settings the core decides by (from `RunOptions` and the backend).
#[derive(Debug, Clone)]
pub struct Rules {
    pub max_attempts: u32,
    pub backoff: Duration,
    pub heartbeat_timeout: Duration,
    pub trial_timeout: Option<Duration>,
    pub grace: Duration,
    /// Trials go on without the orchestrator (a batch scheduler).
    pub detached: bool,
    pub gpus_per_batch_trial: u32,
    pub gpu_names: HashMap<u32, String>,
    /// The worker's argv before the trial file (`ablate worker`, or the sweep's
    /// `[worker] command` with its program resolved).
    pub worker: Vec<String>,
    /// The sweep's output folder, absolute (workers may run elsewhere).
    pub output: PathBuf,
    /// Give workers [`MALLOC_TUNABLES`] (the user set no GLIBC_TUNABLES of their own).
    pub malloc_tunables: bool,
    pub provenance: Provenance,
    /// Content digest of each cache prepared for this run (cache path -> digest):
    /// handed to workers to check, and recorded with each result.
    pub data_digests: HashMap<PathBuf, String>,
    /// Keep a succeeded trial's resumable state (`--keep-state`).
    pub keep_state: bool,
}

#[derive(Debug)]
pub(super) struct Active {
    pub slot: usize,
    pub started: Instant,
    pub last_seen: Instant,
    pub view: RunningView,
    /// Its `finished` result, once it passed the checks, and when it arrived.
    pub finished: Option<(Reported, Instant)>,
    /// Its `finished` event, when it failed the checks (`protocol`, `nan-loss`).
    pub rejected: Option<(FailureClass, String)>,
    pub failed: Option<(FailureClass, String)>,
    pub stopped: Option<Stopped>,
    /// Lines of this attempt's stdout that were not protocol events.
    pub other_lines: usize,
    /// A line cut at the cap, or a non-finite number, was already noted.
    pub noted_cut: bool,
    pub noted_nonfinite: bool,
    /// The batch job carrying it, once submitted.
    pub job: Option<String>,
    /// Waiting in a batch queue: no heartbeat expected yet.
    pub queued: bool,
    /// What the worker said about a resumable state when it started (resumed
    /// from it, or why not): kept with the attempt's record.
    pub resume: Option<String>,
    /// The last resumable state this attempt wrote (epochs, batches): a
    /// timed-out attempt that saved one is retried, to resume from it.
    pub saved: Option<(u32, usize)>,
    /// When its progress was last recorded (heartbeats in between are not).
    pub progress_recorded: Option<Instant>,
}

impl Active {
    /// A local process just launched, on `slot`.
    fn launched(slot: usize, now: Instant, view: RunningView) -> Self {
        Active {
            slot,
            started: now,
            last_seen: now,
            view,
            finished: None,
            rejected: None,
            failed: None,
            stopped: None,
            other_lines: 0,
            noted_cut: false,
            noted_nonfinite: false,
            job: None,
            queued: false,
            resume: None,
            saved: None,
            progress_recorded: None,
        }
    }

    /// A batch job, queued (not yet submitted, or submitted as `job`).
    fn queued(slot: usize, now: Instant, view: RunningView, job: Option<String>) -> Self {
        Active {
            job,
            queued: true,
            ..Active::launched(slot, now, view)
        }
    }
}

#[derive(Debug)]
pub struct Job {
    pub id: TrialId,
    pub index: usize,
    pub device: Device,
    pub(super) deps: Vec<TrialId>,
    pub(super) state: State,
    pub(super) attempts: u32,
    pub(super) not_before: Option<Instant>,
    pub(super) active: Option<Active>,
}

impl Job {
    /// A trial to run, `attempts` of which the store already holds.
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

/// Where a dependency stands, for a trial waiting on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Dep {
    Succeeded,
    /// In a batch queue, which starts the dependant itself once this one succeeds.
    Submitted,
    /// Failed, blocked or interrupted (or never succeeded in an earlier run).
    Failed,
    Waiting,
}

/// Trials by state at the end of a run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub succeeded: usize,
    pub failed: usize,
    pub blocked: usize,
    pub interrupted: usize,
    /// Batch jobs left to the scheduler.
    pub running: usize,
}

pub struct Core<'a> {
    pub(super) sweep: &'a Sweep,
    pub(super) rules: Rules,
    pub(super) slots: Vec<Slot>,
    pub(super) jobs: Vec<Job>,
    pub(super) by_id: HashMap<TrialId, usize>,
    /// States in the store of trials this run depends on but does not run.
    pub(super) outside: HashMap<String, State>,
    pub(super) stopping: Option<Instant>,
    pub(super) durations: Vec<Duration>,
    pub(super) now: Instant,
}

/// What a core starts from.
#[derive(Debug)]
pub struct Plan {
    pub slots: Vec<Slot>,
    pub jobs: Vec<Job>,
    /// States in the store of trials this run depends on but does not run.
    pub outside: HashMap<String, State>,
}

impl<'a> Core<'a> {
    pub fn new(sweep: &'a Sweep, rules: Rules, plan: Plan, now: Instant) -> Self {
        let Plan {
            slots,
            jobs,
            outside,
        } = plan;
        let by_id = jobs
            .iter()
            .enumerate()
            .map(|(i, j)| (j.id.clone(), i))
            .collect();
        Core {
            sweep,
            rules,
            slots,
            jobs,
            by_id,
            outside,
            stopping: None,
            durations: Vec::new(),
            now,
        }
    }

    pub fn handle(&mut self, now: Instant, input: Input) -> Result<Vec<Effect>, Unexpected> {
        self.now = now;
        let mut fx = Vec::new();
        match input {
            Input::Backend(ev) => self.on_event(ev, &mut fx)?,
            Input::Stop(why) => self.stop(why, &mut fx),
            Input::Tick => self.on_tick(&mut fx),
        }
        Ok(fx)
    }

    pub fn counts(&self) -> Counts {
        let n = |s: State| self.jobs.iter().filter(|j| j.state == s).count();
        Counts {
            succeeded: n(State::Succeeded),
            failed: n(State::Failed),
            blocked: n(State::Blocked),
            interrupted: n(State::Interrupted),
            running: n(State::Running),
        }
    }

    /// Nothing left to wait for: no trial running (or a stop detaches from them) and
    /// none waiting (or a stop starts no more).
    pub fn finished(&self) -> bool {
        let running = self.jobs.iter().any(|j| j.state == State::Running);
        let waiting = self.jobs.iter().any(|j| j.state == State::Pending);
        let detach = self.stopping.is_some() && self.rules.detached;
        (!running || detach) && (!waiting || self.stopping.is_some())
    }

    /// At the end of a stopped run, trials that never started are interrupted.
    pub fn wind_up(&mut self) {
        if self.stopping.is_some() {
            for j in self.jobs.iter_mut().filter(|j| j.state == State::Pending) {
                j.state = State::Interrupted;
            }
        }
    }

    /// Follows a batch job an earlier orchestrator submitted; false when the trial
    /// is not part of this run or no slot is free.
    pub fn adopt(&mut self, now: Instant, trial: &str, job: &str) -> bool {
        self.now = now;
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
        j.active = Some(Active::queued(slot, self.now, view, Some(job.to_string())));
        true
    }

    /// Ids of the trials running now (owned, so the caller can mutate while signalling).
    pub(super) fn running_ids(&self) -> Vec<TrialId> {
        self.jobs
            .iter()
            .filter(|j| j.state == State::Running)
            .map(|j| j.id.clone())
            .collect()
    }

    /// The first stop signal stops launching and asks workers to stop (SIGTERM, then
    /// SIGKILL after the grace period); a second one kills them at once. A batch
    /// backend's jobs go on without us: a stop detaches.
    fn stop(&mut self, why: &str, fx: &mut Vec<Effect>) {
        if self.stopping.is_some() {
            if !self.rules.detached {
                let ids = self.running_ids();
                fx.push(Effect::Log(format!(
                    "{why} again: killing {} running trial(s) now",
                    ids.len()
                )));
                fx.extend(ids.into_iter().map(|trial| Effect::Signal {
                    trial,
                    signal: Signal::SIGKILL,
                }));
            }
            return;
        }
        self.stopping = Some(self.now);
        if self.rules.detached {
            let n = self.running_ids().len();
            fx.push(Effect::Log(format!(
                "{why}: detaching; {n} Slurm job(s) go on without this process. `ablate run` again reconnects to them, `ablate cancel` cancels them"
            )));
            return;
        }
        fx.push(Effect::Log(format!(
            "{why}: stopping; no new trials, running ones get SIGTERM, then SIGKILL after {:?}",
            self.rules.grace
        )));
        for id in self.running_ids() {
            if let Some(a) = self.jobs[self.by_id[id.as_str()]].active.as_mut() {
                a.stopped = Some(Stopped::Interrupt);
            }
            fx.push(Effect::Signal {
                trial: id,
                signal: Signal::SIGTERM,
            });
        }
    }

    fn on_tick(&mut self, fx: &mut Vec<Effect>) {
        let now = self.now;
        if self
            .stopping
            .is_some_and(|t| now.duration_since(t) > self.rules.grace)
        {
            fx.extend(self.running_ids().into_iter().map(|trial| Effect::Signal {
                trial,
                signal: Signal::SIGKILL,
            }));
        }
        let (heartbeat, timeout) = (self.rules.heartbeat_timeout, self.rules.trial_timeout);
        let grace = self.rules.grace;
        for j in self.jobs.iter_mut().filter(|j| j.state == State::Running) {
            let Some(a) = j.active.as_mut() else { continue };
            if a.stopped.is_some() || a.queued {
                continue;
            }
            // Its result is in: it only has to exit, and gets the grace period to.
            if let Some((_, at)) = a.finished {
                if now.duration_since(at) > grace {
                    let why = format!(
                        "the worker did not exit within {grace:?} of its `finished` event; it was killed and its result kept"
                    );
                    fx.push(Effect::Log(format!("note  {}: {why}", short_id(&j.id))));
                    a.stopped = Some(Stopped::AfterFinish(why));
                    fx.push(Effect::Signal {
                        trial: j.id.clone(),
                        signal: Signal::SIGKILL,
                    });
                }
                continue;
            }
            let why = if now.duration_since(a.last_seen) > heartbeat {
                Some(format!(
                    "no event or heartbeat for {heartbeat:?}; killed as hung"
                ))
            } else {
                timeout
                    .filter(|t| now.duration_since(a.started) > *t)
                    .map(|t| format!("ran past the trial timeout of {t:?}; killed"))
            };
            if let Some(w) = why {
                a.stopped = Some(Stopped::Hung(w));
                fx.push(Effect::Signal {
                    trial: j.id.clone(),
                    signal: Signal::SIGKILL,
                });
            }
        }
    }

    /// At the start: trials whose dependencies failed in an earlier run are blocked.
    pub fn block_unrunnable(&mut self) -> Vec<Effect> {
        let failed: Vec<String> = self
            .jobs
            .iter()
            .flat_map(|j| j.deps.iter())
            .filter(|d| {
                !self.by_id.contains_key(d.as_str())
                    && self
                        .outside
                        .get(d.as_str())
                        .is_some_and(|s| s.dooms_dependants())
            })
            .map(ToString::to_string)
            .collect();
        let mut fx = Vec::new();
        for d in failed {
            self.block_dependants(&d, "it failed in an earlier run", &mut fx);
        }
        fx
    }

    pub(super) fn dep_state(&self, dep: &str) -> Dep {
        let job = self.by_id.get(dep).map(|i| &self.jobs[*i]);
        match job.map(|j| j.state) {
            Some(State::Succeeded) => Dep::Succeeded,
            // A batch scheduler starts dependants itself once this job succeeds.
            Some(State::Running)
                if self.rules.detached
                    && job
                        .and_then(|j| j.active.as_ref())
                        .is_some_and(|a| a.job.is_some() && a.stopped.is_none()) =>
            {
                Dep::Submitted
            }
            Some(State::Failed | State::Blocked | State::Interrupted) => Dep::Failed,
            Some(_) => Dep::Waiting,
            None => match self.outside.get(dep) {
                Some(State::Succeeded) => Dep::Succeeded,
                _ => Dep::Failed,
            },
        }
    }

    /// Starts every trial that is ready (dependencies met, backoff over) on a free
    /// slot that fits it; nothing once a stop began.
    pub fn launch_ready(&mut self, now: Instant) -> Vec<Effect> {
        self.now = now;
        let mut fx = Vec::new();
        if self.stopping.is_some() {
            return fx;
        }
        for i in 0..self.jobs.len() {
            let j = &self.jobs[i];
            if j.state != State::Pending
                || j.not_before.is_some_and(|t| t > self.now)
                || !j
                    .deps
                    .iter()
                    .all(|d| matches!(self.dep_state(d), Dep::Succeeded | Dep::Submitted))
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
            fx.extend(self.start(i, slot));
        }
        fx
    }

    pub fn snapshot(&self) -> Snapshot {
        let count = |s: State| self.jobs.iter().filter(|j| j.state == s).count();
        let running: Vec<_> = self
            .jobs
            .iter()
            .filter_map(|j| j.active.as_ref().map(|a| a.view.clone()))
            .collect();
        let pending = count(State::Pending);
        let eta = (!self.durations.is_empty()).then(|| {
            let mean = self.durations.iter().sum::<Duration>() / self.durations.len() as u32;
            let parallel = self.slots.len().max(1) as u32;
            mean * (pending + running.len()) as u32 / parallel
        });
        Snapshot {
            total: self.jobs.len(),
            done: count(State::Succeeded),
            failed: count(State::Failed),
            blocked: count(State::Blocked),
            pending,
            running,
            eta,
        }
    }

    pub(super) fn active(&mut self, trial: &str) -> Option<&mut Active> {
        let i = *self.by_id.get(trial)?;
        self.jobs[i].active.as_mut()
    }

    /// Marks every waiting trial that depends on `trial`, directly or not, as blocked.
    pub(super) fn block_dependants(&mut self, trial: &str, why: &str, fx: &mut Vec<Effect>) {
        let mut stack = vec![trial.to_string()];
        while let Some(dep) = stack.pop() {
            for k in 0..self.jobs.len() {
                let job = &self.jobs[k];
                if job.state == State::Pending && job.deps.iter().any(|d| *d == dep) {
                    self.jobs[k].state = State::Blocked;
                    let reason = format!("waits on {}, which {why}", short_id(&dep));
                    let id = self.jobs[k].id.to_string();
                    fx.push(Effect::Log(format!("block {}: {reason}", short_id(&id))));
                    fx.push(Effect::SetState {
                        trial: id.clone().into(),
                        state: State::Blocked,
                        reason,
                    });
                    stack.push(id);
                }
            }
        }
    }

    fn start(&mut self, i: usize, slot: usize) -> Vec<Effect> {
        let trial = &self.sweep.trials[self.jobs[i].index];
        let dir = RunDir::of(&self.rules.output, &trial.id);
        let file = dir.trial_json();
        let input = self.trial_input(trial, &dir);
        let s = &self.slots[slot];
        let device_name = match s.kind {
            SlotKind::Gpu(g) => self.rules.gpu_names.get(&g).cloned(),
            SlotKind::Cpu | SlotKind::Batch => None,
        };
        let batch = s.kind == SlotKind::Batch;
        let gpus = match trial.exec.device {
            Device::Cuda if batch => self.rules.gpus_per_batch_trial.max(1),
            Device::Cuda => 1,
            Device::Cpu => 0,
        };
        let p = &self.rules.provenance;
        let attempt = AttemptStart {
            trial_id: trial.id.clone(),
            sweep: self.sweep.name.clone(),
            slot: s.name.clone(),
            device: s.device_label(),
            device_name,
            threads: trial.exec.threads,
            host: p.host.clone(),
            orchestrator_pid: std::process::id(),
            ablate_version: p.version.clone(),
            git_commit: p.git_commit.clone(),
            git_dirty: p.git_dirty,
            backend: if batch {
                BackendKind::Slurm
            } else {
                BackendKind::Local
            },
        };
        let env = worker_env(trial, s, self.rules.malloc_tunables);
        // Dependencies still in the batch queue: the new job starts after them.
        let after: Vec<String> = trial
            .depends_on
            .iter()
            .filter_map(|d| self.by_id.get(d.as_str()))
            .filter_map(|&k| {
                let j = &self.jobs[k];
                (j.state == State::Running)
                    .then(|| j.active.as_ref().and_then(|a| a.job.clone()))
                    .flatten()
            })
            .collect();
        let mut argv = self.rules.worker.clone();
        argv.push(file.display().to_string());
        let what = trial
            .labels
            .iter()
            .filter(|(k, _)| !matches!(k.as_str(), "data" | "width"))
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(" ");
        let log = Effect::Log(format!(
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
        let launch = Launch {
            trial: trial.id.clone(),
            argv,
            env,
            log: dir.worker_log(),
            run_dir: dir.path().to_path_buf(),
            attempt: 0,
            threads: trial.exec.threads,
            gpus,
            after,
        };
        self.slots[slot].busy = Some(trial.id.to_string());
        let j = &mut self.jobs[i];
        j.state = State::Running;
        j.attempts += 1;
        j.active = Some(if batch {
            Active::queued(slot, self.now, view, None)
        } else {
            Active::launched(slot, self.now, view)
        });
        vec![
            log,
            Effect::Start(Box::new(Start {
                attempt,
                input,
                file,
                launch,
            })),
        ]
    }

    /// The pixel cache a trial reads.
    fn cache_of(&self, trial: &Trial) -> PathBuf {
        crate::caches::cache_of(self.sweep, &self.rules.output, &trial.config)
    }

    /// The content digest of the cache `trial` reads, if this run prepared it.
    pub fn data_digest(&self, trial: &Trial) -> Option<String> {
        self.rules.data_digests.get(&self.cache_of(trial)).cloned()
    }

    fn trial_input(&self, trial: &Trial, dir: &RunDir) -> TrialInput {
        let output = &self.rules.output;
        let cache = self.cache_of(trial);
        let init = (trial.config.init.as_ref()).map(|id| RunDir::of(output, id).checkpoint());
        TrialInput {
            id: trial.id.clone(),
            config: trial.config.clone(),
            exec: trial.exec.clone(),
            data_digest: self.rules.data_digests.get(&cache).cloned(),
            cache,
            run_dir: dir.path().to_path_buf(),
            init_checkpoint: init,
            heartbeat_s: 10.0,
            labels: trial.labels.clone(),
        }
    }
}

/// The environment of a trial's worker on a slot.
pub(super) fn worker_env(trial: &Trial, s: &Slot, malloc_tunables: bool) -> Vec<(String, String)> {
    let mut env = vec![
        (Env::THREADS.to_string(), trial.exec.threads.to_string()),
        (Env::SLOT.to_string(), s.name.clone()),
        (Env::TRIAL_ID.to_string(), trial.id.to_string()),
    ];
    if malloc_tunables {
        env.push((Env::GLIBC_TUNABLES.to_string(), MALLOC_TUNABLES.to_string()));
    }
    if trial.exec.device == Device::Cuda && trial.config.train.precision == Precision::Fp32 {
        env.push((Env::TF32_OVERRIDE.to_string(), "0".to_string()));
    }
    // A batch scheduler sets CUDA_VISIBLE_DEVICES to the GPUs it grants.
    match s.kind {
        SlotKind::Gpu(g) => env.push((Env::CUDA_VISIBLE_DEVICES.into(), g.to_string())),
        SlotKind::Cpu => env.push((Env::CUDA_VISIBLE_DEVICES.into(), String::new())),
        SlotKind::Batch => {}
    }
    env
}
