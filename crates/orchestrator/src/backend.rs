//! Where trials run. The dispatcher hands a backend argument vectors and gets
//! events back on a channel; process details stay here, so a Slurm backend can
//! take the same place.

use std::path::PathBuf;
use std::process::Stdio;

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
    /// Where the worker's stderr goes.
    pub log: PathBuf,
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
    SpawnFailed {
        trial: String,
        message: String,
    },
}

pub trait Backend: Send {
    /// Starts `launch`; its events arrive on `events`.
    fn launch(&mut self, launch: Launch, events: UnboundedSender<BackendEvent>);
    /// Sends `signal` to the trial's process (and its group).
    fn signal(&mut self, trial: &str, signal: Signal);
}

/// Child processes on this machine.
#[derive(Debug, Default)]
pub struct LocalBackend {
    pids: std::collections::HashMap<String, u32>,
}

impl Backend for LocalBackend {
    fn launch(&mut self, launch: Launch, events: UnboundedSender<BackendEvent>) {
        let trial = launch.trial.clone();
        let stderr = match std::fs::File::create(&launch.log) {
            Ok(f) => Stdio::from(f),
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
