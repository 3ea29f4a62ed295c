//! Where trials run. The dispatcher hands a backend argument vectors and gets
//! events back on a channel; process details stay here, and the Slurm backend
//! (the `slurm` module) takes the same place.

use std::path::PathBuf;

use ablate_protocol::FailureClass;
use ablate_spec::TrialId;
use nix::sys::signal::Signal;
use tokio::sync::mpsc::UnboundedSender;

use crate::lines::Line;

/// One trial to start.
#[derive(Debug, Clone)]
pub struct Launch {
    pub trial: TrialId,
    /// Program and arguments (never a shell string).
    pub argv: Vec<String>,
    pub env: Vec<(String, String)>,
    /// Where the worker's stderr goes (appended to, one header per attempt).
    pub log: PathBuf,
    /// The trial's run directory (a batch job's working directory).
    pub run_dir: PathBuf,
    /// The attempt's row in the database (names a batch job's files).
    pub attempt: i64,
    /// CPU threads and GPUs the trial needs (a batch job asks for them).
    pub threads: u32,
    pub gpus: u32,
    /// Batch jobs of dependencies still queued or running: start after they succeed.
    pub after: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum BackendEvent {
    Spawned {
        trial: TrialId,
        pid: Option<u32>,
    },
    /// A line of the worker's output (its stdout, or a batch job's events file).
    Line {
        trial: TrialId,
        line: Line,
    },
    /// Something the backend did that the user should know (processes a worker
    /// left behind, ended).
    Note {
        trial: TrialId,
        text: String,
    },
    Exited {
        trial: TrialId,
        code: Option<i32>,
        signal: Option<i32>,
    },
    /// It could not be started (no such program; sbatch refused it).
    SpawnFailed {
        trial: TrialId,
        class: FailureClass,
        message: String,
    },
    /// A batch job was accepted; `events` is the file its worker writes.
    Submitted {
        trial: TrialId,
        job: String,
        events: PathBuf,
    },
    /// A queued batch job started on `node`.
    Started {
        trial: TrialId,
        node: String,
    },
    /// The scheduler ended the job for a reason of its own (time limit,
    /// preemption, node failure, an outside scancel), before its worker could.
    Failed {
        trial: TrialId,
        class: FailureClass,
        message: String,
    },
    /// The job was taken back before it ran (its dependency failed, or the
    /// dispatcher withdrew it): no attempt was spent; it may be submitted again.
    Withdrawn {
        trial: TrialId,
        why: String,
    },
}

pub trait Backend: Send {
    /// Starts `launch`; its events arrive on `events`.
    fn launch(&mut self, launch: Launch, events: UnboundedSender<BackendEvent>);
    /// Sends `signal` to the trial's process (and its group).
    fn signal(&mut self, trial: &str, signal: Signal);
    /// Called on each dispatcher tick: a batch backend follows files and job states.
    fn poll(&mut self, _events: &UnboundedSender<BackendEvent>) {}
    /// Whether trials go on without the orchestrator (a batch scheduler): then a
    /// stop detaches instead of killing, and dependants are handed over early.
    fn detached(&self) -> bool {
        false
    }
    /// Takes back a queued trial before it runs (ends in `Withdrawn`).
    fn withdraw(&mut self, trial: &str) {
        self.signal(trial, Signal::SIGKILL);
    }
    /// Follows a job submitted by an earlier orchestrator.
    fn adopt(&mut self, _trial: &str, _job: &str, _events: PathBuf) {}
}
