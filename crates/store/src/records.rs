//! Writes, all made by the orchestrator: sweeps, trials and their state, attempts
//! with provenance, per-epoch metrics, results and artifacts.

use ablate_protocol::{AttemptState, BackendKind, FailureClass, TrialId, TrialState};
use serde::{Deserialize, Serialize};
use sqlx::Row;

use crate::time::now_rfc3339;
use crate::{Store, StoreError};

/// A trial as the sweep file resolves it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrialRecord {
    pub id: TrialId,
    pub kind: String,
    pub config: serde_json::Value,
    pub exec: serde_json::Value,
    pub labels: serde_json::Value,
    pub depends_on: Vec<String>,
    /// (study or `pretrain:<stage>`, position in run order).
    pub memberships: Vec<(String, usize)>,
}

/// Provenance of one attempt at a trial.
#[derive(Debug, Clone, Default)]
pub struct AttemptStart {
    pub trial_id: TrialId,
    pub sweep: String,
    pub slot: String,
    pub device: String,
    pub device_name: Option<String>,
    pub threads: u32,
    pub host: String,
    pub orchestrator_pid: u32,
    pub ablate_version: String,
    pub git_commit: Option<String>,
    pub git_dirty: Option<bool>,
    pub backend: BackendKind,
}

/// How an attempt ended.
#[derive(Debug, Clone)]
pub struct AttemptEnd {
    pub state: AttemptState,
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    pub failure_class: Option<FailureClass>,
    pub message: Option<String>,
}

impl AttemptEnd {
    /// An end in `state`, with no exit code, signal, class or message yet.
    pub fn new(state: AttemptState) -> AttemptEnd {
        AttemptEnd {
            state,
            exit_code: None,
            signal: None,
            failure_class: None,
            message: None,
        }
    }
}

/// An attempt the database still calls running (its orchestrator may be gone).
#[derive(Debug, Clone)]
pub struct RunningAttempt {
    pub id: i64,
    pub trial_id: TrialId,
    pub pid: Option<i64>,
    pub orchestrator_pid: i64,
    pub host: String,
    pub backend: BackendKind,
    /// The Slurm job carrying it, once submitted.
    pub job_id: Option<String>,
    pub events_path: Option<String>,
}

/// A sweep as the store keeps it.
#[derive(Debug, Clone, Copy)]
pub struct SweepRecord<'a> {
    pub name: &'a str,
    pub file: &'a str,
    pub spec_text: &'a str,
    pub spec_hash: &'a str,
    /// Pretraining stages (`pretrain:<stage>`) and studies, in the sweep file's order.
    pub studies: &'a [String],
}

impl Store {
    /// Records the sweep and its trials. New trials start `pending`; known ones keep
    /// their state (that is what makes a rerun resume), and memberships are refreshed.
    pub async fn sync_sweep(
        &self,
        sweep: &SweepRecord<'_>,
        trials: &[TrialRecord],
    ) -> Result<(), StoreError> {
        let SweepRecord {
            name,
            file,
            spec_text,
            spec_hash,
            studies,
        } = *sweep;
        let now = now_rfc3339();
        let mut tx = self.pool().begin().await.map_err(|e| self.err(e))?;
        sqlx::query("INSERT INTO sweeps (name, file, spec_text, spec_hash, updated_at, studies) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(name) DO UPDATE SET file = excluded.file, spec_text = excluded.spec_text, spec_hash = excluded.spec_hash, updated_at = excluded.updated_at, studies = excluded.studies")
            .bind(name)
            .bind(file)
            .bind(spec_text)
            .bind(spec_hash)
            .bind(&now)
            .bind(serde_json::to_string(studies).unwrap_or_default())
            .execute(&mut *tx)
            .await
            .map_err(|e| self.err(e))?;
        sqlx::query("DELETE FROM memberships WHERE sweep = ?")
            .bind(name)
            .execute(&mut *tx)
            .await
            .map_err(|e| self.err(e))?;
        for t in trials {
            sqlx::query("INSERT INTO trials (id, kind, config, exec, labels, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET exec = excluded.exec, labels = excluded.labels")
                .bind(t.id.as_str())
                .bind(&t.kind)
                .bind(t.config.to_string())
                .bind(t.exec.to_string())
                .bind(t.labels.to_string())
                .bind(&now)
                .bind(&now)
                .execute(&mut *tx)
                .await
                .map_err(|e| self.err(e))?;
        }
        for t in trials {
            for d in &t.depends_on {
                sqlx::query(
                    "INSERT OR IGNORE INTO trial_deps (trial_id, depends_on) VALUES (?, ?)",
                )
                .bind(t.id.as_str())
                .bind(d)
                .execute(&mut *tx)
                .await
                .map_err(|e| self.err(e))?;
            }
            for (study, pos) in &t.memberships {
                sqlx::query("INSERT OR REPLACE INTO memberships (sweep, study, trial_id, position) VALUES (?, ?, ?, ?)")
                    .bind(name)
                    .bind(study)
                    .bind(t.id.as_str())
                    .bind(*pos as i64)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| self.err(e))?;
            }
        }
        tx.commit().await.map_err(|e| self.err(e))
    }

    /// Current state of each trial of the sweep.
    pub async fn states(&self, sweep: &str) -> Result<Vec<(String, TrialState)>, StoreError> {
        let rows = sqlx::query("SELECT DISTINCT t.id, t.state FROM trials t JOIN memberships m ON m.trial_id = t.id WHERE m.sweep = ?").bind(sweep).fetch_all(self.pool()).await.map_err(|e| self.err(e))?;
        rows.iter()
            .map(|r| Ok((r.get::<String, _>(0), self.parse_state(r.get(1))?)))
            .collect()
    }

    pub async fn set_state(
        &self,
        trial: &str,
        state: TrialState,
        reason: Option<&str>,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE trials SET state = ?, reason = ?, updated_at = ? WHERE id = ?")
            .bind(state.as_str())
            .bind(reason)
            .bind(now_rfc3339())
            .bind(trial)
            .execute(self.pool())
            .await
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Opens an attempt (state `running`) and marks its trial running, atomically.
    pub async fn start_attempt(&self, a: &AttemptStart) -> Result<i64, StoreError> {
        let now = now_rfc3339();
        let mut tx = self.pool().begin().await.map_err(|e| self.err(e))?;
        let id = sqlx::query("INSERT INTO attempts (trial_id, sweep, state, started_at, slot, device, device_name, threads, host, orchestrator_pid, ablate_version, git_commit, git_dirty, backend) VALUES (?, ?, 'running', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
            .bind(a.trial_id.as_str())
            .bind(&a.sweep)
            .bind(&now)
            .bind(&a.slot)
            .bind(&a.device)
            .bind(&a.device_name)
            .bind(a.threads)
            .bind(&a.host)
            .bind(a.orchestrator_pid)
            .bind(&a.ablate_version)
            .bind(&a.git_commit)
            .bind(a.git_dirty)
            .bind(a.backend.as_str())
            .execute(&mut *tx)
            .await
            .map_err(|e| self.err(e))?
            .last_insert_rowid();
        sqlx::query(
            "UPDATE trials SET state = 'running', reason = NULL, updated_at = ? WHERE id = ?",
        )
        .bind(&now)
        .bind(a.trial_id.as_str())
        .execute(&mut *tx)
        .await
        .map_err(|e| self.err(e))?;
        tx.commit().await.map_err(|e| self.err(e))?;
        Ok(id)
    }

    pub async fn set_attempt_pid(&self, attempt: i64, pid: u32) -> Result<(), StoreError> {
        sqlx::query("UPDATE attempts SET pid = ? WHERE id = ?")
            .bind(pid)
            .bind(attempt)
            .execute(self.pool())
            .await
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// The batch job that carries an attempt, recorded as soon as it is submitted.
    pub async fn set_attempt_job(
        &self,
        attempt: i64,
        job_id: &str,
        events_path: &str,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE attempts SET job_id = ?, events_path = ? WHERE id = ?")
            .bind(job_id)
            .bind(events_path)
            .bind(attempt)
            .execute(self.pool())
            .await
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Where a running attempt is in its epoch, with the time it was told.
    pub async fn record_progress(
        &self,
        attempt: i64,
        p: &crate::Progress,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE attempts SET progress_epoch = ?, progress_step = ?, progress_steps = ?, progress_at = ? WHERE id = ?",
        )
        .bind(i64::from(p.epoch))
        .bind(big(p.step))
        .bind(big(p.steps))
        .bind(now_rfc3339())
        .bind(attempt)
        .execute(self.pool())
        .await
        .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// The peak memory an attempt reported so far; a peak never goes down.
    pub async fn record_peak_memory(
        &self,
        attempt: i64,
        host_bytes: Option<u64>,
        gpu_bytes: Option<u64>,
    ) -> Result<(), StoreError> {
        let big = |v: Option<u64>| v.map(big);
        sqlx::query(
            "UPDATE attempts SET peak_host_bytes = MAX(COALESCE(peak_host_bytes, 0), COALESCE(?, peak_host_bytes)), \
             peak_gpu_bytes = CASE WHEN ? IS NULL THEN peak_gpu_bytes ELSE MAX(COALESCE(peak_gpu_bytes, 0), ?) END WHERE id = ?",
        )
        .bind(big(host_bytes))
        .bind(big(gpu_bytes))
        .bind(big(gpu_bytes))
        .bind(attempt)
        .execute(self.pool())
        .await
        .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Closes an attempt and sets its trial's state (and reason) in one transaction.
    pub async fn finish_attempt(
        &self,
        attempt: i64,
        trial: &str,
        end: &AttemptEnd,
        trial_state: TrialState,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool().begin().await.map_err(|e| self.err(e))?;
        self.close_in(&mut tx, attempt, trial, end, trial_state)
            .await?;
        tx.commit().await.map_err(|e| self.err(e))
    }

    /// The attempt's end and its trial's next state, inside `tx`.
    pub(crate) async fn close_in(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
        attempt: i64,
        trial: &str,
        end: &AttemptEnd,
        trial_state: TrialState,
    ) -> Result<(), StoreError> {
        let now = now_rfc3339();
        sqlx::query("UPDATE attempts SET state = ?, ended_at = ?, exit_code = ?, signal = ?, failure_class = ?, message = ? WHERE id = ?")
            .bind(end.state.as_str())
            .bind(&now)
            .bind(end.exit_code)
            .bind(end.signal)
            .bind(end.failure_class.as_ref().map(FailureClass::as_str))
            .bind(&end.message)
            .bind(attempt)
            .execute(&mut **tx)
            .await
            .map_err(|e| self.err(e))?;
        let reason = if trial_state == TrialState::Succeeded {
            None
        } else {
            end.message.as_deref()
        };
        sqlx::query("UPDATE trials SET state = ?, reason = ?, updated_at = ? WHERE id = ?")
            .bind(trial_state.as_str())
            .bind(reason)
            .bind(&now)
            .bind(trial)
            .execute(&mut **tx)
            .await
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Attempts left `running`, e.g. by an orchestrator killed with -9.
    pub async fn running_attempts(&self) -> Result<Vec<RunningAttempt>, StoreError> {
        let rows = sqlx::query("SELECT id, trial_id, pid, orchestrator_pid, host, backend, job_id, events_path FROM attempts WHERE state = 'running'").fetch_all(self.pool()).await.map_err(|e| self.err(e))?;
        rows.iter()
            .map(|r| {
                Ok(RunningAttempt {
                    id: r.get(0),
                    trial_id: TrialId::from(r.get::<String, _>(1)),
                    pid: r.get(2),
                    orchestrator_pid: r.get(3),
                    host: r.get(4),
                    backend: self.parse_backend(r.get(5))?,
                    job_id: r.get(6),
                    events_path: r.get(7),
                })
            })
            .collect()
    }

    /// How many attempts a trial has had (any outcome).
    /// The id of `trial`'s latest attempt, if it had one.
    pub async fn last_attempt(&self, trial: &str) -> Result<Option<i64>, StoreError> {
        sqlx::query_scalar("SELECT MAX(id) FROM attempts WHERE trial_id = ?")
            .bind(trial)
            .fetch_one(self.pool())
            .await
            .map_err(|e| self.err(e))
    }

    pub async fn attempt_count(&self, trial: &str) -> Result<u32, StoreError> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM attempts WHERE trial_id = ?")
            .bind(trial)
            .fetch_one(self.pool())
            .await
            .map_err(|e| self.err(e))?;
        Ok(n as u32)
    }

    pub async fn record_epoch(
        &self,
        attempt: i64,
        trial: &str,
        epoch: u32,
        report: &str,
    ) -> Result<(), StoreError> {
        sqlx::query("INSERT OR REPLACE INTO epochs (attempt_id, trial_id, epoch, report) VALUES (?, ?, ?, ?)").bind(attempt).bind(trial).bind(epoch).bind(report).execute(self.pool()).await.map_err(|e| self.err(e))?;
        Ok(())
    }
}

impl Store {
    /// Whether the trial's last attempt failed for a transient reason (killed,
    /// out of memory, I/O, preempted: `FailureClass::retryable`), so a plain rerun
    /// of the sweep should try it again.
    pub async fn last_failure_retryable(&self, trial: &str) -> Result<bool, StoreError> {
        let class: Option<Option<String>> = sqlx::query_scalar(
            "SELECT failure_class FROM attempts WHERE trial_id = ? ORDER BY id DESC LIMIT 1",
        )
        .bind(trial)
        .fetch_optional(self.pool())
        .await
        .map_err(|e| self.err(e))?;
        Ok(class
            .flatten()
            .is_some_and(|c| FailureClass::parse(&c).retryable()))
    }
}

/// Per trial: how many attempts succeeded and how many are still `running`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptTally {
    pub trial_id: TrialId,
    pub succeeded: u32,
    pub running: u32,
    pub total: u32,
}

impl Store {
    pub async fn attempt_tally(&self) -> Result<Vec<AttemptTally>, StoreError> {
        let rows = sqlx::query("SELECT trial_id, SUM(state = 'succeeded'), SUM(state = 'running'), COUNT(*) FROM attempts GROUP BY trial_id").fetch_all(self.pool()).await.map_err(|e| self.err(e))?;
        Ok(rows
            .iter()
            .map(|r| AttemptTally {
                trial_id: TrialId::from(r.get::<String, _>(0)),
                succeeded: r.get::<i64, _>(1) as u32,
                running: r.get::<i64, _>(2) as u32,
                total: r.get::<i64, _>(3) as u32,
            })
            .collect())
    }
}

/// One attempt, as `ablate status --attempts` and tests list them.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AttemptRow {
    pub id: i64,
    pub trial_id: TrialId,
    pub state: AttemptState,
    pub backend: BackendKind,
    pub job_id: Option<String>,
    pub failure_class: Option<FailureClass>,
    pub message: Option<String>,
    /// Peak private host memory and GPU memory it reported, in bytes.
    pub peak_host_bytes: Option<i64>,
    pub peak_gpu_bytes: Option<i64>,
}

impl Store {
    /// Every attempt of a sweep, oldest first.
    pub async fn attempts(&self, sweep: &str) -> Result<Vec<AttemptRow>, StoreError> {
        let q = format!(
            "SELECT id, trial_id, state, backend, job_id, failure_class, message, {} FROM attempts WHERE sweep = ? ORDER BY id",
            self.peak_columns()
        );
        let rows = sqlx::query(&q)
            .bind(sweep)
            .fetch_all(self.pool())
            .await
            .map_err(|e| self.err(e))?;
        rows.iter()
            .map(|r| {
                Ok(AttemptRow {
                    id: r.get(0),
                    trial_id: TrialId::from(r.get::<String, _>(1)),
                    state: self.parse_state(r.get(2))?,
                    backend: self.parse_backend(r.get(3))?,
                    job_id: r.get(4),
                    failure_class: r.get::<Option<String>, _>(5).map(FailureClass::from),
                    message: r.get(6),
                    peak_host_bytes: r.get(7),
                    peak_gpu_bytes: r.get(8),
                })
            })
            .collect()
    }
}

/// SQLite's integers are i64: a count past it (never met in practice) is
/// stored as the largest one.
fn big(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}
