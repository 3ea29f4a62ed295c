//! The Slurm backend: each attempt is one `sbatch` job running the worker argv;
//! the worker's stdout (its JSON events) goes to a file in the trial's run
//! directory, which the orchestrator follows, while `squeue`/`scontrol`/`sacct`
//! tell it when jobs start and end. Workers never touch the database.
//!
//! Jobs outlive the orchestrator: a stop detaches (jobs go on), and the next
//! `ablate run` adopts the jobs the database lists as open instead of submitting
//! them again. Slurm calls are short blocking commands run from the dispatcher's
//! tick, at most once per poll interval for the job states.

pub mod follow;
pub mod query;
mod request;
pub mod sbatch;

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use ablate_protocol::{FailureClass, TrialId};
use nix::sys::signal::Signal;
use tokio::sync::mpsc::UnboundedSender;

use crate::backend::{Backend, BackendEvent, Launch};
use crate::lines::Line;
use follow::Follower;
use query::{EndKind, Seen};
pub use request::{Requested, live_states, options};
pub use sbatch::SlurmOptions;

#[derive(Debug)]
struct Tracked {
    job: String,
    follow: Follower,
    running: bool,
    withdrawing: bool,
    signalled: bool,
    /// The worker wrote `finished` or `failed`.
    final_event: bool,
    /// Slurm said the job ended (state, reason, exit), and when we learnt it.
    ended: Option<(String, String, (i32, i32), Instant)>,
}

#[derive(Debug)]
pub struct SlurmBackend {
    opts: SlurmOptions,
    script: PathBuf,
    jobs: HashMap<TrialId, Tracked>,
    last_query: Option<Instant>,
    /// The longest line of a job's events read whole (bytes).
    max_line: usize,
}

/// The job-name prefix of a sweep's jobs: a job is `<prefix>-<short trial id>`.
/// It carries a hash of the sweep's output folder, so two copies of a sweep
/// (another folder, the same trials) never share job names: one's `ablate
/// cancel` or recovery never takes the other's jobs.
pub fn job_prefix(sweep: &ablate_spec::Sweep) -> String {
    use sha2::Digest as _;
    let hash = sha2::Sha256::digest(
        lexical_absolute(&sweep.output)
            .as_os_str()
            .as_encoded_bytes(),
    );
    let short: String = hash.iter().take(4).map(|b| format!("{b:02x}")).collect();
    format!("ablate-{}-{short}", sweep.name)
}

impl SlurmBackend {
    /// `dir`: where the job script goes (the sweep's output folder, which compute
    /// nodes must see).
    pub fn new(
        opts: SlurmOptions,
        dir: &std::path::Path,
        max_line: usize,
    ) -> std::io::Result<Self> {
        Ok(SlurmBackend {
            script: sbatch::write_job_script(dir)?,
            opts,
            jobs: HashMap::new(),
            last_query: None,
            max_line,
        })
    }

    fn track(&mut self, trial: &str, job: String, events: PathBuf) {
        self.jobs.insert(
            trial.into(),
            Tracked {
                job,
                follow: Follower::new(events, self.max_line),
                running: false,
                withdrawing: false,
                signalled: false,
                final_event: false,
                ended: None,
            },
        );
    }

    fn scancel(&self, args: &[String]) {
        let _ = Command::new("scancel").args(args).output();
    }
}

impl Backend for SlurmBackend {
    fn launch(&mut self, launch: Launch, events: UnboundedSender<BackendEvent>) {
        let trial = launch.trial.clone();
        let argv = sbatch::argv(&self.opts, &launch, &self.script);
        let mut cmd = Command::new(&argv[0]);
        cmd.args(&argv[1..]).envs(launch.env.iter().cloned());
        // Slurm sets CUDA_VISIBLE_DEVICES for the GPUs it grants; one inherited from
        // the submitting shell must not reach the job. CPU jobs see none.
        if launch.gpus > 0 {
            cmd.env_remove("CUDA_VISIBLE_DEVICES");
        } else {
            cmd.env("CUDA_VISIBLE_DEVICES", "");
        }
        let (out, err) = match cmd.output() {
            Ok(o) if o.status.success() => (String::from_utf8_lossy(&o.stdout).into_owned(), None),
            Ok(o) => (
                String::new(),
                Some(String::from_utf8_lossy(&o.stderr).trim().to_string()),
            ),
            Err(e) => (
                String::new(),
                Some(format!(
                    "cannot run sbatch: {e}; is this a Slurm login node?"
                )),
            ),
        };
        let Some(job) = err.is_none().then(|| sbatch::parse_job_id(&out)).flatten() else {
            let message = err.unwrap_or_else(|| format!("sbatch printed no job id: {out:?}"));
            let class = if sbatch::transient_failure(&message) {
                FailureClass::Scheduler
            } else {
                FailureClass::BadConfig
            };
            let _ = events.send(BackendEvent::SpawnFailed {
                trial,
                class,
                message: format!("sbatch failed: {message}"),
            });
            return;
        };
        if std::env::var(ablate_store::FAULT_ENV).is_ok_and(|v| v == "after-sbatch") {
            // Tests: die with a job in the queue that the database has not heard of.
            std::process::abort();
        }
        let (events_path, _) = sbatch::job_files(&launch.run_dir, launch.attempt);
        self.track(&trial, job.clone(), events_path.clone());
        let _ = events.send(BackendEvent::Submitted {
            trial,
            job,
            events: events_path,
        });
    }

    fn signal(&mut self, trial: &str, signal: Signal) {
        let Some(t) = self.jobs.get_mut(trial) else {
            return;
        };
        t.signalled = true;
        let job = t.job.clone();
        let args = match signal {
            // The batch step is the worker itself (the job script execs it).
            Signal::SIGKILL => vec![job],
            s => vec![
                format!("--signal={}", s.as_str().trim_start_matches("SIG")),
                "--batch".into(),
                job,
            ],
        };
        self.scancel(&args);
    }

    fn withdraw(&mut self, trial: &str) {
        if let Some(t) = self.jobs.get_mut(trial) {
            t.withdrawing = true;
            let job = t.job.clone();
            self.scancel(&[job]);
        }
    }

    fn detached(&self) -> bool {
        true
    }

    fn adopt(&mut self, trial: &str, job: &str, events: PathBuf) {
        self.track(trial, job.to_string(), events);
    }

    fn poll(&mut self, events: &UnboundedSender<BackendEvent>) {
        // Only started jobs have files worth opening (a shared file system makes
        // each open of a queued job's missing file a round trip).
        for (trial, t) in self
            .jobs
            .iter_mut()
            .filter(|(_, t)| t.running || t.ended.is_some())
        {
            for line in t.follow.read_lines() {
                t.final_event |= is_final(&line);
                let _ = events.send(BackendEvent::Line {
                    trial: trial.clone(),
                    line,
                });
            }
        }
        let now = Instant::now();
        if self
            .last_query
            .is_none_or(|q| now.duration_since(q) >= self.opts.poll)
        {
            self.last_query = Some(now);
            self.query(now, events);
        }
        self.settle(now, events);
    }
}

/// `path` made absolute with `.` and `..` resolved by name (not through symlinks,
/// so a folder not yet created has the same form as once it exists).
fn lexical_absolute(path: &std::path::Path) -> PathBuf {
    use std::path::Component;
    let abs = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let mut out = PathBuf::new();
    for c in abs.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// The worker's last word: a `finished` or `failed` event.
fn is_final(line: &Line) -> bool {
    line.intact()
        && serde_json::from_str::<serde_json::Value>(&line.text).is_ok_and(|v| {
            matches!(
                v.get("event").and_then(|e| e.as_str()),
                Some("finished" | "failed")
            )
        })
}

impl SlurmBackend {
    fn query(&mut self, now: Instant, events: &UnboundedSender<BackendEvent>) {
        let ids: Vec<String> = self
            .jobs
            .values()
            .filter(|t| t.ended.is_none())
            .map(|t| t.job.clone())
            .collect();
        let seen = query::states(&ids);
        let mut never = Vec::new();
        for (trial, t) in &mut self.jobs {
            if t.ended.is_some() {
                continue;
            }
            match seen.get(&t.job) {
                Some(Seen::Pending { reason }) if reason.contains("DependencyNeverSatisfied") => {
                    // A cluster without kill_invalid_depend leaves it pending forever.
                    t.withdrawing = true;
                    never.push(t.job.clone());
                }
                Some(Seen::Pending { .. }) => {}
                Some(Seen::Running { node }) => {
                    if !t.running {
                        t.running = true;
                        let _ = events.send(BackendEvent::Started {
                            trial: trial.clone(),
                            node: node.clone(),
                        });
                    }
                }
                Some(Seen::Ended {
                    state,
                    reason,
                    exit,
                }) => {
                    t.ended = Some((state.clone(), reason.clone(), *exit, now));
                }
                // Slurm has forgotten it (no accounting): judge it by its events.
                None => t.ended = Some(("UNKNOWN".into(), String::new(), (0, 0), now)),
            }
        }
        if !never.is_empty() {
            self.scancel(&never);
        }
    }

    /// Ends the jobs Slurm reported ended, once their events file has its last line
    /// (or the settle time has passed).
    fn settle(&mut self, now: Instant, events: &UnboundedSender<BackendEvent>) {
        let done: Vec<TrialId> = self
            .jobs
            .iter()
            .filter(|(_, t)| {
                t.ended
                    .as_ref()
                    .is_some_and(|e| t.final_event || now.duration_since(e.3) >= self.opts.settle)
            })
            .map(|(k, _)| k.clone())
            .collect();
        for trial in done {
            let Some(mut t) = self.jobs.remove(&trial) else {
                continue;
            };
            // The job has ended: its last line counts even without a newline.
            for line in t.follow.finish() {
                t.final_event |= is_final(&line);
                let _ = events.send(BackendEvent::Line {
                    trial: trial.clone(),
                    line,
                });
            }
            let Some((state, reason, exit, _)) = t.ended else {
                continue;
            };
            let ev = if state == "UNKNOWN" {
                if t.final_event {
                    // The worker's own last event decides; treat it as its exit.
                    BackendEvent::Exited {
                        trial,
                        code: Some(0),
                        signal: None,
                    }
                } else {
                    BackendEvent::Failed {
                        trial,
                        class: FailureClass::Lost,
                        message: format!(
                            "Slurm no longer knows job {} and its worker wrote no result",
                            t.job
                        ),
                    }
                }
            } else {
                match query::judge(&t.job, &state, &reason, exit, t.withdrawing, t.signalled) {
                    EndKind::Exit { code, signal } => BackendEvent::Exited {
                        trial,
                        code,
                        signal,
                    },
                    EndKind::Failed { class, message } => BackendEvent::Failed {
                        trial,
                        class,
                        message,
                    },
                    EndKind::Withdrawn(why) => BackendEvent::Withdrawn { trial, why },
                }
            };
            let _ = events.send(ev);
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::path::Path;

    fn sweep_in(file: &str) -> ablate_spec::Sweep {
        let text = "[sweep]\nname = \"s\"\noutput = \"out\"\n[worker]\ncommand = [\"w\"]\n[data.faces]\nkind = \"synthetic-faces\"\n[[study]]\nname = \"d\"\nfixed.tasks = [\"gender\"]\ngrid.depth = [\"vgg7\"]\n";
        ablate_spec::parse(text, Path::new(file)).unwrap()
    }

    #[test]
    fn two_copies_of_a_sweep_never_share_job_names() {
        let a = super::job_prefix(&sweep_in("/home/u/copy-a/s.toml"));
        let b = super::job_prefix(&sweep_in("/home/u/copy-b/s.toml"));
        assert!(
            a.starts_with("ablate-s-") && b.starts_with("ablate-s-"),
            "{a} {b}"
        );
        assert_ne!(a, b, "same trials, other output folders");
        let same = super::job_prefix(&sweep_in("/home/u/x/../copy-a/s.toml"));
        assert_eq!(a, same, "one folder, however it is written");
    }
}
