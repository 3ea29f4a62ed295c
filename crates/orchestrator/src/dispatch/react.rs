//! The core's reactions to backend events: exits (success, retry,
//! failure, interruption), batch jobs submitted, started, failed or withdrawn, and
//! the dependants that a failure blocks.

use ablate_protocol::{AttemptState, TrialState as State};
use ablate_spec::short_id;
use ablate_store::AttemptEnd;

use super::core::{Core, Dep, Effect, Unexpected};
use crate::backend::BackendEvent;
use crate::policy::{self, Exit, Outcome, Seen, Stopped};

impl Core<'_> {
    pub(super) fn on_event(
        &mut self,
        ev: BackendEvent,
        fx: &mut Vec<Effect>,
    ) -> Result<(), Unexpected> {
        let trial = match &ev {
            BackendEvent::Spawned { trial, .. }
            | BackendEvent::Line { trial, .. }
            | BackendEvent::Note { trial, .. }
            | BackendEvent::Exited { trial, .. }
            | BackendEvent::SpawnFailed { trial, .. }
            | BackendEvent::Submitted { trial, .. }
            | BackendEvent::Started { trial, .. }
            | BackendEvent::Failed { trial, .. }
            | BackendEvent::Withdrawn { trial, .. } => trial.clone(),
        };
        if !self.by_id.contains_key(trial.as_str()) {
            return Err(Unexpected(format!(
                "an event for trial {}, which this run does not have: {ev:?}",
                short_id(&trial)
            )));
        }
        if self.active(&trial).is_none() {
            return Err(Unexpected(format!(
                "an event for trial {}, which has no open attempt: {ev:?}",
                short_id(&trial)
            )));
        }
        let now = self.now;
        match ev {
            BackendEvent::Spawned { trial, pid } => {
                if let Some(pid) = pid {
                    fx.push(Effect::SetPid { trial, pid });
                }
            }
            BackendEvent::Line { trial, line } => self.on_line(&trial, line, fx),
            BackendEvent::Note { trial, text } => {
                fx.push(Effect::Log(format!("note  {}: {text}", short_id(&trial))));
            }
            BackendEvent::SpawnFailed {
                trial,
                class,
                message,
            } => self.finalize(&trial, Outcome::Failed { class, message }, Exit::NONE, fx),
            BackendEvent::Submitted { trial, job, events } => {
                if let Some(a) = self.active(&trial) {
                    a.job = Some(job.clone());
                    a.view.what = format!("slurm job {job} (queued)");
                }
                fx.push(Effect::SetJob { trial, job, events });
            }
            BackendEvent::Started { trial, node } => {
                if let Some(a) = self.active(&trial) {
                    a.queued = false;
                    a.started = now;
                    a.last_seen = now;
                    a.view.device = node.clone();
                    let job = a.job.clone().unwrap_or_default();
                    a.view.what = format!("slurm job {job}");
                    fx.push(Effect::Log(format!(
                        "run   {} as Slurm job {job} on {node}",
                        short_id(&trial)
                    )));
                }
            }
            BackendEvent::Failed {
                trial,
                class,
                message,
            } => {
                let outcome = match self.active(&trial) {
                    // Ended by the scheduler (a time limit in its teardown) after
                    // a result that passed its checks: the result stands.
                    Some(a) if a.finished.is_some() => Outcome::Succeeded(Some(format!(
                        "Slurm ended the job after its result arrived ({class}: {message}); the result is kept"
                    ))),
                    Some(a) if a.stopped == Some(Stopped::Interrupt) => {
                        Outcome::Interrupted("the sweep was interrupted".into())
                    }
                    _ => Outcome::Failed { class, message },
                };
                self.finalize(&trial, outcome, Exit::NONE, fx);
            }
            BackendEvent::Withdrawn { trial, why } => self.on_withdrawn(&trial, &why, fx),
            BackendEvent::Exited {
                trial,
                code,
                signal,
            } => {
                let exit = Exit { code, signal };
                let outcome = match self.active(&trial) {
                    Some(a) => policy::classify(
                        exit,
                        Seen {
                            finished: a.finished.is_some(),
                            rejected: a.rejected.as_ref(),
                            failed: a.failed.as_ref(),
                            stopped: a.stopped.as_ref(),
                        },
                    ),
                    None => return Ok(()),
                };
                self.finalize(&trial, outcome, exit, fx);
            }
        }
        Ok(())
    }

    fn finalize(&mut self, trial: &str, outcome: Outcome, exit: Exit, fx: &mut Vec<Effect>) {
        let Some(&i) = self.by_id.get(trial) else {
            return;
        };
        let Some(a) = self.jobs[i].active.take() else {
            return;
        };
        self.slots[a.slot].busy = None;
        let short = short_id(trial);
        let elapsed = self.now.saturating_duration_since(a.started);
        let end = |state: AttemptState| AttemptEnd {
            exit_code: exit.code,
            signal: exit.signal,
            message: a.resume.clone(),
            ..AttemptEnd::new(state)
        };
        let with_resume = |m: String| match &a.resume {
            Some(r) => format!("{m} ({r})"),
            None => m,
        };
        match outcome {
            Outcome::Succeeded(note) => {
                let degenerate = a.finished.as_ref().is_some_and(|(r, _)| r.degenerate());
                let mut end = end(AttemptState::Succeeded);
                if let Some(n) = note {
                    end.message = Some(with_resume(n));
                }
                fx.push(Effect::Succeed {
                    trial: trial.into(),
                    result: a.finished.map(|(r, _)| r),
                    end,
                });
                self.jobs[i].state = State::Succeeded;
                self.durations.push(elapsed);
                let flag = if degenerate {
                    " (flagged degenerate)"
                } else {
                    ""
                };
                fx.push(Effect::Log(format!(
                    "done  {short} in {:.1}s{flag}",
                    elapsed.as_secs_f64()
                )));
            }
            Outcome::Interrupted(why) => {
                fx.push(Effect::FinishAttempt {
                    trial: trial.into(),
                    end: AttemptEnd {
                        message: Some(with_resume(why)),
                        ..end(AttemptState::Interrupted)
                    },
                    state: State::Interrupted,
                });
                self.jobs[i].state = State::Interrupted;
            }
            Outcome::Failed { class, message } => {
                self.withdraw_dependants(trial, fx);
                let attempts = self.jobs[i].attempts;
                let mut end = AttemptEnd {
                    failure_class: Some(class.clone()),
                    message: Some(with_resume(message.clone())),
                    ..end(AttemptState::Failed)
                };
                let max = self.rules.max_attempts;
                // A time limit is worth another attempt only when this one saved
                // a state to resume from (the next goes further); without one it
                // would stop at the same place again.
                let resumable =
                    class == ablate_protocol::FailureClass::Timeout && a.saved.is_some();
                if (class.retryable() || resumable) && attempts < max && self.stopping.is_none() {
                    let wait = policy::backoff(self.rules.backoff, attempts + 1);
                    let resuming = match a.saved {
                        Some((e, 0)) => format!(", resuming from its state after epoch {e}"),
                        Some((e, b)) => {
                            format!(", resuming from its state after epoch {e}, batch {b}")
                        }
                        None => String::new(),
                    };
                    end.message = Some(with_resume(format!("{message} (will retry{resuming})")));
                    fx.push(Effect::FinishAttempt {
                        trial: trial.into(),
                        end,
                        state: State::Pending,
                    });
                    self.jobs[i].state = State::Pending;
                    self.jobs[i].not_before = Some(self.now + wait);
                    fx.push(Effect::Log(format!(
                        "retry {short} in {:.1}s after attempt {attempts} of {max}{resuming}: {class}: {message}",
                        wait.as_secs_f64()
                    )));
                } else {
                    fx.push(Effect::FinishAttempt {
                        trial: trial.into(),
                        end,
                        state: State::Failed,
                    });
                    self.jobs[i].state = State::Failed;
                    fx.push(Effect::Log(format!("FAIL  {short} ({class}): {message}")));
                    self.block_dependants(trial, &format!("failed ({class})"), fx);
                }
            }
        }
    }

    /// Batch jobs queued behind `trial` (which failed) cannot start: take them back
    /// (a retry of `trial` resubmits them after it).
    fn withdraw_dependants(&self, trial: &str, fx: &mut Vec<Effect>) {
        fx.extend(
            self.jobs
                .iter()
                .filter(|j| j.state == State::Running && j.deps.iter().any(|d| d == trial))
                .filter(|j| j.active.as_ref().is_some_and(|a| a.queued))
                .map(|j| Effect::Withdraw {
                    trial: j.id.clone(),
                }),
        );
    }

    /// A batch job taken back before it ran: its attempt did not count. It waits
    /// again, or is blocked if what it waits on has failed for good.
    fn on_withdrawn(&mut self, trial: &str, why: &str, fx: &mut Vec<Effect>) {
        let Some(&i) = self.by_id.get(trial) else {
            return;
        };
        let Some(a) = self.jobs[i].active.take() else {
            return;
        };
        self.slots[a.slot].busy = None;
        fx.push(Effect::FinishAttempt {
            trial: trial.into(),
            end: AttemptEnd {
                message: Some(format!("{why}; not counted as an attempt")),
                ..AttemptEnd::new(AttemptState::Interrupted)
            },
            state: State::Pending,
        });
        let j = &mut self.jobs[i];
        j.attempts = j.attempts.saturating_sub(1);
        j.state = State::Pending;
        let deps = j.deps.clone();
        // Only dependencies in this run can have failed since it was submitted.
        if let Some(d) = deps
            .iter()
            .filter(|d| self.by_id.contains_key(*d))
            .find(|d| self.dep_state(d) == Dep::Failed)
        {
            let reason = format!("waits on {}, which failed", short_id(d));
            self.jobs[i].state = State::Blocked;
            fx.push(Effect::SetState {
                trial: trial.into(),
                state: State::Blocked,
                reason: reason.clone(),
            });
            fx.push(Effect::Log(format!("block {}: {reason}", short_id(trial))));
            self.block_dependants(trial, "is blocked", fx);
        } else if self.stopping.is_some() {
            self.jobs[i].state = State::Interrupted;
        }
    }
}
