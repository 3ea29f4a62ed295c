//! Reads for `ablate status` and the report: counts by state per study, running,
//! failed and blocked trials, and results.

use std::collections::BTreeMap;

use ablate_protocol::{AttemptState, TrialId, TrialState};
use serde::Serialize;
use sqlx::Row;

use crate::{Store, StoreError};

#[derive(Debug, Clone, Serialize)]
pub struct StudyCounts {
    pub study: String,
    pub total: usize,
    /// State -> number of trials.
    pub counts: BTreeMap<String, usize>,
}

#[derive(Debug, Clone, Serialize)]
pub struct AttemptInfo {
    pub attempt: i64,
    pub slot: String,
    pub device: String,
    pub started_at: String,
    /// Last epoch the attempt reported, and its report.
    pub epoch: Option<u32>,
    pub last_report: Option<serde_json::Value>,
    /// The Slurm job carrying it, if it runs in Slurm.
    pub job_id: Option<String>,
    /// Its events file: `ablate status` reads progress from it (the orchestrator
    /// may be gone while the job runs).
    pub events_path: Option<String>,
    /// Peak private host memory and GPU memory reported so far, in bytes.
    pub peak_host_bytes: Option<i64>,
    pub peak_gpu_bytes: Option<i64>,
    /// Where it is in its epoch, from its last recorded heartbeat.
    pub progress: Option<Progress>,
    /// When that heartbeat was recorded.
    pub progress_at: Option<String>,
}

/// A point in a running attempt's training: step `step` of `steps` in epoch
/// `epoch` (counted from 1, the epoch under way).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Progress {
    pub epoch: u32,
    pub step: u64,
    pub steps: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct TrialStatus {
    pub id: TrialId,
    pub state: TrialState,
    pub reason: Option<String>,
    pub labels: serde_json::Value,
    pub studies: Vec<String>,
    pub attempts: u32,
    pub attempt: Option<AttemptInfo>,
    /// Peak private host memory and GPU memory of its latest attempt, in
    /// bytes (an attempt that failed out of memory shows how far it got).
    pub peak_host_bytes: Option<i64>,
    pub peak_gpu_bytes: Option<i64>,
}

/// A sweep the database holds, as its last run recorded it.
#[derive(Debug, Clone, Serialize)]
pub struct SweepRow {
    pub name: String,
    /// The sweep file it ran from.
    pub file: String,
    /// The text it ran with (the file's, with any command-line overrides).
    pub spec_text: String,
    pub updated_at: String,
    /// Trials by state.
    pub counts: BTreeMap<String, usize>,
}

#[derive(Debug, Clone, Serialize)]
pub struct StatusReport {
    pub sweep: String,
    pub spec_hash: String,
    pub total: usize,
    pub counts: BTreeMap<String, usize>,
    pub studies: Vec<StudyCounts>,
    pub running: Vec<TrialStatus>,
    pub failed: Vec<TrialStatus>,
    pub blocked: Vec<TrialStatus>,
    pub interrupted: Vec<TrialStatus>,
}

/// A trial of the sweep with its result, if it has one.
#[derive(Debug, Clone, Serialize)]
pub struct ResultRow {
    pub id: TrialId,
    pub kind: String,
    pub state: TrialState,
    pub labels: serde_json::Value,
    pub config: serde_json::Value,
    pub studies: Vec<String>,
    pub result: Option<serde_json::Value>,
    pub degenerate: bool,
    pub epochs: Vec<serde_json::Value>,
}

impl StatusReport {
    /// A sweep with no trial counted yet.
    pub fn empty(sweep: &str, spec_hash: &str) -> StatusReport {
        StatusReport {
            sweep: sweep.to_string(),
            spec_hash: spec_hash.to_string(),
            total: 0,
            counts: BTreeMap::new(),
            studies: Vec::new(),
            running: Vec::new(),
            failed: Vec::new(),
            blocked: Vec::new(),
            interrupted: Vec::new(),
        }
    }
}

impl Store {
    /// Every sweep the database holds, by name, with its trials' states.
    pub async fn sweeps(&self) -> Result<Vec<SweepRow>, StoreError> {
        let rows =
            sqlx::query("SELECT name, file, spec_text, updated_at FROM sweeps ORDER BY name")
                .fetch_all(self.pool())
                .await
                .map_err(|e| self.err(e))?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let name: String = r.get(0);
            let mut counts = BTreeMap::new();
            for (_, state) in self.states(&name).await? {
                *counts.entry(state.to_string()).or_insert(0) += 1;
            }
            out.push(SweepRow {
                name,
                file: r.get(1),
                spec_text: r.get(2),
                updated_at: r.get(3),
                counts,
            });
        }
        Ok(out)
    }

    pub async fn status(&self, sweep: &str) -> Result<StatusReport, StoreError> {
        let spec_hash: Option<String> =
            sqlx::query_scalar("SELECT spec_hash FROM sweeps WHERE name = ?")
                .bind(sweep)
                .fetch_optional(self.pool())
                .await
                .map_err(|e| self.err(e))?;
        let rows = sqlx::query(
            "SELECT t.id, t.state, t.reason, t.labels, group_concat(m.study, char(31)), (SELECT COUNT(*) FROM attempts a WHERE a.trial_id = t.id) \
             FROM trials t JOIN memberships m ON m.trial_id = t.id WHERE m.sweep = ? GROUP BY t.id ORDER BY min(m.position)",
        )
        .bind(sweep)
        .fetch_all(self.pool())
        .await
        .map_err(|e| self.err(e))?;
        let mut report = StatusReport {
            total: rows.len(),
            ..StatusReport::empty(sweep, &spec_hash.unwrap_or_default())
        };
        let mut studies: BTreeMap<String, StudyCounts> = BTreeMap::new();
        let mut order: Vec<String> = Vec::new();
        for r in &rows {
            let state: TrialState = self.parse_state(r.get(1))?;
            let labels: String = r.get(3);
            let members: String = r.get::<Option<String>, _>(4).unwrap_or_default();
            let studies_of: Vec<String> = members.split('\u{1f}').map(str::to_string).collect();
            *report.counts.entry(state.to_string()).or_insert(0) += 1;
            for s in &studies_of {
                let entry = studies.entry(s.clone()).or_insert_with(|| {
                    order.push(s.clone());
                    StudyCounts {
                        study: s.clone(),
                        total: 0,
                        counts: BTreeMap::new(),
                    }
                });
                entry.total += 1;
                *entry.counts.entry(state.to_string()).or_insert(0) += 1;
            }
            let list = match state {
                TrialState::Running => &mut report.running,
                TrialState::Failed => &mut report.failed,
                TrialState::Blocked => &mut report.blocked,
                TrialState::Interrupted => &mut report.interrupted,
                TrialState::Pending | TrialState::Succeeded => continue,
            };
            list.push(TrialStatus {
                id: TrialId::from(r.get::<String, _>(0)),
                state,
                reason: r.get(2),
                labels: serde_json::from_str(&labels).map_err(|e| self.json_err(e))?,
                studies: studies_of,
                attempts: r.get::<i64, _>(5) as u32,
                attempt: None,
                peak_host_bytes: None,
                peak_gpu_bytes: None,
            });
        }
        for t in &mut report.running {
            t.attempt = self.current_attempt(&t.id).await?;
        }
        let q = format!(
            "SELECT {} FROM attempts WHERE trial_id = ? ORDER BY id DESC LIMIT 1",
            self.peak_columns()
        );
        for list in [
            &mut report.running,
            &mut report.failed,
            &mut report.blocked,
            &mut report.interrupted,
        ] {
            for t in list.iter_mut() {
                let row = sqlx::query(&q)
                    .bind(t.id.as_str())
                    .fetch_optional(self.pool())
                    .await
                    .map_err(|e| self.err(e))?;
                if let Some(r) = row {
                    t.peak_host_bytes = r.get::<Option<i64>, _>(0);
                    t.peak_gpu_bytes = r.get::<Option<i64>, _>(1);
                }
            }
        }
        // Pretraining stages first, then studies in the order the sweep file gives them.
        let declared: Option<String> =
            sqlx::query_scalar("SELECT studies FROM sweeps WHERE name = ?")
                .bind(sweep)
                .fetch_optional(self.pool())
                .await
                .map_err(|e| self.err(e))?;
        let declared: Vec<String> = declared
            .and_then(|d| serde_json::from_str(&d).ok())
            .unwrap_or_default();
        let mut ordered: Vec<String> = declared.into_iter().filter(|s| order.contains(s)).collect();
        ordered.extend(
            order
                .into_iter()
                .filter(|s| !ordered.contains(s))
                .collect::<Vec<_>>(),
        );
        report.studies = ordered
            .into_iter()
            .filter_map(|s| studies.remove(&s))
            .collect();
        Ok(report)
    }

    async fn current_attempt(&self, trial: &str) -> Result<Option<AttemptInfo>, StoreError> {
        let q = format!(
            "SELECT id, slot, device, started_at, job_id, events_path, {}, {} FROM attempts WHERE trial_id = ? AND state = 'running' ORDER BY id DESC LIMIT 1",
            self.peak_columns(),
            self.progress_columns()
        );
        let row = (sqlx::query(&q)
            .bind(trial)
            .fetch_optional(self.pool())
            .await)
            .map_err(|e| self.err(e))?;
        let Some(r) = row else { return Ok(None) };
        let id: i64 = r.get(0);
        let last = sqlx::query(
            "SELECT epoch, report FROM epochs WHERE attempt_id = ? ORDER BY epoch DESC LIMIT 1",
        )
        .bind(id)
        .fetch_optional(self.pool())
        .await
        .map_err(|e| self.err(e))?;
        let (epoch, last_report) = match last {
            Some(l) => (
                Some(l.get::<i64, _>(0) as u32),
                serde_json::from_str(&l.get::<String, _>(1)).ok(),
            ),
            None => (None, None),
        };
        Ok(Some(AttemptInfo {
            attempt: id,
            slot: r.get(1),
            device: r.get(2),
            started_at: r.get(3),
            epoch,
            last_report,
            job_id: r.get(4),
            events_path: r.get(5),
            peak_host_bytes: r.get(6),
            peak_gpu_bytes: r.get(7),
            progress: progress(r.get(8), r.get(9), r.get(10)),
            progress_at: r.get(11),
        }))
    }

    /// Every trial of the sweep in run order, with its result and epoch reports; a
    /// result only for a `succeeded` trial (a database of an older ablate may hold
    /// one on a trial that is not).
    pub async fn results(&self, sweep: &str) -> Result<Vec<ResultRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT t.id, t.kind, t.state, t.labels, t.config, group_concat(m.study, char(31)), r.result, r.degenerate, r.attempt_id \
             FROM trials t JOIN memberships m ON m.trial_id = t.id LEFT JOIN results r ON r.trial_id = t.id AND t.state = 'succeeded' \
             WHERE m.sweep = ? GROUP BY t.id ORDER BY min(m.position)",
        )
        .bind(sweep)
        .fetch_all(self.pool())
        .await
        .map_err(|e| self.err(e))?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let parse = |s: String| {
                serde_json::from_str::<serde_json::Value>(&s).map_err(|e| self.json_err(e))
            };
            let attempt: Option<i64> = r.get(8);
            let epochs = match attempt {
                Some(a) => {
                    let reports: Vec<String> = sqlx::query_scalar(
                        "SELECT report FROM epochs WHERE attempt_id = ? ORDER BY epoch",
                    )
                    .bind(a)
                    .fetch_all(self.pool())
                    .await
                    .map_err(|e| self.err(e))?;
                    reports
                        .into_iter()
                        .map(parse)
                        .collect::<Result<Vec<_>, _>>()?
                }
                None => Vec::new(),
            };
            out.push(ResultRow {
                id: TrialId::from(r.get::<String, _>(0)),
                kind: r.get(1),
                state: self.parse_state(r.get(2))?,
                labels: parse(r.get(3))?,
                config: parse(r.get(4))?,
                studies: r
                    .get::<Option<String>, _>(5)
                    .unwrap_or_default()
                    .split('\u{1f}')
                    .map(str::to_string)
                    .collect(),
                result: r.get::<Option<String>, _>(6).map(parse).transpose()?,
                degenerate: r.get::<Option<bool>, _>(7).unwrap_or(false),
                epochs,
            });
        }
        Ok(out)
    }
}

/// Where a sweep's attempts ran: for the report's provenance section.
#[derive(Debug, Clone, Serialize)]
pub struct AttemptProvenance {
    pub device: String,
    pub device_name: Option<String>,
    pub host: String,
    pub ablate_version: String,
    pub git_commit: Option<String>,
    pub git_dirty: Option<bool>,
    pub state: AttemptState,
    /// Wall-clock seconds (None while running).
    pub seconds: Option<f64>,
    pub trial_id: TrialId,
    /// Peak private host memory and GPU memory it reported, in bytes.
    pub peak_host_bytes: Option<i64>,
    pub peak_gpu_bytes: Option<i64>,
}

impl Store {
    pub async fn provenance(&self, sweep: &str) -> Result<Vec<AttemptProvenance>, StoreError> {
        let q = format!(
            "SELECT device, device_name, host, ablate_version, git_commit, git_dirty, state, (julianday(ended_at) - julianday(started_at)) * 86400.0, trial_id, {} FROM attempts WHERE sweep = ? ORDER BY id",
            self.peak_columns()
        );
        let rows = sqlx::query(&q)
            .bind(sweep)
            .fetch_all(self.pool())
            .await
            .map_err(|e| self.err(e))?;
        rows.iter()
            .map(|r| {
                Ok(AttemptProvenance {
                    device: r.get(0),
                    device_name: r.get(1),
                    host: r.get(2),
                    ablate_version: r.get(3),
                    git_commit: r.get(4),
                    git_dirty: r.get(5),
                    state: self.parse_state(r.get(6))?,
                    seconds: r.get(7),
                    trial_id: TrialId::from(r.get::<String, _>(8)),
                    peak_host_bytes: r.get(9),
                    peak_gpu_bytes: r.get(10),
                })
            })
            .collect()
    }
}

/// A progress point from its columns, when all three are there and fit.
pub(crate) fn progress(
    epoch: Option<i64>,
    step: Option<i64>,
    steps: Option<i64>,
) -> Option<Progress> {
    Some(Progress {
        epoch: u32::try_from(epoch?).ok()?,
        step: u64::try_from(step?).ok()?,
        steps: u64::try_from(steps?).ok()?,
    })
}
