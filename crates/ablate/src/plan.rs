//! `ablate plan`: what a sweep will run, in order, before any GPU hour is spent
//! (its text is `ablate_report::plan`'s), and `--estimate` over `ablate-cost`.

use std::path::Path;

use ablate_spec::Sweep;
use anyhow::Result;

/// `--gpu-model NAME` with the table file it is looked up in (None: built in).
#[derive(Debug, Clone, Copy)]
pub struct GpuModel<'a> {
    pub name: &'a str,
    pub table: Option<&'a Path>,
}

/// `ablate plan --estimate`: hours and memory from the sweep's database, a
/// calibration or a GPU model's table (`ablate-cost`).
pub fn estimate(
    sweep: &Sweep,
    calibrate: bool,
    gpu: Option<GpuModel<'_>>,
    db: Option<&Path>,
    json: bool,
) -> Result<()> {
    let tables = match gpu {
        Some(g) => ablate_cost::gpu_table::load(g.table)?,
        None => Vec::new(),
    };
    let gpu = match gpu {
        Some(g) => Some(ablate_cost::gpu_table::find(&tables, g.name, g.table)?),
        None => None,
    };
    let path = ablate_orchestrator::db_path(sweep, db);
    let history = if path.exists() {
        crate::rt::block_on(async {
            let store = ablate_store::Store::open_read_only(&path).await?;
            let h = ablate_cost::History::load(&store, sweep).await;
            store.close().await;
            h
        })??
    } else {
        ablate_cost::History::default()
    };
    let sources = ablate_cost::Sources { calibrate, gpu };
    let e = ablate_cost::estimate(sweep, sources, history)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&e.to_json())?);
    } else {
        print!("{}", ablate_cost::render(sweep, &e));
    }
    Ok(())
}

pub fn run(sweep: &Sweep, json: bool, check: bool) -> Result<()> {
    if check {
        println!(
            "ok: {}: {}",
            sweep.file.display(),
            ablate_report::plan::summary(sweep)
        );
        // A sweep may be planned on a laptop for a cluster: data absent here is
        // no error, but the user should know before `run` says so.
        let base = sweep.file.parent().unwrap_or(Path::new(""));
        for (name, spec) in &sweep.datasets {
            if let Some(e) = ablate_data::missing(&spec.source, base) {
                println!("note: dataset {name} is not on this machine: {e}");
            }
        }
    } else if json {
        println!("{}", serde_json::to_string_pretty(sweep)?);
    } else {
        print!("{}", ablate_report::plan::render(sweep));
    }
    Ok(())
}
