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
    /// The claims judged on the trials finished so far.
    pub judgement: Option<&'a ablate_results::Judged>,
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
    let epoch = place(a.and_then(|a| a.epoch), a.and_then(|a| a.progress));
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

/// Where a running attempt is: the step of the epoch under way (its last
/// heartbeat) when that epoch is past the last one reported (`done`), else
/// that epoch.
fn place(done: Option<u32>, progress: Option<ablate_store::Progress>) -> String {
    match progress {
        Some(p) if done.is_none_or(|d| p.epoch > d) => {
            format!("{}, step {}/{}", p.epoch, p.step, p.steps)
        }
        _ => done.map_or("-".into(), |e| e.to_string()),
    }
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
    if let Some(j) = s.judgement {
        let pending = r.counts.get("pending").copied().unwrap_or(0);
        out.push_str(&round(j, pending));
        out.push_str(&claims(j.judgement()));
    }
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

/// The judged claims, the sweep's own first, then the paper's its studies can
/// judge (as the report lists them).
fn ordered(j: &ablate_verdict::Judgement) -> Vec<&ablate_verdict::Verdict> {
    let judged =
        (j.verdicts.iter()).filter(|v| v.verdict != ablate_verdict::VerdictKind::NotJudged);
    let (mine, paper): (Vec<_>, Vec<_>) = judged.partition(|v| !v.builtin);
    mine.into_iter().chain(paper).collect()
}

/// Where the claims stand on the trials finished so far.
fn claims(j: &ablate_verdict::Judgement) -> String {
    let mut out = String::new();
    for v in ordered(j) {
        let _ = writeln!(out, "claim    {:<13} {}", v.verdict.to_string(), v.claim);
    }
    if !out.is_empty() {
        out.insert_str(
            0,
            "claims on the trials finished so far (`ablate report` says why, and what more seeds would do):\n",
        );
    }
    out
}

/// An adaptive sweep's round: the looks judged and the claims still open.
/// `pending`: trials not run; once every claim stopped, none of them is needed.
fn round(j: &ablate_results::Judged, pending: usize) -> String {
    let Some(s) = j.sequential() else {
        return String::new();
    };
    let open = s.stops.iter().filter(|x| x.is_none()).count();
    if s.done {
        let unneeded = if pending > 0 {
            format!("; the {pending} pending trial(s) are not needed")
        } else {
            String::new()
        };
        format!(
            "adaptive seeds: every claim stopped after look {} of at most {}{unneeded}\n",
            s.looks_judged, s.looks
        )
    } else {
        let most = s.study_seeds.values().max().copied().unwrap_or(0);
        format!(
            "adaptive seeds: round {} of at most {} (up to {most} seeds per arm), {open} claim(s) open; `ablate run` goes on\n",
            s.looks_judged + 1,
            s.looks
        )
    }
}

/// `ablate status --json`'s round of adaptive seeds (null for fixed seeds).
pub fn round_json(j: Option<&ablate_results::Judged>) -> serde_json::Value {
    let Some(s) = j.and_then(ablate_results::Judged::sequential) else {
        return serde_json::Value::Null;
    };
    serde_json::json!({
        "looks_judged": s.looks_judged,
        "looks": s.looks,
        "done": s.done,
        "study_seeds": s.study_seeds,
        "stops": s.stops,
    })
}

/// `ablate status --json`'s claims: each judged claim with its verdict, the
/// sweep's own first.
pub fn claims_json(j: Option<&ablate_results::Judged>) -> serde_json::Value {
    let list = (j.into_iter().map(ablate_results::Judged::judgement))
        .flat_map(ordered)
        .map(|v| {
            serde_json::json!({
                "claim": v.claim,
                "builtin": v.builtin,
                "verdict": v.verdict.to_string(),
                "study": v.study,
            })
        });
    serde_json::Value::Array(list.collect())
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
    use super::{claims, peaks, place};
    use ablate_verdict::{Judgement, Verdict, VerdictKind};

    #[test]
    fn claims_list_the_sweeps_own_first_and_leave_out_those_not_judged() {
        let v = |claim: &str, builtin: bool, verdict: VerdictKind| Verdict {
            claim: claim.into(),
            builtin,
            verdict,
            study: None,
            rule: String::new(),
            why: String::new(),
            tests: Vec::new(),
            advice: None,
        };
        let j = Judgement {
            alpha: 0.05,
            family: 3,
            tests: Vec::new(),
            verdicts: vec![
                v(
                    "LDAE is the best age encoding",
                    true,
                    VerdictKind::Supported,
                ),
                v("Depth", true, VerdictKind::NotJudged),
                v("mine", false, VerdictKind::Inconclusive),
            ],
        };
        let text = claims(&j);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert!(lines[0].starts_with("claims on the trials finished so far"));
        assert_eq!(lines[1], "claim    inconclusive  mine");
        assert_eq!(
            lines[2],
            "claim    supported     LDAE is the best age encoding"
        );
        let none = Judgement {
            verdicts: vec![v("Depth", true, VerdictKind::NotJudged)],
            ..j
        };
        assert_eq!(claims(&none), "");
    }

    #[test]
    fn a_running_attempt_shows_the_step_of_an_epoch_under_way() {
        let p = |epoch| ablate_store::Progress {
            epoch,
            step: 12,
            steps: 40,
        };
        assert_eq!(place(None, None), "-");
        assert_eq!(place(Some(2), None), "2");
        assert_eq!(place(None, Some(p(1))), "1, step 12/40");
        assert_eq!(place(Some(2), Some(p(3))), "3, step 12/40");
        // A heartbeat of an epoch already reported is older news.
        assert_eq!(place(Some(3), Some(p(3))), "3");
    }

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
