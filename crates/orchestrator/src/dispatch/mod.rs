//! The dispatcher: one task owning all scheduling state. Its decisions are a
//! synchronous core (`core.rs`, `react.rs`: inputs in, effects out, no I/O); this
//! file is the loop around it, which `select!`s over worker events, Ctrl-C/SIGTERM
//! and a timer, feeds each to the core, and applies the effects: every database
//! write, every signal to a worker, every launch and log line goes through here.

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use ablate_protocol::{Env, RunDir};
use ablate_spec::{Sweep, TrialId};
use ablate_store::{Artifact, Store, Success};
use sha2::{Digest, Sha256};
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;

use crate::RunError;
use crate::backend::{Backend, BackendEvent};
use crate::options::RunOptions;
use crate::progress::Reporter;
use crate::provenance;
use crate::slots::Slot;

mod core;
#[cfg(test)]
mod finished_tests;
mod output;
mod react;
#[cfg(test)]
mod tests;

use self::core::{Core, Effect, Input, Plan, Rules, Start};
pub use self::core::{Counts, Job};

/// What a dispatcher is made of.
pub struct Parts<'a> {
    pub sweep: &'a Sweep,
    /// The sweep's output folder, absolute.
    pub output: PathBuf,
    pub store: Store,
    pub slots: Vec<Slot>,
    pub opts: &'a RunOptions,
    pub jobs: Vec<Job>,
    pub reporter: &'a mut dyn Reporter,
    pub backend: Box<dyn Backend>,
    /// Content digests of the caches prepared for this run, by cache path.
    pub data_digests: HashMap<PathBuf, String>,
}

pub struct Dispatcher<'a> {
    core: Core<'a>,
    store: Store,
    reporter: &'a mut dyn Reporter,
    backend: Box<dyn Backend>,
    /// The open attempt's database id, per running trial.
    attempts: HashMap<TrialId, i64>,
    tx: mpsc::UnboundedSender<BackendEvent>,
    rx: mpsc::UnboundedReceiver<BackendEvent>,
}

impl<'a> Dispatcher<'a> {
    /// `outside`: the stored states of trials this run depends on but does not run.
    pub fn new(p: Parts<'a>, outside: HashMap<String, ablate_protocol::TrialState>) -> Self {
        let rules = Rules {
            max_attempts: p.opts.max_attempts,
            backoff: p.opts.backoff,
            heartbeat_timeout: p.opts.heartbeat_timeout,
            trial_timeout: p.opts.trial_timeout,
            grace: p.opts.grace,
            detached: p.backend.detached(),
            gpus_per_batch_trial: p.opts.slurm.as_ref().map_or(1, |o| o.gpus_per_trial),
            gpu_names: p.opts.gpu_names.clone(),
            worker: match &p.sweep.worker {
                Some(cmd) => worker_argv(cmd, p.sweep.file.parent()),
                None => vec![p.opts.ablate_exe.display().to_string(), "worker".into()],
            },
            output: p.output,
            malloc_tunables: std::env::var_os(Env::GLIBC_TUNABLES).is_none(),
            provenance: provenance::collect(&p.sweep.file),
            data_digests: p.data_digests,
            keep_state: p.opts.keep_state,
        };
        let (tx, rx) = mpsc::unbounded_channel();
        Dispatcher {
            core: Core::new(
                p.sweep,
                rules,
                Plan {
                    slots: p.slots,
                    jobs: p.jobs,
                    outside,
                },
                Instant::now(),
            ),
            store: p.store,
            reporter: p.reporter,
            backend: p.backend,
            attempts: HashMap::new(),
            tx,
            rx,
        }
    }

    /// Trials by state; after `run`, only batch jobs are still running (left to
    /// the scheduler).
    pub fn counts(&self) -> Counts {
        self.core.counts()
    }

    pub fn log(&mut self, line: &str) {
        self.reporter.log(line);
    }

    /// Follows a batch job an earlier orchestrator submitted (attempt `attempt`).
    pub fn adopt(&mut self, trial: &str, attempt: i64, job: &str, events: PathBuf) -> bool {
        if !self.core.adopt(Instant::now(), trial, job) {
            return false;
        }
        self.attempts.insert(trial.into(), attempt);
        self.backend.adopt(trial, job, events);
        true
    }

    pub async fn run(&mut self) -> Result<(), RunError> {
        let mut sigint = signal(SignalKind::interrupt()).map_err(RunError::Signals)?;
        let mut sigterm = signal(SignalKind::terminate()).map_err(RunError::Signals)?;
        let mut tick = tokio::time::interval(Duration::from_millis(250));
        let fx = self.core.block_unrunnable();
        self.apply(fx).await?;
        loop {
            let fx = self.core.launch_ready(Instant::now());
            self.apply(fx).await?;
            if self.core.finished() {
                break;
            }
            let input = tokio::select! {
                Some(ev) = self.rx.recv() => Input::Backend(ev),
                _ = sigint.recv() => Input::Stop("interrupted (Ctrl-C)"),
                _ = sigterm.recv() => Input::Stop("terminated (SIGTERM)"),
                _ = tick.tick() => {
                    self.backend.poll(&self.tx);
                    Input::Tick
                }
            };
            let fx = self.handle(input);
            self.apply(fx).await?;
            self.reporter.update(&self.core.snapshot());
        }
        self.core.wind_up();
        self.reporter.finish();
        Ok(())
    }

    /// The core's reaction to one input; what it cannot place is logged.
    fn handle(&mut self, input: Input) -> Vec<Effect> {
        self.core
            .handle(Instant::now(), input)
            .unwrap_or_else(|e| vec![Effect::Log(format!("note  {}", e.0))])
    }

    /// Applies effects in order. After a launch, the events its backend already
    /// sent are handled first: a batch backend knows the job id as soon as sbatch
    /// returns, and recording it before the next submission means a kill -9 between
    /// two submissions never leaves a queued job without its id (which a rerun
    /// would submit again).
    async fn apply(&mut self, fx: Vec<Effect>) -> Result<(), RunError> {
        let mut queue: VecDeque<Effect> = fx.into();
        while let Some(e) = queue.pop_front() {
            let launched = matches!(e, Effect::Start(_));
            self.apply_one(e).await?;
            if launched {
                let mut now = Vec::new();
                while let Ok(ev) = self.rx.try_recv() {
                    now.extend(self.handle(Input::Backend(ev)));
                }
                for e in now.into_iter().rev() {
                    queue.push_front(e);
                }
            }
        }
        Ok(())
    }

    async fn apply_one(&mut self, e: Effect) -> Result<(), RunError> {
        match e {
            Effect::Start(s) => self.start(*s).await?,
            Effect::SetPid { trial, pid } => {
                if let Some(&a) = self.attempts.get(&trial) {
                    self.store.set_attempt_pid(a, pid).await?;
                }
            }
            Effect::SetJob { trial, job, events } => {
                if let Some(&a) = self.attempts.get(&trial) {
                    let events = events.display().to_string();
                    self.store.set_attempt_job(a, &job, &events).await?;
                }
            }
            Effect::RecordEpoch { trial, epoch, line } => {
                if let Some(&a) = self.attempts.get(&trial) {
                    self.store.record_epoch(a, &trial, epoch, &line).await?;
                }
            }
            Effect::RecordProgress { trial, progress } => {
                if let Some(&a) = self.attempts.get(&trial) {
                    self.store.record_progress(a, &progress).await?;
                }
            }
            Effect::RecordMemory { trial, host, gpu } => {
                if let Some(&a) = self.attempts.get(&trial) {
                    self.store.record_peak_memory(a, host, gpu).await?;
                }
            }
            Effect::Succeed { trial, result, end } => {
                let Some(a) = self.attempts.remove(&trial) else {
                    return Ok(());
                };
                let (json, degenerate) = result
                    .as_ref()
                    .map_or(("null".to_string(), false), |r| (r.json(), r.degenerate()));
                let artifacts = artifacts(&RunDir::of(&self.core.sweep.output, &trial));
                let spec = self.core.sweep.trial(&trial);
                let data_digest = spec.and_then(|t| self.core.data_digest(t));
                let trainer_version = result.as_ref().and_then(|r| r.trainer_version());
                let init = spec.and_then(|t| t.config.init.clone());
                self.store
                    .record_success(&Success {
                        attempt: a,
                        trial: &trial,
                        result: &json,
                        degenerate,
                        artifacts: &artifacts,
                        end: &end,
                        data_digest: data_digest.as_deref(),
                        trainer_version: trainer_version.as_deref(),
                        init: init.as_deref(),
                    })
                    .await?;
                // The state belongs to the trial: once its result is recorded
                // nothing resumes from it.
                let state = RunDir::of(&self.core.sweep.output, &trial).state();
                if !self.core.rules.keep_state
                    && let Err(e) = std::fs::remove_file(&state)
                    && e.kind() != std::io::ErrorKind::NotFound
                {
                    self.reporter.log(&format!(
                        "note  {}: cannot delete {}: {e}",
                        ablate_spec::short_id(&trial),
                        state.display()
                    ));
                }
            }
            Effect::FinishAttempt { trial, end, state } => {
                if let Some(a) = self.attempts.remove(&trial) {
                    self.store.finish_attempt(a, &trial, &end, state).await?;
                }
            }
            Effect::SetState {
                trial,
                state,
                reason,
            } => self.store.set_state(&trial, state, Some(&reason)).await?,
            Effect::Signal { trial, signal } => self.backend.signal(&trial, signal),
            Effect::Withdraw { trial } => self.backend.withdraw(&trial),
            Effect::Log(line) => self.reporter.log(&line),
        }
        Ok(())
    }

    /// Opens the attempt, writes the trial file, and hands the launch to the backend.
    async fn start(&mut self, s: Start) -> Result<(), RunError> {
        let dir = &s.launch.run_dir;
        std::fs::create_dir_all(dir).map_err(RunError::io("create", dir))?;
        if let Some(prev) = self.store.last_attempt(&s.launch.trial).await? {
            crate::attempt_files::keep(&RunDir::at(dir), prev, &RunDir::PER_ATTEMPT)?;
        }
        let text = serde_json::to_string_pretty(&s.input).map_err(|source| RunError::Json {
            path: s.file.clone(),
            source,
        })?;
        std::fs::write(&s.file, text).map_err(RunError::io("write", &s.file))?;
        let attempt = self.store.start_attempt(&s.attempt).await?;
        self.attempts.insert(s.launch.trial.clone(), attempt);
        let mut launch = s.launch;
        launch.attempt = attempt;
        self.backend.launch(launch, self.tx.clone());
        Ok(())
    }
}

/// The files a succeeded trial left in its run directory, with their digests.
fn artifacts(dir: &RunDir) -> Vec<Artifact> {
    RunDir::ARTIFACTS
        .iter()
        .filter_map(|name| {
            let path = dir.path().join(name);
            let bytes = std::fs::read(&path).ok()?;
            Some(Artifact {
                path: path.display().to_string(),
                sha256: Sha256::digest(&bytes)
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect(),
                bytes: bytes.len() as u64,
            })
        })
        .collect()
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
