//! One trial in full, for a page that shows it (`ablate serve`): every attempt
//! with where and how it ended, the epochs each reported so far (a running
//! attempt's too, so its curve grows as it trains), and the files it left.
//! Three indexed reads by trial id: cheap whatever the sweep's size.

use ablate_protocol::{AttemptState, TrialId};
use serde::Serialize;
use sqlx::Row;

use crate::{Store, StoreError};

/// An attempt at a trial as a page shows it.
#[derive(Debug, Clone, Serialize)]
pub struct AttemptDetail {
    pub id: i64,
    pub state: AttemptState,
    pub started_at: String,
    pub ended_at: Option<String>,
    pub slot: String,
    pub device: String,
    pub device_name: Option<String>,
    pub host: String,
    pub backend: String,
    pub job_id: Option<String>,
    pub exit_code: Option<i64>,
    pub signal: Option<i64>,
    pub failure_class: Option<String>,
    pub message: Option<String>,
    /// Every epoch it reported, in order, as reported.
    pub epochs: Vec<serde_json::Value>,
    /// Where it was in its epoch at its last recorded heartbeat.
    pub progress: Option<crate::Progress>,
}

/// A file a succeeded trial left, with its digest.
#[derive(Debug, Clone, Serialize)]
pub struct ArtifactRow {
    pub path: String,
    pub sha256: String,
    pub bytes: i64,
}

/// Everything the database holds of one trial beyond its result.
#[derive(Debug, Clone, Serialize)]
pub struct TrialDetail {
    pub id: TrialId,
    /// Oldest first.
    pub attempts: Vec<AttemptDetail>,
    pub artifacts: Vec<ArtifactRow>,
}

impl Store {
    /// Trial `id`'s attempts, epochs and artifacts (all empty for a trial the
    /// database never saw).
    pub async fn trial_detail(&self, id: &str) -> Result<TrialDetail, StoreError> {
        let q = format!(
            "SELECT id, state, started_at, ended_at, slot, device, device_name, host, backend, \
             job_id, exit_code, signal, failure_class, message, {} FROM attempts WHERE trial_id = ? ORDER BY id",
            self.progress_columns()
        );
        let rows = sqlx::query(&q)
            .bind(id)
            .fetch_all(self.pool())
            .await
            .map_err(|e| self.err(e))?;
        let mut attempts = Vec::with_capacity(rows.len());
        for r in &rows {
            let attempt: i64 = r.get(0);
            attempts.push(AttemptDetail {
                id: attempt,
                state: self.parse_state(r.get(1))?,
                started_at: r.get(2),
                ended_at: r.get(3),
                slot: r.get(4),
                device: r.get(5),
                device_name: r.get(6),
                host: r.get(7),
                backend: r.get(8),
                job_id: r.get(9),
                exit_code: r.get(10),
                signal: r.get(11),
                failure_class: r.get(12),
                message: r.get(13),
                epochs: self.epochs_of(attempt).await?,
                progress: crate::status::progress(r.get(14), r.get(15), r.get(16)),
            });
        }
        let artifacts = sqlx::query(
            "SELECT path, sha256, bytes FROM artifacts WHERE trial_id = ? ORDER BY path",
        )
        .bind(id)
        .fetch_all(self.pool())
        .await
        .map_err(|e| self.err(e))?
        .iter()
        .map(|r| ArtifactRow {
            path: r.get(0),
            sha256: r.get(1),
            bytes: r.get(2),
        })
        .collect();
        Ok(TrialDetail {
            id: TrialId::from(id.to_string()),
            attempts,
            artifacts,
        })
    }

    async fn epochs_of(&self, attempt: i64) -> Result<Vec<serde_json::Value>, StoreError> {
        let reports: Vec<String> =
            sqlx::query_scalar("SELECT report FROM epochs WHERE attempt_id = ? ORDER BY epoch")
                .bind(attempt)
                .fetch_all(self.pool())
                .await
                .map_err(|e| self.err(e))?;
        (reports.iter())
            .map(|s| serde_json::from_str(s).map_err(|e| self.json_err(e)))
            .collect()
    }
}
