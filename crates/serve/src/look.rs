//! One look at a sweep: its status as JSON, read from the database read-only in
//! one short read (`ablate_orchestrator::status` opens, reads and closes), so a
//! look never holds back the orchestrator's writes or WAL checkpoints. The same
//! JSON is `ablate status --json` and what the page draws. A look costs a
//! judgement of the claims (a third of a CPU second on a real study), so
//! `Looker` looks again only when the database's files changed, once for every
//! page connected.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use ablate_orchestrator::SweepStatus;
use ablate_spec::Sweep;
use axum::body::Bytes;
use serde_json::{Value, json};

/// `ablate status --json`: the database's counts completed with the sweep's own
/// trials, stale results, outdated caches, Slurm jobs' live states (`live`:
/// job id and state), notes, the claims judged so far and the adaptive round.
pub fn status_json(st: &SweepStatus, live: &[(String, String)]) -> serde_json::Result<Value> {
    let mut v = serde_json::to_value(&st.report)?;
    v["stale"] = serde_json::to_value(&st.stale)?;
    v["outdated_caches"] = serde_json::to_value(&st.outdated)?;
    v["slurm"] = live.iter().map(|(j, s)| (j.clone(), json!(s))).collect();
    v["notes"] = serde_json::to_value(&st.notes)?;
    v["claims"] = ablate_report::status::claims_json(st.judgement.as_ref());
    v["adaptive"] = ablate_report::status::round_json(st.judgement.as_ref());
    Ok(v)
}

/// The Slurm jobs of running trials and what the scheduler says of them now.
pub fn live_states(st: &SweepStatus) -> Vec<(String, String)> {
    let jobs: Vec<String> = (st.report.running.iter())
        .filter_map(|t| t.attempt.as_ref().and_then(|a| a.job_id.clone()))
        .collect();
    ablate_orchestrator::slurm::live_states(&jobs)
}

/// A look at the sweep: the status JSON every page starts from and, when the
/// database could be read, the results and judgement behind it for the study
/// and trial pages.
pub struct Look {
    pub status: Arc<Value>,
    pub model: Option<Arc<Model>>,
    /// Looks are numbered 1, 2, ... from the server's start.
    pub number: u64,
    /// Trial id -> the number of the look at which its state or metrics last
    /// changed (a page that saw look n asks only for what changed after it).
    pub changed: Arc<HashMap<String, u64>>,
    /// JSON answers already made from this look, by request: a look is
    /// computed on once, however many pages ask, and an answer is sent from
    /// the same bytes each time (`Bytes` clones share, never copy).
    memo: std::sync::Mutex<HashMap<String, Bytes>>,
    /// The status as text, made once for every page and event stream.
    status_text: std::sync::OnceLock<Bytes>,
}

/// The most answers a look keeps (distinct trial-table queries mostly).
const MEMO: usize = 256;

impl Look {
    /// The status JSON as text, serialized once per look.
    pub fn status_text(&self) -> Bytes {
        (self.status_text)
            .get_or_init(|| Bytes::from(self.status.to_string()))
            .clone()
    }

    /// The answer to request `key`, made by `make` once per look.
    pub fn memo<E>(&self, key: &str, make: impl FnOnce() -> Result<Value, E>) -> Result<Bytes, E> {
        let held = |m: &std::sync::Mutex<HashMap<String, Bytes>>| {
            m.lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .get(key)
                .cloned()
        };
        if let Some(a) = held(&self.memo) {
            return Ok(a);
        }
        let answer = Bytes::from(make()?.to_string());
        let mut m = self
            .memo
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if m.len() >= MEMO {
            m.clear();
        }
        m.insert(key.to_string(), answer.clone());
        Ok(answer)
    }
}

/// The results of a look, as the report reads them, with the claims judged.
pub struct Model {
    pub input: ablate_report::Input,
    pub judged: Option<ablate_results::Judged>,
}

/// The page's view: the status JSON with `db` and `db_exists`, or, when the
/// database cannot be read (being created or migrated, not a database), the
/// reason under `error`, never a failed request.
pub async fn look(sweep: &Sweep, db: &Path) -> (Value, Option<Model>) {
    let (mut v, model) = match ablate_orchestrator::status(sweep, db).await {
        Ok(mut st) => {
            let mut v = status_json(&st, &live_states(&st))
                .unwrap_or_else(|e| json!({ "error": format!("cannot show the status: {e}") }));
            // The status is made: its results and judgement move to the model.
            let model = st.results.take().map(|r| Model {
                input: ablate_report::Input::new(sweep, r),
                judged: st.judgement.take(),
            });
            crate::pace::cap(&mut v);
            if let Some(m) = &model {
                v["pace"] = crate::pace::pace(&m.input.results, sweep, m.judged.as_ref());
            }
            (v, model)
        }
        Err(e) => (
            json!({ "sweep": sweep.name, "error": unreadable(db, &e.to_string()) }),
            None,
        ),
    };
    v["db"] = json!(db.display().to_string());
    v["db_exists"] = json!(db.exists());
    (v, model)
}

/// Why the database cannot be read, in words a user can act on.
fn unreadable(db: &Path, text: &str) -> String {
    let lower = text.to_lowercase();
    if lower.contains("locked") || lower.contains("busy") {
        format!(
            "{} is busy (being created or migrated by `ablate run`?): the page tries again when it changes ({text})",
            db.display()
        )
    } else if lower.contains("readonly")
        || lower.contains("read-only")
        || lower.contains("permission")
    {
        format!(
            "cannot read {}: no permission to read it or its folder ({text})",
            db.display()
        )
    } else {
        format!("cannot read {}: {text}", db.display())
    }
}

/// Sizes and modification times of the database and its WAL: any commit
/// changes one of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stamp(Vec<Option<(u64, SystemTime)>>);

impl Stamp {
    pub fn of(db: &Path) -> Stamp {
        let mut wal = db.as_os_str().to_owned();
        wal.push("-wal");
        let files = [db.to_path_buf(), PathBuf::from(wal)];
        Stamp(
            (files.iter())
                .map(|f| {
                    std::fs::metadata(f)
                        .ok()
                        .map(|m| (m.len(), m.modified().unwrap_or(UNIX_EPOCH)))
                })
                .collect(),
        )
    }

    /// When the database last changed, in seconds since the epoch.
    fn changed(&self) -> Option<f64> {
        (self.0.iter().flatten())
            .filter_map(|(_, t)| t.duration_since(UNIX_EPOCH).ok())
            .map(|d| d.as_secs_f64())
            .reduce(f64::max)
    }
}

/// The latest look, shared by every page, taken again when the files changed.
pub struct Looker {
    sweep: Sweep,
    db: PathBuf,
    last: tokio::sync::Mutex<Option<(Stamp, Arc<Look>)>>,
}

impl Looker {
    pub fn new(sweep: Sweep, db: PathBuf) -> Looker {
        Looker {
            sweep,
            db,
            last: tokio::sync::Mutex::new(None),
        }
    }

    pub fn sweep(&self) -> &Sweep {
        &self.sweep
    }

    pub fn db(&self) -> &Path {
        &self.db
    }

    /// The look now, its status with `changed_at` (when the database last
    /// changed) so a page can say how old its data is when no orchestrator
    /// writes any more.
    pub async fn current(&self) -> (Stamp, Arc<Look>) {
        let mut last = self.last.lock().await;
        let stamp = Stamp::of(&self.db);
        if let Some((s, l)) = last.as_ref().filter(|(s, _)| *s == stamp) {
            return (s.clone(), l.clone());
        }
        let (mut v, model) = look(&self.sweep, &self.db).await;
        v["changed_at"] = json!(stamp.changed());
        let before = last.as_ref().map(|(_, l)| l.clone());
        let number = before.as_ref().map_or(1, |l| l.number + 1);
        let changed = match &model {
            Some(m) => {
                let old = (before.as_ref()).and_then(|l| {
                    l.model
                        .as_ref()
                        .map(|om| (l.changed.as_ref(), &om.input.results))
                });
                Arc::new(crate::pace::changes(old, &m.input.results, number))
            }
            None => before
                .as_ref()
                .map_or_else(Arc::default, |l| l.changed.clone()),
        };
        v["look"] = json!(number);
        let l = Arc::new(Look {
            status: Arc::new(v),
            model: model.map(Arc::new),
            number,
            changed,
            memo: std::sync::Mutex::default(),
            status_text: std::sync::OnceLock::new(),
        });
        *last = Some((stamp.clone(), l.clone()));
        (stamp, l)
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::unreadable;

    #[test]
    fn an_unreadable_database_is_explained_by_what_sqlite_said() {
        let db = Path::new("runs/ablate.db");
        let busy = unreadable(
            db,
            "database runs/ablate.db: error returned from database: (code: 5) database is locked",
        );
        assert!(
            busy.starts_with("runs/ablate.db is busy (being created or migrated"),
            "{busy}"
        );
        assert!(busy.ends_with("database is locked)"), "{busy}");
        for text in [
            "attempt to write a readonly database",
            "unable to open database file: Permission denied",
        ] {
            let why = unreadable(db, text);
            assert!(
                why.starts_with("cannot read runs/ablate.db: no permission"),
                "{why}"
            );
        }
        let other = unreadable(db, "file is not a database");
        assert_eq!(other, "cannot read runs/ablate.db: file is not a database");
    }
}
