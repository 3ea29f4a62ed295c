//! The dispatcher's reactions: worker output, exits (success, retry, failure,
//! interruption), blocked dependants, and the progress snapshot.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use ablate_protocol::{AttemptState, Incoming, RunDir};
use ablate_spec::short_id;
use ablate_store::AttemptEnd;
use sha2::{Digest, Sha256};

use super::{Dep, Dispatcher, State};
use crate::RunError;
use crate::backend::BackendEvent;
use crate::policy::{self, Outcome, Stopped};
use crate::progress::Snapshot;

impl Dispatcher<'_> {
    pub(super) async fn on_event(&mut self, ev: BackendEvent) -> Result<(), RunError> {
        match ev {
            BackendEvent::Spawned { trial, pid } => {
                if let (Some(pid), Some(a)) = (pid, self.active(&trial)) {
                    let attempt = a.attempt;
                    self.store.set_attempt_pid(attempt, pid).await?;
                }
            }
            BackendEvent::Line { trial, line } => self.on_line(&trial, &line).await?,
            BackendEvent::SpawnFailed {
                trial,
                class,
                message,
            } => {
                let outcome = Outcome::Failed { class, message };
                self.finalize(&trial, outcome, None, None).await?;
            }
            BackendEvent::Submitted { trial, job, events } => {
                if let Some(a) = self.active(&trial) {
                    a.job = Some(job.clone());
                    a.view.what = format!("slurm job {job} (queued)");
                    let attempt = a.attempt;
                    self.store
                        .set_attempt_job(attempt, &job, &events.display().to_string())
                        .await?;
                }
            }
            BackendEvent::Started { trial, node } => {
                if let Some(a) = self.active(&trial) {
                    let now = Instant::now();
                    a.queued = false;
                    a.started = now;
                    a.last_seen = now;
                    a.view.device = node.clone();
                    let job = a.job.clone().unwrap_or_default();
                    a.view.what = format!("slurm job {job}");
                    self.reporter.log(&format!(
                        "run   {} as Slurm job {job} on {node}",
                        short_id(&trial)
                    ));
                }
            }
            BackendEvent::Failed {
                trial,
                class,
                message,
            } => {
                let outcome = match self.active(&trial).and_then(|a| a.stopped.clone()) {
                    Some(Stopped::Interrupt) => {
                        Outcome::Interrupted("the sweep was interrupted".into())
                    }
                    _ => Outcome::Failed { class, message },
                };
                self.finalize(&trial, outcome, None, None).await?;
            }
            BackendEvent::Withdrawn { trial, why } => self.on_withdrawn(&trial, &why).await?,
            BackendEvent::Exited {
                trial,
                code,
                signal,
            } => {
                let Some(a) = self.active(&trial) else {
                    return Ok(());
                };
                let outcome = policy::classify(
                    code,
                    signal,
                    a.finished.is_some(),
                    a.failed.clone(),
                    a.stopped.as_ref(),
                );
                self.finalize(&trial, outcome, code, signal).await?;
            }
        }
        Ok(())
    }

    fn active(&mut self, trial: &str) -> Option<&mut super::Active> {
        let i = *self.by_id.get(trial)?;
        self.jobs[i].active.as_mut()
    }

    async fn on_line(&mut self, trial: &str, line: &str) -> Result<(), RunError> {
        let Some(a) = self.active(trial) else {
            return Ok(());
        };
        a.last_seen = Instant::now();
        let event = match Incoming::parse(line) {
            Ok(e) => e,
            // The protocol allows other output on stdout: shown (the first few of
            // an attempt), never taken as an event.
            Err(e) => {
                a.other_lines += 1;
                if a.other_lines <= super::OTHER_LINES_SHOWN {
                    let more = if a.other_lines == super::OTHER_LINES_SHOWN {
                        "; further ones of this attempt are not shown"
                    } else {
                        ""
                    };
                    let shown: String = line.chars().take(200).collect();
                    self.reporter.log(&format!(
                        "note  {}: a line that is not a protocol event ({}): {shown}{more}",
                        short_id(trial),
                        e.why
                    ));
                }
                return Ok(());
            }
        };
        match event {
            Incoming::Started { device } => {
                if let Some(d) = device {
                    a.view.device = d;
                }
            }
            Incoming::Epoch {
                epoch,
                train_loss,
                images_per_s,
                val_score,
            } => {
                a.view.epoch = Some(epoch);
                a.view.loss = train_loss;
                a.view.images_per_s = images_per_s;
                a.view.metric = val_score.map(|s| format!("val {s:.3}"));
                let attempt = a.attempt;
                self.store.record_epoch(attempt, trial, epoch, line).await?;
            }
            Incoming::Heartbeat { loss } => a.view.loss = loss,
            Incoming::Finished { result } => a.finished = Some(result),
            Incoming::Failed { class, message } => a.failed = Some((class, message)),
        }
        Ok(())
    }

    async fn finalize(
        &mut self,
        trial: &str,
        outcome: Outcome,
        code: Option<i32>,
        signal: Option<i32>,
    ) -> Result<(), RunError> {
        let Some(&i) = self.by_id.get(trial) else {
            return Ok(());
        };
        let Some(a) = self.jobs[i].active.take() else {
            return Ok(());
        };
        self.slots[a.slot].busy = None;
        let short = short_id(trial);
        let elapsed = a.started.elapsed();
        let mut end = AttemptEnd {
            exit_code: code,
            signal,
            ..AttemptEnd::new(AttemptState::Succeeded)
        };
        match outcome {
            Outcome::Succeeded => {
                // classify() says Succeeded only with a `finished` event.
                let (json, degenerate) = a
                    .finished
                    .map_or(("null".to_string(), false), |r| (r.json(), r.degenerate()));
                self.store
                    .record_result(a.attempt, trial, &json, degenerate)
                    .await?;
                self.record_artifacts(trial).await?;
                end.state = AttemptState::Succeeded;
                self.store
                    .finish_attempt(a.attempt, trial, &end, State::Succeeded)
                    .await?;
                self.jobs[i].state = State::Succeeded;
                self.durations.push(elapsed);
                let flag = if degenerate {
                    " (flagged degenerate)"
                } else {
                    ""
                };
                self.reporter.log(&format!(
                    "done  {short} in {:.1}s{flag}",
                    elapsed.as_secs_f64()
                ));
            }
            Outcome::Interrupted(why) => {
                end.state = AttemptState::Interrupted;
                end.message = Some(why);
                self.store
                    .finish_attempt(a.attempt, trial, &end, State::Interrupted)
                    .await?;
                self.jobs[i].state = State::Interrupted;
            }
            Outcome::Failed { class, message } => {
                self.withdraw_dependants(trial);
                end.state = AttemptState::Failed;
                end.failure_class = Some(class.clone());
                end.message = Some(message.clone());
                let attempts = self.jobs[i].attempts;
                if class.retryable() && attempts < self.opts.max_attempts && self.stopping.is_none()
                {
                    let wait = policy::backoff(self.opts.backoff, attempts + 1);
                    end.message = Some(format!("{message} (will retry)"));
                    self.store
                        .finish_attempt(a.attempt, trial, &end, State::Pending)
                        .await?;
                    self.jobs[i].state = State::Pending;
                    self.jobs[i].not_before = Some(Instant::now() + wait);
                    self.reporter.log(&format!("retry {short} in {:.1}s after attempt {attempts} of {}: {class}: {message}", wait.as_secs_f64(), self.opts.max_attempts));
                } else {
                    self.store
                        .finish_attempt(a.attempt, trial, &end, State::Failed)
                        .await?;
                    self.jobs[i].state = State::Failed;
                    self.reporter
                        .log(&format!("FAIL  {short} ({class}): {message}"));
                    self.block_dependants(trial, &format!("failed ({class})"))
                        .await?;
                }
            }
        }
        Ok(())
    }

    /// Batch jobs queued behind `trial` (which failed) cannot start: take them back
    /// (a retry of `trial` resubmits them after it).
    fn withdraw_dependants(&mut self, trial: &str) {
        let ids: Vec<String> = self
            .jobs
            .iter()
            .filter(|j| j.state == State::Running && j.deps.iter().any(|d| d == trial))
            .filter(|j| j.active.as_ref().is_some_and(|a| a.queued))
            .map(|j| j.id.clone())
            .collect();
        for id in ids {
            self.backend.withdraw(&id);
        }
    }

    /// A batch job taken back before it ran: its attempt did not count. It waits
    /// again, or is blocked if what it waits on has failed for good.
    async fn on_withdrawn(&mut self, trial: &str, why: &str) -> Result<(), RunError> {
        let Some(&i) = self.by_id.get(trial) else {
            return Ok(());
        };
        let Some(a) = self.jobs[i].active.take() else {
            return Ok(());
        };
        self.slots[a.slot].busy = None;
        let end = AttemptEnd {
            message: Some(format!("{why}; not counted as an attempt")),
            ..AttemptEnd::new(AttemptState::Interrupted)
        };
        self.store
            .finish_attempt(a.attempt, trial, &end, State::Pending)
            .await?;
        let j = &mut self.jobs[i];
        j.attempts = j.attempts.saturating_sub(1);
        j.state = State::Pending;
        let deps = j.deps.clone();
        let db = HashMap::new();
        // Only dependencies in this run can have failed since it was submitted.
        if let Some(d) = deps
            .iter()
            .filter(|d| self.by_id.contains_key(*d))
            .find(|d| self.dep_state(d, &db) == Dep::Failed)
        {
            let reason = format!("waits on {}, which failed", short_id(d));
            self.jobs[i].state = State::Blocked;
            self.store
                .set_state(trial, State::Blocked, Some(&reason))
                .await?;
            self.reporter
                .log(&format!("block {}: {reason}", short_id(trial)));
            self.block_dependants(trial, "is blocked").await?;
        } else if self.stopping.is_some() {
            self.jobs[i].state = State::Interrupted;
        }
        Ok(())
    }

    /// Marks every waiting trial that depends on `trial`, directly or not, as blocked.
    pub(super) async fn block_dependants(
        &mut self,
        trial: &str,
        why: &str,
    ) -> Result<(), RunError> {
        let mut stack = vec![trial.to_string()];
        while let Some(dep) = stack.pop() {
            for k in 0..self.jobs.len() {
                if self.jobs[k].state == State::Pending && self.jobs[k].deps.contains(&dep) {
                    self.jobs[k].state = State::Blocked;
                    let reason = format!("waits on {}, which {why}", short_id(&dep));
                    self.store
                        .set_state(&self.jobs[k].id, State::Blocked, Some(&reason))
                        .await?;
                    self.reporter
                        .log(&format!("block {}: {reason}", short_id(&self.jobs[k].id)));
                    stack.push(self.jobs[k].id.clone());
                }
            }
        }
        Ok(())
    }

    async fn record_artifacts(&mut self, trial: &str) -> Result<(), RunError> {
        let dir = RunDir::of(&self.sweep.output, trial);
        for name in RunDir::ARTIFACTS {
            let path = dir.path().join(name);
            let Ok(bytes) = std::fs::read(&path) else {
                continue;
            };
            let sha: String = Sha256::digest(&bytes)
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            self.store
                .record_artifact(trial, &path.display().to_string(), &sha, bytes.len() as u64)
                .await?;
        }
        Ok(())
    }

    pub(super) fn snapshot(&self) -> Snapshot {
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
}
