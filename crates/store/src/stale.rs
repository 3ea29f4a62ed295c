//! Results and what they were trained on: the reads that decide whether a stored
//! result is stale, and the writes that set one aside (never delete it) so its
//! trial runs again.

use ablate_protocol::{TrialId, TrialState};
use sqlx::Row;

use crate::time::now_rfc3339;
use crate::{Store, StoreError};

/// What a succeeded trial's result was trained on and by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedResult {
    pub trial: TrialId,
    /// The attempt that produced it.
    pub attempt: i64,
    /// For a trial that starts from pretraining: the attempt of the pretraining
    /// result it started from (None: not recorded).
    pub init_attempt: Option<i64>,
    /// None: recorded by an ablate from before digests, or not prepared by ablate.
    pub data_digest: Option<String>,
    pub trainer_version: Option<String>,
}

/// A result set aside, with why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SupersededResult {
    pub trial: TrialId,
    pub attempt: i64,
    pub result: String,
    pub data_digest: Option<String>,
    pub trainer_version: Option<String>,
    pub reason: String,
}

impl Store {
    /// Whether the database has migration 0004's columns (a read-only handle on a
    /// database no new `ablate run` has opened yet does not).
    async fn has_provenance(&self) -> Result<bool, StoreError> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM pragma_table_info('results') WHERE name = 'data_digest'",
        )
        .fetch_one(self.pool())
        .await
        .map_err(|e| self.err(e))?;
        Ok(n > 0)
    }

    /// The succeeded trials of `sweep` with what their results were trained on.
    pub async fn recorded_results(&self, sweep: &str) -> Result<Vec<RecordedResult>, StoreError> {
        let columns = if self.has_provenance().await? {
            "r.data_digest, r.trainer_version, r.init_attempt"
        } else {
            "NULL, CAST(json_extract(r.result, '$.trainer_version') AS TEXT), NULL"
        };
        let rows = sqlx::query(&format!(
            "SELECT DISTINCT r.trial_id, r.attempt_id, {columns} FROM results r \
             JOIN trials t ON t.id = r.trial_id JOIN memberships m ON m.trial_id = t.id \
             WHERE m.sweep = ? AND t.state = 'succeeded' ORDER BY r.trial_id"
        ))
        .bind(sweep)
        .fetch_all(self.pool())
        .await
        .map_err(|e| self.err(e))?;
        Ok(rows
            .iter()
            .map(|r| RecordedResult {
                trial: TrialId::from(r.get::<String, _>(0)),
                attempt: r.get(1),
                data_digest: r.get(2),
                trainer_version: r.get(3),
                init_attempt: r.get(4),
            })
            .collect())
    }

    /// Sets a stale result aside and makes its trial pending again, in one
    /// transaction: the result moves to `superseded_results` with `reason`.
    pub async fn mark_stale(&self, trial: &str, reason: &str) -> Result<(), StoreError> {
        let mut tx = self.pool().begin().await.map_err(|e| self.err(e))?;
        self.supersede_in(&mut tx, trial, reason).await?;
        sqlx::query("UPDATE trials SET state = ?, reason = ?, updated_at = ? WHERE id = ?")
            .bind(TrialState::Pending.as_str())
            .bind(format!("stale: {reason}"))
            .bind(now_rfc3339())
            .bind(trial)
            .execute(&mut *tx)
            .await
            .map_err(|e| self.err(e))?;
        tx.commit().await.map_err(|e| self.err(e))
    }

    /// Moves `trial`'s result, if it has one, to `superseded_results`, inside `tx`.
    pub(crate) async fn supersede_in(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
        trial: &str,
        reason: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO superseded_results (trial_id, attempt_id, result, degenerate, recorded_at, \
             data_digest, trainer_version, init_attempt, reason, superseded_at) \
             SELECT trial_id, attempt_id, result, degenerate, recorded_at, data_digest, \
             trainer_version, init_attempt, ?, ? FROM results WHERE trial_id = ?",
        )
        .bind(reason)
        .bind(now_rfc3339())
        .bind(trial)
        .execute(&mut **tx)
        .await
        .map_err(|e| self.err(e))?;
        sqlx::query("DELETE FROM results WHERE trial_id = ?")
            .bind(trial)
            .execute(&mut **tx)
            .await
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Every result set aside for `trial`, oldest first.
    pub async fn superseded(&self, trial: &str) -> Result<Vec<SupersededResult>, StoreError> {
        let rows = sqlx::query(
            "SELECT trial_id, attempt_id, result, data_digest, trainer_version, reason \
             FROM superseded_results WHERE trial_id = ? ORDER BY rowid",
        )
        .bind(trial)
        .fetch_all(self.pool())
        .await
        .map_err(|e| self.err(e))?;
        Ok(rows
            .iter()
            .map(|r| SupersededResult {
                trial: TrialId::from(r.get::<String, _>(0)),
                attempt: r.get(1),
                result: r.get(2),
                data_digest: r.get(3),
                trainer_version: r.get(4),
                reason: r.get(5),
            })
            .collect())
    }
}
