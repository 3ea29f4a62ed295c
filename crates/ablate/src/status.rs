//! `ablate status`: where a sweep stands (`ablate_orchestrator::status`), as
//! text (`ablate_report::status`) or as JSON (`ablate_serve::status_json`, what
//! `ablate serve`'s page draws).

use std::path::Path;

use ablate_spec::{Sweep, TrialId};
use anyhow::Result;

pub fn status(sweep: &Sweep, db: Option<&Path>, json: bool) -> Result<()> {
    let path = ablate_orchestrator::db_path(sweep, db);
    let st = crate::rt::block_on(ablate_orchestrator::status(sweep, &path))??;
    let live = ablate_serve::live_states(&st);
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&ablate_serve::status_json(&st, &live)?)?
        );
        return Ok(());
    }
    let ablate_orchestrator::SweepStatus {
        report,
        stale,
        outdated,
        notes,
        judgement,
        results: _,
    } = st;
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
