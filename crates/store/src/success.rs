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
}

/// Tests set this to `mid-success` to abort the process between the result's and
/// the attempt's writes, proving the transaction leaves nothing half-recorded.
pub const FAULT_ENV: &str = "ABLATE_TEST_FAULT";

impl Store {
    pub async fn record_success(&self, s: &Success<'_>) -> Result<(), StoreError> {
        let mut tx = self.pool().begin().await.map_err(|e| self.err(e))?;
        sqlx::query("INSERT OR REPLACE INTO results (trial_id, attempt_id, result, degenerate, recorded_at) VALUES (?, ?, ?, ?, ?)")
            .bind(s.trial)
            .bind(s.attempt)
            .bind(s.result)
            .bind(s.degenerate)
            .bind(now_rfc3339())
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
