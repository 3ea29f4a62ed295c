//! The scheduler's rules, driven through `Core::handle` with made-up events and
//! instants: no processes, no database, milliseconds each.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use ablate_protocol::{FailureClass, TrialState};
use ablate_spec::Sweep;
use nix::sys::signal::Signal;

use super::core::{Core, Effect, Input, Job, Plan, Rules};
use crate::backend::BackendEvent;
use crate::lines::Line;
use crate::provenance::Provenance;
use crate::slots;

/// A pretraining trial, two trials that start from it, and two that stand alone
/// (depth vgg7 and vgg9), all seed 0.
pub(super) fn sweep() -> Sweep {
    let text = "[sweep]\nname = \"s\"\nseeds = 1\noutput = \"out\"\n[worker]\ncommand = [\"fake\"]\n\
                [data.faces]\nkind = \"synthetic-faces\"\n[train]\nthreads = 1\n\
                [pretrain.face]\ntask = \"identity\"\ndata = \"faces\"\n\
                [[study]]\nname = \"pre\"\nfixed = { tasks = [\"gender\"], depth = \"vgg13\" }\ngrid.pretrain = [\"face\"]\ngrid.lr = [0.01, 0.02]\n\
                [[study]]\nname = \"depth\"\nfixed.tasks = [\"gender\"]\ngrid.depth = [\"vgg7\", \"vgg9\"]\n";
    ablate_spec::parse(text, Path::new("/nowhere/s.toml")).expect("a valid sweep")
}

pub(super) fn rules(detached: bool) -> Rules {
    Rules {
        max_attempts: 3,
        backoff: Duration::from_secs(10),
        heartbeat_timeout: Duration::from_secs(60),
        trial_timeout: None,
        grace: Duration::from_secs(5),
        detached,
        gpus_per_batch_trial: 1,
        gpu_names: HashMap::new(),
        worker: vec!["ablate".into(), "worker".into()],
        output: "/nowhere/out".into(),
        malloc_tunables: true,
        provenance: Provenance::default(),
        data_digests: HashMap::new(),
        keep_state: false,
    }
}

pub(super) struct Harness<'a> {
    pub(super) core: Core<'a>,
    t0: Instant,
}

impl<'a> Harness<'a> {
    pub(super) fn new(sweep: &'a Sweep, cpu_slots: u32, detached: bool) -> Self {
        let jobs = (sweep.trials.iter().enumerate())
            .map(|(i, t)| Job::new(t, i, 0))
            .collect();
        let slots = if detached {
            slots::batch(cpu_slots as usize)
        } else {
            slots::build(&[], 1, cpu_slots)
        };
        let t0 = Instant::now();
        let plan = Plan {
            slots,
            jobs,
            outside: HashMap::new(),
        };
        let core = Core::new(sweep, rules(detached), plan, t0);
        Harness { core, t0 }
    }

    pub(super) fn at(&self, secs: f64) -> Instant {
        self.t0 + Duration::from_secs_f64(secs)
    }

    pub(super) fn launch(&mut self, secs: f64) -> Vec<Effect> {
        self.core.launch_ready(self.at(secs))
    }

    pub(super) fn send(&mut self, secs: f64, input: Input) -> Vec<Effect> {
        self.core
            .handle(self.at(secs), input)
            .unwrap_or_else(|e| panic!("unexpected: {}", e.0))
    }

    pub(super) fn exit(
        &mut self,
        secs: f64,
        trial: &str,
        code: Option<i32>,
        signal: Option<i32>,
    ) -> Vec<Effect> {
        let ev = BackendEvent::Exited {
            trial: trial.into(),
            code,
            signal,
        };
        self.send(secs, Input::Backend(ev))
    }

    pub(super) fn state(&self, trial: &str) -> TrialState {
        self.core.jobs[self.core.by_id[trial]].state
    }
}

pub(super) fn started(fx: &[Effect]) -> Vec<String> {
    fx.iter()
        .filter_map(|e| match e {
            Effect::Start(s) => Some(s.launch.trial.to_string()),
            _ => None,
        })
        .collect()
}

pub(super) fn signals(fx: &[Effect]) -> Vec<(String, Signal)> {
    fx.iter()
        .filter_map(|e| match e {
            Effect::Signal { trial, signal } => Some((trial.to_string(), *signal)),
            _ => None,
        })
        .collect()
}

/// (trial, new trial state, failure class) of each closed attempt.
pub(super) fn finished(fx: &[Effect]) -> Vec<(String, TrialState, Option<FailureClass>)> {
    fx.iter()
        .filter_map(|e| match e {
            Effect::FinishAttempt { trial, end, state } => {
                Some((trial.to_string(), *state, end.failure_class.clone()))
            }
            Effect::Succeed { trial, .. } => Some((trial.to_string(), TrialState::Succeeded, None)),
            _ => None,
        })
        .collect()
}

fn blocked(fx: &[Effect]) -> Vec<String> {
    fx.iter()
        .filter_map(|e| match e {
            Effect::SetState {
                trial,
                state: TrialState::Blocked,
                ..
            } => Some(trial.to_string()),
            _ => None,
        })
        .collect()
}

pub(super) fn line(trial: &str, json: &str) -> Input {
    Input::Backend(BackendEvent::Line {
        trial: trial.into(),
        line: Line::plain(json),
    })
}

/// A `finished` line whose result passes the checks for a trial with `task`.
pub(super) fn finished_line(trial: &str, task: &str) -> String {
    serde_json::json!({
        "event": "finished",
        "result": {"trial": trial, "test": {task: {"accuracy": 0.5}}, "degenerate": null}
    })
    .to_string()
}

#[test]
fn dependants_wait_for_their_pretraining_and_slots_are_never_shared() {
    let s = sweep();
    let mut h = Harness::new(&s, 2, false);
    let pre = s.trials[0].id.to_string();
    // Pretraining first, then the first standalone trial: 2 slots, 2 starts.
    let first = started(&h.launch(0.0));
    assert_eq!(first.len(), 2);
    assert_eq!(first[0], pre);
    assert!(started(&h.launch(0.1)).is_empty(), "no free slot");
    h.send(1.0, line(&pre, &finished_line(&pre, "identity")));
    let fx = h.exit(1.0, &pre, Some(0), None);
    assert_eq!(finished(&fx), [(pre.clone(), TrialState::Succeeded, None)]);
    let next = started(&h.launch(1.0));
    assert_eq!(next.len(), 1, "one slot freed");
    assert!(
        s.trials
            .iter()
            .find(|t| t.id == next[0])
            .is_some_and(|t| t.depends_on == [pre.clone()])
    );
}

/// Launches at `from`, `from + 0.5`, ... up to `to`; every other trial that starts
/// fails for good at once. Returns when `trial` started, if it did.
fn first_start_of(h: &mut Harness<'_>, trial: &str, from: f64, to: f64) -> Option<f64> {
    let mut t = from;
    while t <= to {
        for id in started(&h.launch(t)) {
            if id == trial {
                return Some(t);
            }
            h.exit(t, &id, Some(4), None);
        }
        t += 0.5;
    }
    None
}

#[test]
fn retryable_failures_wait_out_the_backoff_then_fail_for_good() {
    let s = sweep();
    let mut h = Harness::new(&s, 1, false);
    let pre = s.trials[0].id.to_string();
    assert_eq!(started(&h.launch(0.0)), std::slice::from_ref(&pre));
    // Out of memory (exit 5): retried after the backoff, 10 s before attempt 2.
    let fx = h.exit(1.0, &pre, Some(5), None);
    assert_eq!(
        finished(&fx),
        [(
            pre.clone(),
            TrialState::Pending,
            Some(FailureClass::OutOfMemory)
        )]
    );
    assert!(
        fx.iter()
            .any(|e| matches!(e, Effect::Log(l) if l.starts_with("retry")))
    );
    assert_eq!(first_start_of(&mut h, &pre, 1.0, 60.0), Some(11.0));
    // Attempt 2 fails the same way; attempt 3 waits 20 s.
    h.exit(12.0, &pre, Some(5), None);
    assert_eq!(h.state(&pre), TrialState::Pending);
    assert_eq!(first_start_of(&mut h, &pre, 12.0, 60.0), Some(32.0));
    // Attempt 3 of 3 fails: for good.
    let fx = h.exit(33.0, &pre, Some(5), None);
    assert_eq!(
        finished(&fx),
        [(
            pre.clone(),
            TrialState::Failed,
            Some(FailureClass::OutOfMemory)
        )]
    );
    assert_eq!(h.state(&pre), TrialState::Failed);
    assert_eq!(first_start_of(&mut h, &pre, 33.0, 200.0), None);
}

#[test]
fn a_final_failure_blocks_every_waiting_dependant() {
    let s = sweep();
    let mut h = Harness::new(&s, 1, false);
    let pre = s.trials[0].id.to_string();
    let dependants: Vec<String> = (s.trials.iter())
        .filter(|t| t.depends_on.iter().any(|d| *d == pre))
        .map(|t| t.id.to_string())
        .collect();
    assert_eq!(dependants.len(), 2);
    h.launch(0.0);
    let own = r#"{"event":"failed","class":"nan-loss","message":"loss is NaN"}"#;
    h.send(0.5, line(&pre, own));
    let fx = h.exit(1.0, &pre, Some(4), None);
    assert_eq!(
        finished(&fx),
        [(pre.clone(), TrialState::Failed, Some(FailureClass::NanLoss))]
    );
    let mut b = blocked(&fx);
    b.sort();
    let mut want = dependants.clone();
    want.sort();
    assert_eq!(b, want);
    for d in &dependants {
        assert_eq!(h.state(d), TrialState::Blocked);
    }
    // Never started afterwards.
    let later = started(&h.launch(100.0));
    assert!(later.iter().all(|id| !dependants.contains(id)), "{later:?}");
}

#[test]
fn a_stop_terms_then_kills_after_the_grace_and_a_second_signal_kills_at_once() {
    let s = sweep();
    let mut h = Harness::new(&s, 2, false);
    let running = started(&h.launch(0.0));
    assert_eq!(running.len(), 2);
    let fx = h.send(1.0, Input::Stop("interrupted (Ctrl-C)"));
    let terms: Vec<_> = signals(&fx).into_iter().map(|(_, s)| s).collect();
    assert_eq!(terms, [Signal::SIGTERM, Signal::SIGTERM]);
    assert!(
        started(&h.launch(1.1)).is_empty(),
        "nothing starts once stopping"
    );
    assert!(
        signals(&h.send(5.0, Input::Tick)).is_empty(),
        "within the grace"
    );
    let kills = signals(&h.send(6.5, Input::Tick));
    assert_eq!(kills.len(), 2);
    assert!(kills.iter().all(|(_, s)| *s == Signal::SIGKILL));

    // Again, and this time a second Ctrl-C does not wait for the grace period.
    let mut h = Harness::new(&s, 2, false);
    let running = started(&h.launch(0.0));
    h.send(1.0, Input::Stop("interrupted (Ctrl-C)"));
    let fx = h.send(1.2, Input::Stop("interrupted (Ctrl-C)"));
    let kills = signals(&fx);
    assert_eq!(kills.len(), 2, "{fx:?}");
    assert!(kills.iter().all(|(_, s)| *s == Signal::SIGKILL));
    // The workers end: interrupted, not failed, and the rest never started.
    for id in &running {
        let fx = h.exit(1.3, id, None, Some(9));
        assert_eq!(finished(&fx), [(id.clone(), TrialState::Interrupted, None)]);
    }
    assert!(h.core.finished());
    h.core.wind_up();
    assert_eq!(h.core.counts().interrupted, s.trials.len());
}

#[test]
fn a_silent_worker_is_killed_as_hung_and_not_retried() {
    let s = sweep();
    let mut h = Harness::new(&s, 1, false);
    let pre = started(&h.launch(0.0))[0].clone();
    h.send(30.0, line(&pre, r#"{"event":"heartbeat","loss":1.0}"#));
    assert!(
        signals(&h.send(80.0, Input::Tick)).is_empty(),
        "50 s after its heartbeat"
    );
    let fx = h.send(91.0, Input::Tick);
    assert_eq!(signals(&fx), [(pre.clone(), Signal::SIGKILL)]);
    let fx = h.exit(91.5, &pre, None, Some(9));
    assert_eq!(
        finished(&fx),
        [(pre.clone(), TrialState::Failed, Some(FailureClass::Timeout))]
    );
}

/// The message recorded with each closed attempt.
pub(super) fn messages(fx: &[Effect]) -> Vec<String> {
    fx.iter()
        .filter_map(|e| match e {
            Effect::FinishAttempt { end, .. } => end.message.clone(),
            Effect::Succeed { end, .. } => end.message.clone(),
            _ => None,
        })
        .collect()
}

#[test]
fn a_timed_out_attempt_that_saved_a_state_is_retried_to_resume_until_max_attempts() {
    let s = sweep();
    let mut h = Harness::new(&s, 1, false);
    h.core.rules.trial_timeout = Some(Duration::from_secs(50));
    let pre = started(&h.launch(0.0))[0].clone();
    h.send(10.0, line(&pre, r#"{"event":"state","epoch":2,"batch":0}"#));
    assert_eq!(
        signals(&h.send(51.0, Input::Tick)),
        [(pre.clone(), Signal::SIGKILL)]
    );
    let fx = h.exit(51.5, &pre, None, Some(9));
    assert_eq!(
        finished(&fx),
        [(
            pre.clone(),
            TrialState::Pending,
            Some(FailureClass::Timeout)
        )]
    );
    assert!(
        messages(&fx)[0].contains("resuming from its state after epoch 2"),
        "{:?}",
        messages(&fx)
    );
    // Attempt 2 resumes (its worker says so: kept with the attempt), saves
    // mid-epoch, and times out again: retried.
    let t = first_start_of(&mut h, &pre, 51.5, 100.0).unwrap();
    h.send(
        t + 1.0,
        line(
            &pre,
            r#"{"event":"started","resume":"resumed from state.safetensors after epoch 2 of 8"}"#,
        ),
    );
    h.send(
        t + 2.0,
        line(&pre, r#"{"event":"state","epoch":3,"batch":5}"#),
    );
    h.send(t + 51.0, Input::Tick);
    let fx = h.exit(t + 51.5, &pre, None, Some(9));
    assert_eq!(h.state(&pre), TrialState::Pending);
    let m = &messages(&fx)[0];
    assert!(
        m.contains("after epoch 3, batch 5")
            && m.contains("(resumed from state.safetensors after epoch 2"),
        "{m}"
    );
    // Attempt 3 of 3 times out too: failed for good, the state or not.
    let t = first_start_of(&mut h, &pre, t + 51.5, 200.0).unwrap();
    h.send(
        t + 2.0,
        line(&pre, r#"{"event":"state","epoch":4,"batch":0}"#),
    );
    h.send(t + 51.0, Input::Tick);
    let fx = h.exit(t + 51.5, &pre, None, Some(9));
    assert_eq!(
        finished(&fx),
        [(pre.clone(), TrialState::Failed, Some(FailureClass::Timeout))]
    );
}

#[test]
fn a_timed_out_attempt_without_a_state_fails_for_good() {
    let s = sweep();
    let mut h = Harness::new(&s, 1, false);
    h.core.rules.trial_timeout = Some(Duration::from_secs(50));
    let pre = started(&h.launch(0.0))[0].clone();
    h.send(10.0, line(&pre, r#"{"event":"heartbeat","loss":1.0}"#));
    h.send(51.0, Input::Tick);
    let fx = h.exit(51.5, &pre, None, Some(9));
    assert_eq!(
        finished(&fx),
        [(pre.clone(), TrialState::Failed, Some(FailureClass::Timeout))]
    );
}

#[test]
fn a_failed_dependency_withdraws_queued_batch_jobs_which_are_then_blocked() {
    let s = sweep();
    let mut h = Harness::new(&s, 8, true);
    let pre = s.trials[0].id.to_string();
    // Batch slots: the pretraining job and, once it is submitted, its dependants.
    let first = started(&h.launch(0.0));
    assert!(first.contains(&pre));
    let submitted = |trial: &str, job: &str| {
        Input::Backend(BackendEvent::Submitted {
            trial: trial.into(),
            job: job.to_string(),
            events: "e.jsonl".into(),
        })
    };
    h.send(0.1, submitted(&pre, "100"));
    let queued: Vec<String> = started(&h.launch(0.2));
    assert_eq!(
        queued.len(),
        2,
        "dependants handed over early, after `afterok`"
    );
    for (k, q) in queued.iter().enumerate() {
        h.send(0.3, submitted(q, &format!("10{}", k + 1)));
    }
    // The pretraining job fails for good: its queued dependants are taken back.
    let fx = h.exit(5.0, &pre, Some(3), None);
    let mut withdrawn: Vec<String> = fx
        .iter()
        .filter_map(|e| match e {
            Effect::Withdraw { trial } => Some(trial.to_string()),
            _ => None,
        })
        .collect();
    withdrawn.sort();
    let mut want = queued.clone();
    want.sort();
    assert_eq!(withdrawn, want);
    // Slurm confirms: the attempt does not count, and the trial is blocked.
    for q in &queued {
        let ev = BackendEvent::Withdrawn {
            trial: q.clone().into(),
            why: "job was withdrawn by ablate".into(),
        };
        let fx = h.send(6.0, Input::Backend(ev));
        assert_eq!(finished(&fx), [(q.clone(), TrialState::Pending, None)]);
        assert_eq!(blocked(&fx), std::slice::from_ref(q));
        assert_eq!(h.state(q), TrialState::Blocked);
        assert_eq!(h.core.jobs[h.core.by_id[q.as_str()]].attempts, 0);
    }
}

#[test]
fn events_for_unknown_trials_or_closed_attempts_are_errors_for_the_loop_to_log() {
    let s = sweep();
    let mut h = Harness::new(&s, 1, false);
    let err = h
        .core
        .handle(h.at(0.0), line("f00d", r#"{"event":"heartbeat"}"#))
        .unwrap_err();
    assert!(
        err.0.contains("f00d") && err.0.contains("does not have"),
        "{}",
        err.0
    );
    let idle = s.trials[1].id.to_string();
    let err = h
        .core
        .handle(h.at(0.0), line(&idle, r#"{"event":"heartbeat"}"#))
        .unwrap_err();
    assert!(err.0.contains("no open attempt"), "{}", err.0);
    assert_eq!(h.state(&idle), TrialState::Pending, "nothing changed");
}

#[test]
fn heartbeat_steps_are_recorded_at_most_every_two_seconds_per_attempt() {
    let s = sweep();
    let mut h = Harness::new(&s, 1, false);
    let pre = started(&h.launch(0.0))[0].clone();
    let beat = |step: u64| {
        format!(r#"{{"event":"heartbeat","epoch":3,"step":{step},"steps":40,"loss":0.5}}"#)
    };
    let recorded = |fx: &[Effect]| -> Vec<u64> {
        (fx.iter())
            .filter_map(|e| match e {
                Effect::RecordProgress {
                    progress:
                        ablate_store::Progress {
                            epoch: 3,
                            step,
                            steps: 40,
                        },
                    ..
                } => Some(*step),
                _ => None,
            })
            .collect()
    };
    assert_eq!(recorded(&h.send(1.0, line(&pre, &beat(1)))), [1]);
    assert_eq!(recorded(&h.send(2.5, line(&pre, &beat(2)))), [] as [u64; 0]);
    assert_eq!(recorded(&h.send(3.0, line(&pre, &beat(3)))), [3]);
    // A heartbeat without a step (a user's worker may send only its loss).
    let bare = h.send(9.0, line(&pre, r#"{"event":"heartbeat","loss":0.4}"#));
    assert_eq!(recorded(&bare), [] as [u64; 0]);
}

#[test]
fn epochs_are_recorded_as_the_worker_wrote_them_and_other_lines_are_noted() {
    let s = sweep();
    let mut h = Harness::new(&s, 1, false);
    let pre = started(&h.launch(0.0))[0].clone();
    let epoch = r#"{"event":"epoch","epoch":2,"train_loss":0.5,"custom":true}"#;
    let fx = h.send(1.0, line(&pre, epoch));
    assert!(matches!(&fx[..], [Effect::RecordEpoch { epoch: 2, line, .. }] if line == epoch));
    let notes: usize = (0..5)
        .map(|k| h.send(1.0, line(&pre, &format!("step {k}"))).len())
        .sum();
    assert_eq!(notes, 3, "the first 3 are shown");
}

#[test]
fn cuda_workers_at_fp32_run_with_tf32_off_in_cublas_and_cudnn() {
    let text = |train: &str| {
        format!(
            "[sweep]\nname = \"s\"\n[worker]\ncommand = [\"fake\"]\n[data.faces]\nkind = \"synthetic-faces\"\n\
             [train]\n{train}\n[[study]]\nname = \"d\"\nfixed.tasks = [\"gender\"]\ngrid.depth = [\"vgg7\"]\n"
        )
    };
    let env = |train: &str, kind: slots::SlotKind| {
        let s = ablate_spec::parse(&text(train), Path::new("/nowhere/s.toml")).unwrap();
        let slot = slots::Slot {
            name: "gpu0".into(),
            kind,
            busy: None,
        };
        let env = super::core::worker_env(&s.trials[0], &slot, false);
        (env.iter())
            .find(|(k, _)| k == ablate_protocol::Env::TF32_OVERRIDE)
            .map(|(_, v)| v.clone())
    };
    let gpu = || slots::SlotKind::Gpu(0);
    assert_eq!(env("device = \"cuda\"", gpu()), Some("0".into()));
    assert_eq!(
        env("device = \"cuda\"", slots::SlotKind::Batch),
        Some("0".into())
    );
    assert_eq!(env("device = \"cuda\"\nprecision = \"tf32\"", gpu()), None);
    assert_eq!(env("device = \"cpu\"", slots::SlotKind::Cpu), None);
}
