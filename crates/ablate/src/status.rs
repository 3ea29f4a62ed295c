//! `ablate status`: where a sweep stands (`ablate_orchestrator::status`), as a
//! table or as JSON.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use ablate_spec::Sweep;
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

pub fn status(sweep: &Sweep, db: Option<&Path>, json: bool) -> Result<()> {
    let path = ablate_orchestrator::db_path(sweep, db);
    let ablate_orchestrator::SweepStatus {
        report,
        stale,
        outdated,
        notes,
    } = crate::rt::block_on(ablate_orchestrator::status(sweep, &path))??;
    let jobs: Vec<String> = report
        .running
        .iter()
        .filter_map(|t| t.attempt.as_ref().and_then(|a| a.job_id.clone()))
        .collect();
    let live = ablate_orchestrator::slurm::live_states(&jobs);
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
