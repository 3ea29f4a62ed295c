//! Where trials run. The dispatcher hands a backend argument vectors and gets
//! events back on a channel; process details stay here, and the Slurm backend
//! (`crate::slurm`) takes the same place.

use std::path::PathBuf;
use std::process::Stdio;

use ablate_protocol::FailureClass;
use nix::sys::signal::Signal;
use nix::unistd::Pid;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;
use tokio::sync::mpsc::UnboundedSender;

/// One trial to start.
#[derive(Debug, Clone)]
pub struct Launch {
    pub trial: String,
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
        trial: String,
        pid: Option<u32>,
    },
    Line {
        trial: String,
        line: String,
    },
    Exited {
        trial: String,
        code: Option<i32>,
        signal: Option<i32>,
    },
    /// It could not be started (no such program; sbatch refused it).
    SpawnFailed {
        trial: String,
        class: FailureClass,
        message: String,
    },
    /// A batch job was accepted; `events` is the file its worker writes.
    Submitted {
        trial: String,
        job: String,
        events: PathBuf,
    },
    /// A queued batch job started on `node`.
    Started {
        trial: String,
        node: String,
    },
    /// The scheduler ended the job for a reason of its own (time limit,
    /// preemption, node failure, an outside scancel), before its worker could.
    Failed {
        trial: String,
        class: FailureClass,
        message: String,
    },
    /// The job was taken back before it ran (its dependency failed, or the
    /// dispatcher withdrew it): no attempt was spent; it may be submitted again.
    Withdrawn {
        trial: String,
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

/// Child processes on this machine.
#[derive(Debug, Default)]
pub struct LocalBackend {
    pids: std::collections::HashMap<String, u32>,
}

impl Backend for LocalBackend {
    fn launch(&mut self, launch: Launch, events: UnboundedSender<BackendEvent>) {
        let trial = launch.trial.clone();
        // Appended, never truncated: an earlier attempt's stderr (why it failed)
        // stays readable after a retry, each attempt under its own header.
        let stderr = match std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&launch.log)
        {
            Ok(mut f) => {
                use std::io::Write as _;
                let _ = writeln!(
                    f,
                    "--- attempt {} ({}) ---",
                    launch.attempt,
                    ablate_store::now_rfc3339()
                );
                Stdio::from(f)
            }
            Err(_) => Stdio::null(),
        };
        let mut cmd = Command::new(&launch.argv[0]);
        cmd.args(&launch.argv[1..])
            .envs(launch.env.iter().cloned())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr);
        // Own process group: a terminal's Ctrl-C reaches the orchestrator only, which
        // then stops workers in order (SIGTERM, grace, SIGKILL).
        cmd.process_group(0);
        let mut child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) => {
                let _ = events.send(BackendEvent::SpawnFailed {
                    trial,
                    class: FailureClass::BadConfig,
                    message: format!("cannot start {:?}: {e}", launch.argv[0]),
                });
                return;
            }
        };
        let pid = child.id();
        if let Some(p) = pid {
            self.pids.insert(trial.clone(), p);
        }
        let _ = events.send(BackendEvent::Spawned {
            trial: trial.clone(),
            pid,
        });
        let stdout = child.stdout.take();
        tokio::spawn(async move {
            if let Some(out) = stdout {
                let mut lines = BufReader::new(out).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    let _ = events.send(BackendEvent::Line {
                        trial: trial.clone(),
                        line,
                    });
                }
            }
            let (code, signal) = match child.wait().await {
                Ok(status) => {
                    use std::os::unix::process::ExitStatusExt;
                    (status.code(), status.signal())
                }
                Err(_) => (None, None),
            };
            let _ = events.send(BackendEvent::Exited {
                trial,
                code,
                signal,
            });
        });
    }

    fn signal(&mut self, trial: &str, signal: Signal) {
        if let Some(pid) = self.pids.get(trial) {
            // The whole group: a worker may have children of its own (a Python trainer's loaders).
            let _ = nix::sys::signal::killpg(Pid::from_raw(*pid as i32), signal);
        }
    }
}
