//! A succeeded attempt, recorded whole: its result, the run directory's artifacts,
//! the attempt's end and the trial's state in one transaction, so no crash leaves
//! a result on a trial that is not `succeeded` (or a succeeded trial without one).

use ablate_protocol::TrialState;

use crate::records::AttemptEnd;
use crate::time::now_rfc3339;
use crate::{Store, StoreError};

/// A file a succeeded trial left, with its digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Artifact {
    pub path: String,
    pub sha256: String,
    pub bytes: u64,
}

/// Everything a success writes.
#[derive(Debug, Clone)]
pub struct Success<'a> {
    pub attempt: i64,
    pub trial: &'a str,
    /// The result as the worker reported it (JSON).
    pub result: &'a str,
    pub degenerate: bool,
    pub artifacts: &'a [Artifact],
    pub end: &'a AttemptEnd,
    /// Content digest of the data it trained on (None: not prepared by ablate).
    pub data_digest: Option<&'a str>,
    /// The trainer version the worker reported.
    pub trainer_version: Option<&'a str>,
    /// The pretraining trial it started from, whose current result is recorded
    /// as the one it used.
    pub init: Option<&'a str>,
}

/// Tests set this to `mid-success` to abort the process between the result's and
/// the attempt's writes, proving the transaction leaves nothing half-recorded.
pub const FAULT_ENV: &str = "ABLATE_TEST_FAULT";

impl Store {
    pub async fn record_success(&self, s: &Success<'_>) -> Result<(), StoreError> {
        let mut tx = self.pool().begin().await.map_err(|e| self.err(e))?;
        // A result this one replaces is kept, never lost.
        self.supersede_in(&mut tx, s.trial, "replaced by a new success")
            .await?;
        let init_attempt: Option<i64> = match s.init {
            Some(parent) => sqlx::query_scalar("SELECT attempt_id FROM results WHERE trial_id = ?")
                .bind(parent)
                .fetch_optional(&mut *tx)
                .await
                .map_err(|e| self.err(e))?,
            None => None,
        };
        sqlx::query("INSERT INTO results (trial_id, attempt_id, result, degenerate, recorded_at, data_digest, trainer_version, init_attempt) VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
            .bind(s.trial)
            .bind(s.attempt)
            .bind(s.result)
            .bind(s.degenerate)
            .bind(now_rfc3339())
            .bind(s.data_digest)
            .bind(s.trainer_version)
            .bind(init_attempt)
            .execute(&mut *tx)
            .await
            .map_err(|e| self.err(e))?;
        for a in s.artifacts {
            sqlx::query(
                "INSERT OR REPLACE INTO artifacts (trial_id, path, sha256, bytes) VALUES (?, ?, ?, ?)",
            )
            .bind(s.trial)
            .bind(&a.path)
            .bind(&a.sha256)
            .bind(a.bytes as i64)
            .execute(&mut *tx)
            .await
            .map_err(|e| self.err(e))?;
        }
        if std::env::var(FAULT_ENV).is_ok_and(|v| v == "mid-success") {
            std::process::abort();
        }
        self.close_in(&mut tx, s.attempt, s.trial, s.end, TrialState::Succeeded)
            .await?;
        tx.commit().await.map_err(|e| self.err(e))
    }
}
