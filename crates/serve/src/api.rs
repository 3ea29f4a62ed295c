//! The JSON the study and trial pages fetch: a study's report (from the shared
//! look), its trials filtered, sorted and paged on the server, its parallel
//! coordinates, and one trial in full (a short read-only read of its rows and
//! the tail of its worker.log). A name or id the sweep does not have is a 404,
//! a query that cannot be read a 400, each with a message.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::Arc;

use ablate_report::web::{self, TrialQuery};
use ablate_spec::{Sweep, Trial};
use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::look::{Look, Model};

/// How much of a worker.log's end a trial page shows.
const LOG_TAIL: u64 = 16 * 1024;

/// Rows of the trial table per page unless the query says.
const PAGE: usize = 50;

/// A refusal: status and message.
pub type Refusal = (StatusCode, String);

fn no_study(name: &str) -> Refusal {
    (
        StatusCode::NOT_FOUND,
        format!("This sweep has no study named {name:?}."),
    )
}

fn no_data() -> Refusal {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        "The sweep's database cannot be read yet; the sweep page says why.".into(),
    )
}

/// Study `name`'s report so far.
pub fn study(model: Option<&Arc<Model>>, name: &str) -> Result<Value, Refusal> {
    let m = model.ok_or_else(no_data)?;
    web::study(&m.input, m.judged.as_ref(), name).ok_or_else(|| no_study(name))
}

/// Study `name`'s parallel coordinates at look `look`: every line, or with
/// `after` (the look a page last saw) only the lines of trials that changed
/// since, and `gone`, those no longer succeeded.
pub fn points(look: &Look, name: &str, after: Option<u64>) -> Result<Value, Refusal> {
    let m = look.model.as_ref().ok_or_else(no_data)?;
    let mut v = web::points(&m.input, name).ok_or_else(|| no_study(name))?;
    // A page ahead of the server (which restarted) starts over.
    let after = after.filter(|a| *a < look.number);
    let newer = |id: &str| after.is_none_or(|a| look.changed.get(id).is_none_or(|c| *c > a));
    if let Some(lines) = v.get_mut("lines").and_then(Value::as_array_mut) {
        lines.retain(|l| l[0].as_str().is_some_and(newer));
    }
    let gone: Vec<&str> = (m.input.results.trials.iter())
        .filter(|t| after.is_some() && t.in_study(name) && !t.succeeded() && newer(t.id.as_str()))
        .map(|t| t.id.as_str())
        .collect();
    v["gone"] = json!(gone);
    v["look"] = json!(look.number);
    v["full"] = json!(after.is_none());
    Ok(v)
}

/// One page of trials, as `query` (`key=value` pairs) asks.
pub fn trials(
    model: Option<&Arc<Model>>,
    sweep: &Sweep,
    query: &[(String, String)],
) -> Result<Value, Refusal> {
    let q = trial_query(query)?;
    if let Some(s) = &q.study
        && !sweep.studies.iter().any(|x| x.name == *s)
    {
        return Err(no_study(s));
    }
    let m = model.ok_or_else(no_data)?;
    Ok(web::trials(&m.input, &q))
}

fn bad(text: String) -> Refusal {
    (StatusCode::BAD_REQUEST, text)
}

/// Reads a trial table's query: `study`, `state`, `sort`, `desc=1`, `offset`,
/// `limit`, `f.FACTOR=v1,v2` (values kept) and `r.METRIC=lo:hi` (range kept).
pub fn trial_query(query: &[(String, String)]) -> Result<TrialQuery, Refusal> {
    let mut q = TrialQuery {
        limit: PAGE,
        ..TrialQuery::default()
    };
    let count = |k: &str, v: &str| {
        v.parse::<usize>()
            .map_err(|_| bad(format!("{k} must be a whole number, got {v:?}")))
    };
    for (k, v) in query {
        match k.as_str() {
            "study" => q.study = Some(v.clone()),
            "state" => q.state = Some(v.clone()),
            "sort" => q.sort = Some(v.clone()),
            "desc" => q.desc = v == "1" || v == "true",
            "offset" => q.offset = count(k, v)?,
            "limit" => q.limit = count(k, v)?,
            "token" => {}
            _ => {
                if let Some(f) = k.strip_prefix("f.") {
                    let kept: BTreeSet<String> = v.split(',').map(str::to_string).collect();
                    q.values.insert(f.to_string(), kept);
                } else if let Some(m) = k.strip_prefix("r.") {
                    q.ranges.insert(m.to_string(), range(k, v)?);
                } else {
                    return Err(bad(format!(
                        "unknown key {k:?}: use study, state, sort, desc, offset, limit, f.FACTOR or r.METRIC"
                    )));
                }
            }
        }
    }
    Ok(q)
}

fn range(k: &str, v: &str) -> Result<(f64, f64), Refusal> {
    let parsed = v
        .split_once(':')
        .and_then(|(a, b)| Some((a.parse::<f64>().ok()?, b.parse::<f64>().ok()?)));
    match parsed {
        Some((lo, hi)) if lo <= hi && lo.is_finite() && hi.is_finite() => Ok((lo, hi)),
        _ => Err(bad(format!(
            "{k} must be LOW:HIGH with LOW <= HIGH, e.g. 0.8:0.9, got {v:?}"
        ))),
    }
}

/// The sweep's trial whose id (full, or its 12-character short form) is `id`.
pub fn find<'s>(sweep: &'s Sweep, id: &str) -> Option<&'s Trial> {
    (sweep.trials.iter()).find(|t| t.id.as_str() == id || t.short_id() == id)
}

/// Trial `id` in full: what the sweep file makes of it, what the look holds
/// (state, metrics, curve), every attempt with its epochs and the artifacts
/// (one short read), and the end of its worker.log.
pub async fn trial(
    model: Option<&Arc<Model>>,
    sweep: &Sweep,
    db: &Path,
    id: &str,
) -> Result<Value, Refusal> {
    let t = find(sweep, id).ok_or_else(|| {
        (
            StatusCode::NOT_FOUND,
            format!("This sweep has no trial {id:?}."),
        )
    })?;
    let row = model.and_then(|m| m.input.results.trial(t.id.as_str()));
    let detail = detail(db, t.id.as_str()).await;
    let log = ablate_protocol::RunDir::of(&sweep.output, t.id.as_str()).worker_log();
    Ok(json!({
        "id": t.id,
        "kind": t.kind.as_str(),
        "labels": t.labels,
        "studies": t.studies,
        "stages": t.stages,
        "depends_on": t.depends_on,
        "config": t.config,
        "exec": t.exec,
        "state": row.map(|r| r.state.as_str()),
        "metrics": row.map(|r| r.metrics.iter().map(|(m, v)| (m.key(), *v)).collect::<BTreeMap<_, _>>()),
        "degenerate": row.and_then(|r| r.degenerate.clone()),
        "detail": detail,
        "log": tail(&log),
        "log_path": log.display().to_string(),
    }))
}

/// The database's rows of one trial, or why they cannot be read.
async fn detail(db: &Path, id: &str) -> Value {
    if !db.exists() {
        return json!({ "error": format!("no database at {} yet", db.display()) });
    }
    let read = async {
        let store = ablate_store::Store::open_read_only(db).await?;
        let d = store.trial_detail(id).await;
        store.close().await;
        d
    };
    match read.await {
        Ok(d) => serde_json::to_value(d).unwrap_or(Value::Null),
        Err(e) => json!({ "error": format!("cannot read {}: {e}", db.display()) }),
    }
}

/// The last `LOG_TAIL` bytes of `path` (cut to a line start), or None when
/// there is no such file yet.
fn tail(path: &Path) -> Option<String> {
    let mut f = std::fs::File::open(path).ok()?;
    let len = f.metadata().ok()?.len();
    let from = len.saturating_sub(LOG_TAIL);
    f.seek(SeekFrom::Start(from)).ok()?;
    let mut bytes = Vec::new();
    f.read_to_end(&mut bytes).ok()?;
    let text = String::from_utf8_lossy(&bytes).into_owned();
    Some(match (from > 0, text.find('\n')) {
        (true, Some(i)) => text[i + 1..].to_string(),
        _ => text,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn q(pairs: &[(&str, &str)]) -> Result<TrialQuery, Refusal> {
        let v: Vec<(String, String)> = (pairs.iter())
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        trial_query(&v)
    }

    #[test]
    fn a_trial_query_reads_filters_ranges_and_paging() {
        let got = q(&[
            ("study", "depth"),
            ("f.depth", "vgg7,vgg11"),
            ("r.gender_accuracy", "0.8:0.9"),
            ("sort", "age_mae"),
            ("desc", "1"),
            ("offset", "100"),
            ("limit", "20"),
            ("token", "x"),
        ])
        .unwrap();
        assert_eq!(got.study.as_deref(), Some("depth"));
        assert_eq!(got.values["depth"].len(), 2);
        assert_eq!(got.ranges["gender_accuracy"], (0.8, 0.9));
        assert!(got.desc);
        assert_eq!((got.offset, got.limit), (100, 20));
    }

    #[test]
    fn a_bad_trial_query_is_a_400_that_says_what_is_valid() {
        for (pairs, says) in [
            (vec![("offset", "-1")], "whole number"),
            (vec![("r.age_mae", "9:3")], "LOW <= HIGH"),
            (vec![("r.age_mae", "nan:3")], "LOW:HIGH"),
            (vec![("frobnicate", "1")], "unknown key"),
        ] {
            let (code, text) = q(&pairs).unwrap_err();
            assert_eq!(code, StatusCode::BAD_REQUEST);
            assert!(text.contains(says), "{text}");
        }
    }

    #[test]
    fn a_log_tail_starts_at_a_line() {
        let dir = std::env::temp_dir().join(format!("ablate-serve-tail-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let log = dir.join("worker.log");
        let line = "x".repeat(99) + "\n";
        std::fs::write(&log, line.repeat(400)).unwrap();
        let t = tail(&log).unwrap();
        assert!(
            t.len() as u64 <= LOG_TAIL && t.len() > 15_000,
            "{}",
            t.len()
        );
        assert!(t.starts_with('x') && t.lines().all(|l| l.len() == 99));
        assert_eq!(tail(&dir.join("none.log")), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
