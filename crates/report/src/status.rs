//! The terminal text of `ablate status` (one sweep: counts by state per study,
//! running trials with their progress, failed, blocked and interrupted ones with
//! why, stale results, outdated caches) and `ablate list` (the sweeps under a
//! folder, counted by state).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use ablate_spec::{TrialId, short_id};
use ablate_store::{StatusReport, TrialStatus};
use serde::Serialize;

use crate::text::{STATES, table};

/// What `ablate status` shows of one sweep.
#[derive(Debug)]
pub struct SweepStatus<'a> {
    pub report: &'a StatusReport,
    /// The database it was read from.
    pub db: &'a Path,
    /// Slurm job id -> its state, as the scheduler tells it now.
    pub live: &'a [(String, String)],
    /// Stale results: trial id and why.
    pub stale: &'a [(TrialId, String)],
    /// Caches older than their data.
    pub outdated: &'a [PathBuf],
    pub notes: &'a [String],
}

/// Bytes as MiB for people.
fn mib(bytes: i64) -> String {
    format!("{:.0} MiB", bytes as f64 / (1024.0 * 1024.0))
}

/// An attempt's peaks: "peak memory 812 MiB", and on a GPU "peak memory 812 MiB
/// host, 3071 MiB GPU".
fn peaks(host: Option<i64>, gpu: Option<i64>) -> Option<String> {
    match (host, gpu) {
        (None, None) => None,
        (Some(h), None) => Some(format!("peak memory {}", mib(h))),
        (h, Some(g)) => Some(format!(
            "peak memory {} host, {} GPU",
            h.map_or("?".into(), mib),
            mib(g)
        )),
    }
}

/// Counts by state, one row per study.
fn counts(r: &StatusReport) -> String {
    let mut header = vec!["study", "trials"];
    header.extend(STATES);
    let rows: Vec<Vec<String>> = (r.studies.iter())
        .map(|s| {
            let mut row = vec![s.study.clone(), s.total.to_string()];
            let n = |st: &str| s.counts.get(st).copied().unwrap_or(0).to_string();
            row.extend(STATES.iter().map(|st| n(st)));
            row
        })
        .collect();
    table(&header, &rows)
}

fn running(out: &mut String, t: &TrialStatus, live: &[(String, String)]) {
    let a = t.attempt.as_ref();
    let epoch = (a.and_then(|a| a.epoch)).map_or("-".into(), |e| e.to_string());
    let slurm = a.and_then(|a| a.job_id.as_ref()).map(|j| {
        let s = (live.iter().find(|(k, _)| k == j)).map_or("?", |(_, s)| s.as_str());
        format!(", Slurm job {j}: {s}")
    });
    let memory = (a.and_then(|a| peaks(a.peak_host_bytes, a.peak_gpu_bytes)))
        .map(|p| format!(", {p}"))
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "running  {}  on {} ({}), epoch {epoch}, since {}{}",
        short_id(&t.id),
        a.map_or("?", |a| a.slot.as_str()),
        a.map_or("?", |a| a.device.as_str()),
        a.map_or("?", |a| a.started_at.as_str()),
        slurm.unwrap_or_default() + &memory
    );
}

/// `ablate status`'s text.
pub fn render(s: &SweepStatus<'_>) -> String {
    let r = s.report;
    let mut out = format!(
        "sweep {} ({} trials, database {})\n",
        r.sweep,
        r.total,
        s.db.display()
    );
    out.push_str(&counts(r));
    for t in &r.running {
        running(&mut out, t, s.live);
    }
    let ended = [
        ("failed", &r.failed),
        ("blocked", &r.blocked),
        ("interrupted", &r.interrupted),
    ];
    for (what, t) in ended
        .iter()
        .flat_map(|(w, l)| l.iter().map(move |t| (w, t)))
    {
        let memory = (peaks(t.peak_host_bytes, t.peak_gpu_bytes))
            .map(|p| format!(" ({p})"))
            .unwrap_or_default();
        let why = t.reason.as_deref().unwrap_or("-");
        let _ = writeln!(
            out,
            "{what:<8} {}  after {} attempt(s){memory}: {why}",
            short_id(&t.id),
            t.attempts,
        );
    }
    for (id, why) in s.stale {
        let _ = writeln!(out, "stale    {}  {why}", short_id(id));
    }
    if !s.stale.is_empty() {
        let _ = writeln!(
            out,
            "{} stale result(s): `ablate run` reruns them (keeping the old results aside); `--keep-stale` keeps them",
            s.stale.len()
        );
    }
    for c in s.outdated {
        let _ = writeln!(
            out,
            "cache {} is older than its data (files added, removed or changed): `ablate run` rebuilds it, and results trained on other content then count as stale",
            c.display()
        );
    }
    for n in s.notes {
        let _ = writeln!(out, "note: {n}");
    }
    out
}

/// A sweep a database under the listed folder holds.
#[derive(Debug, Clone, Serialize)]
pub struct Listed {
    pub database: String,
    pub sweep: String,
    pub file: String,
    /// The command-line overrides it was last run with.
    pub overrides: Option<String>,
    pub counts: BTreeMap<String, usize>,
    pub last_run: String,
}

/// `ablate list`'s table.
pub fn list(rows: &[Listed]) -> String {
    let mut header = vec!["sweep", "file", "database", "trials"];
    header.extend(STATES);
    header.push("last run");
    let cells: Vec<Vec<String>> = (rows.iter())
        .map(|r| {
            let file = match &r.overrides {
                Some(o) => format!("{} {o}", r.file),
                None => r.file.clone(),
            };
            let total = r.counts.values().sum::<usize>().to_string();
            let mut c = vec![r.sweep.clone(), file, r.database.clone(), total];
            let n = |st: &str| r.counts.get(st).copied().unwrap_or(0).to_string();
            c.extend(STATES.iter().map(|st| n(st)));
            c.push(r.last_run.clone());
            c
        })
        .collect();
    table(&header, &cells)
}

#[cfg(test)]
mod tests {
    use super::peaks;

    #[test]
    fn peaks_name_the_gpu_only_where_one_was_measured() {
        assert_eq!(peaks(None, None), None);
        assert_eq!(
            peaks(Some(812 << 20), None).as_deref(),
            Some("peak memory 812 MiB")
        );
        assert_eq!(
            peaks(Some(812 << 20), Some(3071 << 20)).as_deref(),
            Some("peak memory 812 MiB host, 3071 MiB GPU")
        );
        assert_eq!(
            peaks(None, Some(3 << 30)).as_deref(),
            Some("peak memory ? host, 3072 MiB GPU")
        );
    }
}
