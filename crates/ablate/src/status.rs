//! `ablate status`: where a sweep stands, read from its database (read-only:
//! the orchestrator stays the only writer), as a table or as JSON.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::path::Path;

use ablate_protocol::TrialState;
use ablate_spec::Sweep;
use ablate_store::{StatusReport, StudyCounts};
use anyhow::Result;

use ablate_report::text as table;

/// Bytes as MiB for people.
fn mib(bytes: i64) -> String {
    format!("{:.0} MiB", bytes as f64 / (1024.0 * 1024.0))
}

/// An attempt's peaks as `ablate status` shows them: "peak memory 812 MiB", and
/// on a GPU "peak memory 812 MiB host, 3071 MiB GPU".
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

/// What the database says of a sweep, and what it does not hold.
struct Read {
    report: Option<StatusReport>,
    known: HashMap<String, TrialState>,
    stale: Vec<ablate_orchestrator::Stale>,
    outdated: Vec<std::path::PathBuf>,
    /// The sweeps the database holds (name, text its last run used).
    sweeps: Vec<(String, String)>,
}

async fn read(sweep: &Sweep, path: &Path) -> Result<Read> {
    let store = ablate_store::Store::open_read_only(path).await?;
    let report = store.status(&sweep.name).await;
    let known = store.states(&sweep.name).await;
    let sweeps = store.sweeps().await;
    let stale = ablate_orchestrator::stale_results(&store, sweep).await;
    store.close().await;
    let (stale, outdated) = stale?;
    let sweeps = sweeps?;
    let held = sweeps.iter().any(|s| s.name == sweep.name);
    Ok(Read {
        report: held.then_some(report?),
        known: known?.into_iter().collect(),
        stale,
        outdated,
        sweeps: sweeps.into_iter().map(|s| (s.name, s.spec_text)).collect(),
    })
}

/// The database's report completed with the sweep's own trials: one the
/// database has not seen (a sweep never run, another sweep's database, trials
/// an edit or an override added) is pending.
fn complete(
    report: Option<StatusReport>,
    sweep: &Sweep,
    known: &HashMap<String, TrialState>,
) -> StatusReport {
    let state = |id: &str| {
        known
            .get(id)
            .copied()
            .unwrap_or(TrialState::Pending)
            .to_string()
    };
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for t in &sweep.trials {
        *counts.entry(state(t.id.as_str())).or_insert(0) += 1;
    }
    let groups = sweep
        .stages
        .iter()
        .map(|s| format!("pretrain:{}", s.name))
        .chain(sweep.studies.iter().map(|s| s.name.clone()));
    let studies = groups
        .map(|g| {
            let mut c = StudyCounts {
                study: g.clone(),
                total: 0,
                counts: BTreeMap::new(),
            };
            let members = sweep.trials.iter().filter(|t| {
                t.studies.contains(&g) || t.stages.iter().any(|s| format!("pretrain:{s}") == g)
            });
            for t in members {
                c.total += 1;
                *c.counts.entry(state(t.id.as_str())).or_insert(0) += 1;
            }
            c
        })
        .collect();
    let base = report.unwrap_or_else(|| StatusReport {
        sweep: sweep.name.clone(),
        spec_hash: sweep.spec_hash.clone(),
        total: 0,
        counts: BTreeMap::new(),
        studies: Vec::new(),
        running: Vec::new(),
        failed: Vec::new(),
        blocked: Vec::new(),
        interrupted: Vec::new(),
    });
    StatusReport {
        total: sweep.trials.len(),
        counts,
        studies,
        ..base
    }
}

/// What the user should know about where the states come from.
fn notes(sweep: &Sweep, path: &Path, sweeps: Option<&[(String, String)]>) -> Vec<String> {
    let Some(sweeps) = sweeps else {
        return vec![format!(
            "no database at {} yet: nothing of this sweep has run, every trial is pending",
            path.display()
        )];
    };
    let Some((_, text)) = sweeps.iter().find(|(n, _)| *n == sweep.name) else {
        let names: Vec<&str> = sweeps.iter().map(|(n, _)| n.as_str()).collect();
        return vec![format!(
            "{} holds no run of sweep {} (it holds: {}): every trial is pending",
            path.display(),
            sweep.name,
            if names.is_empty() {
                "none".into()
            } else {
                names.join(", ")
            }
        )];
    };
    let now = sweep.overrides.join(" ");
    match ablate_spec::overrides_in(text) {
        Some(then) if then != now => vec![format!(
            "its last run used the overrides `{then}`: pass them again to see that run's trials"
        )],
        None if !now.is_empty() => vec![format!(
            "its last run used no overrides; with `{now}` these are other trials"
        )],
        _ => Vec::new(),
    }
}

pub fn status(sweep: &Sweep, db: Option<&Path>, json: bool) -> Result<()> {
    let path = ablate_orchestrator::db_path(sweep, db);
    let read = if path.exists() {
        Some(crate::rt::block_on(read(sweep, &path))??)
    } else {
        None
    };
    let notes = notes(sweep, &path, read.as_ref().map(|r| r.sweeps.as_slice()));
    let (report, stale, outdated) = match read {
        Some(r) => (complete(r.report, sweep, &r.known), r.stale, r.outdated),
        None => (
            complete(None, sweep, &HashMap::new()),
            Vec::new(),
            Vec::new(),
        ),
    };
    let jobs: Vec<String> = report
        .running
        .iter()
        .filter_map(|t| t.attempt.as_ref().and_then(|a| a.job_id.clone()))
        .collect();
    let live = crate::slurm::live_states(&jobs);
    if json {
        let mut v = serde_json::to_value(&report)?;
        v["stale"] = serde_json::to_value(&stale)?;
        v["outdated_caches"] = serde_json::to_value(&outdated)?;
        v["slurm"] = serde_json::to_value(live.iter().cloned().collect::<BTreeMap<_, _>>())?;
        v["notes"] = serde_json::to_value(&notes)?;
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    let mut out = String::new();
    let states = table::STATES;
    let _ = writeln!(
        out,
        "sweep {} ({} trials, database {})",
        report.sweep,
        report.total,
        path.display()
    );
    let mut header = vec!["study", "trials"];
    header.extend(states);
    let rows: Vec<Vec<String>> = report
        .studies
        .iter()
        .map(|s| {
            let mut row = vec![s.study.clone(), s.total.to_string()];
            row.extend(
                states
                    .iter()
                    .map(|st| s.counts.get(*st).copied().unwrap_or(0).to_string()),
            );
            row
        })
        .collect();
    out.push_str(&table::table(&header, &rows));
    for t in &report.running {
        let a = t.attempt.as_ref();
        let epoch = a
            .and_then(|a| a.epoch)
            .map_or("-".into(), |e| e.to_string());
        let slurm = a.and_then(|a| a.job_id.as_ref()).map(|j| {
            let s = live
                .iter()
                .find(|(k, _)| k == j)
                .map_or("?", |(_, s)| s.as_str());
            format!(", Slurm job {j}: {s}")
        });
        let memory = a
            .and_then(|a| peaks(a.peak_host_bytes, a.peak_gpu_bytes))
            .map(|p| format!(", {p}"))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "running  {}  on {} ({}), epoch {epoch}, since {}{}",
            ablate_spec::short_id(&t.id),
            a.map_or("?", |a| a.slot.as_str()),
            a.map_or("?", |a| a.device.as_str()),
            a.map_or("?", |a| a.started_at.as_str()),
            slurm.unwrap_or_default() + &memory
        );
    }
    for (what, list) in [
        ("failed", &report.failed),
        ("blocked", &report.blocked),
        ("interrupted", &report.interrupted),
    ] {
        for t in list {
            let memory = peaks(t.peak_host_bytes, t.peak_gpu_bytes)
                .map(|p| format!(" ({p})"))
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "{what:<8} {}  after {} attempt(s){memory}: {}",
                ablate_spec::short_id(&t.id),
                t.attempts,
                t.reason.as_deref().unwrap_or("-")
            );
        }
    }
    for s in &stale {
        let _ = writeln!(
            out,
            "stale    {}  {}",
            ablate_spec::short_id(&s.trial),
            s.reason
        );
    }
    if !stale.is_empty() {
        let _ = writeln!(
            out,
            "{} stale result(s): `ablate run` reruns them (keeping the old results aside); `--keep-stale` keeps them",
            stale.len()
        );
    }
    for c in &outdated {
        let _ = writeln!(
            out,
            "cache {} is older than its data (files added, removed or changed): `ablate run` rebuilds it, and results trained on other content then count as stale",
            c.display()
        );
    }
    for n in &notes {
        let _ = writeln!(out, "note: {n}");
    }
    print!("{out}");
    Ok(())
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
