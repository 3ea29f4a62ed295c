//! `ablate status`: where a sweep stands (`ablate_orchestrator::status`), as
//! text (`ablate_report::status`) or as JSON.

use std::collections::BTreeMap;
use std::path::Path;

use ablate_spec::{Sweep, TrialId};
use anyhow::Result;

pub fn status(sweep: &Sweep, db: Option<&Path>, json: bool) -> Result<()> {
    let path = ablate_orchestrator::db_path(sweep, db);
    let ablate_orchestrator::SweepStatus {
        report,
        stale,
        outdated,
        notes,
        judgement,
    } = crate::rt::block_on(ablate_orchestrator::status(sweep, &path))??;
    let jobs: Vec<String> = (report.running.iter())
        .filter_map(|t| t.attempt.as_ref().and_then(|a| a.job_id.clone()))
        .collect();
    let live = ablate_orchestrator::slurm::live_states(&jobs);
    if json {
        let mut v = serde_json::to_value(&report)?;
        v["stale"] = serde_json::to_value(&stale)?;
        v["outdated_caches"] = serde_json::to_value(&outdated)?;
        v["slurm"] = serde_json::to_value(live.iter().cloned().collect::<BTreeMap<_, _>>())?;
        v["notes"] = serde_json::to_value(&notes)?;
        v["claims"] = ablate_report::status::claims_json(judgement.as_ref());
        v["adaptive"] = ablate_report::status::round_json(judgement.as_ref());
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    let stale: Vec<(TrialId, String)> = stale.into_iter().map(|s| (s.trial, s.reason)).collect();
    print!(
        "{}",
        ablate_report::status::render(&ablate_report::status::SweepStatus {
            report: &report,
            db: &path,
            live: &live,
            stale: &stale,
            outdated: &outdated,
            notes: &notes,
            judgement: judgement.as_ref(),
        })
    );
    Ok(())
}
