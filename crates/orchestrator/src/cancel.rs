//! `ablate cancel`: stop a sweep's orchestrator (if one runs) and cancel every
//! Slurm job of the sweep, then record their attempts interrupted, so nothing is
//! left in the queue and a later `ablate run` resumes the sweep.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use ablate_protocol::{AttemptState, BackendKind, TrialState};
use ablate_spec::Sweep;
use ablate_store::{AttemptEnd, Store};

use crate::RunError;
use crate::lock::{holder, try_lock};
use crate::options::db_path;
use crate::slurm::query::{self, Seen};
use crate::slurm::sbatch::job_name;

#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct Cancelled {
    /// The pid of the orchestrator that was asked to stop, if one was running.
    pub stopped_orchestrator: Option<i32>,
    pub jobs: Vec<String>,
    pub attempts: usize,
}

/// The sweep's jobs Slurm still lists as queued or running, by job name (covers
/// a job whose submission the database never heard of).
fn queued_by_name(sweep: &Sweep) -> Vec<String> {
    jobs_by_name(sweep).into_values().flatten().collect()
}

/// Job name -> ids of the jobs of this sweep's trials that Slurm lists as queued or
/// running (newest last); empty when squeue cannot be run.
pub(crate) fn jobs_by_name(sweep: &Sweep) -> BTreeMap<String, Vec<String>> {
    let mut found: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let Ok(out) = Command::new("squeue")
        .args(["-h", "--me", "-o", "%i|%j"])
        .output()
    else {
        return found;
    };
    let names: BTreeSet<String> = sweep
        .trials
        .iter()
        .map(|t| job_name(&crate::slurm::job_prefix(sweep), &t.id))
        .collect();
    for (id, name) in String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_once('|'))
    {
        if names.contains(name.trim()) {
            found
                .entry(name.trim().to_string())
                .or_default()
                .push(id.trim().to_string());
        }
    }
    for ids in found.values_mut() {
        ids.sort_by_key(|j| j.parse::<u64>().unwrap_or(0));
    }
    found
}

pub async fn cancel(
    sweep: &Sweep,
    db: Option<&Path>,
    wait: Duration,
) -> Result<Cancelled, RunError> {
    let db = db_path(sweep, db);
    let mut done = Cancelled::default();
    let guard = match try_lock(&db)? {
        Some(g) => g,
        None => {
            // An orchestrator runs: SIGTERM makes a Slurm run detach and a local run
            // stop its workers; then the lock is ours. A pid is signalled only on
            // its own host: on a shared file system the lock may be another
            // machine's, and its pid here an unrelated process.
            let here = crate::provenance::host();
            let pid = match holder(&db) {
                None => {
                    return Err(RunError::Invalid(format!(
                        "{} is locked by a process that did not record who it is; stop it, then run `ablate cancel` again",
                        db.display()
                    )));
                }
                Some(h) if h.host.as_deref() == Some(here.as_str()) => h.pid,
                Some(h) => {
                    return Err(RunError::Invalid(format!(
                        "the sweep's orchestrator ({h}) is not on this host ({here}); nothing was signalled. Run `ablate cancel` on its host, or stop it there"
                    )));
                }
            };
            nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGTERM,
            )
            .map_err(|source| RunError::Signal { pid, source })?;
            done.stopped_orchestrator = Some(pid);
            let start = Instant::now();
            loop {
                if let Some(g) = try_lock(&db)? {
                    break g;
                }
                if start.elapsed() > wait {
                    return Err(RunError::Invalid(format!(
                        "the orchestrator (pid {pid}) did not stop within {wait:?}; stop it, then run `ablate cancel` again"
                    )));
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    if !db.exists() {
        drop(guard);
        return Ok(done);
    }
    let store = Store::open(&db).await?;
    let open: Vec<_> = store
        .running_attempts()
        .await?
        .into_iter()
        .filter(|a| a.backend == BackendKind::Slurm)
        .collect();
    let mut jobs: BTreeSet<String> = open.iter().filter_map(|a| a.job_id.clone()).collect();
    jobs.extend(queued_by_name(sweep));
    done.jobs = jobs.iter().cloned().collect();
    if !done.jobs.is_empty() {
        let out = Command::new("scancel")
            .args(&done.jobs)
            .output()
            .map_err(|source| RunError::Spawn {
                program: "scancel",
                source,
            })?;
        let err = String::from_utf8_lossy(&out.stderr);
        // scancel complains about jobs that already ended; anything else is real.
        if !out.status.success()
            && !err.contains("already completed")
            && !err.contains("Invalid job id")
        {
            return Err(RunError::Command {
                program: "scancel",
                stderr: err.trim().to_string(),
            });
        }
        // Return only once Slurm lists none of them as queued or running.
        let start = Instant::now();
        while start.elapsed() < wait {
            let live = query::states(&done.jobs)
                .values()
                .filter(|s| matches!(s, Seen::Pending { .. } | Seen::Running { .. }))
                .count();
            if live == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
    for a in &open {
        let end = AttemptEnd {
            message: Some(match &a.job_id {
                Some(j) => format!("Slurm job {j} cancelled by `ablate cancel`"),
                None => "cancelled by `ablate cancel` before its job was recorded".into(),
            }),
            ..AttemptEnd::new(AttemptState::Interrupted)
        };
        store
            .finish_attempt(a.id, &a.trial_id, &end, TrialState::Interrupted)
            .await?;
        done.attempts += 1;
    }
    store.close().await;
    drop(guard);
    Ok(done)
}
