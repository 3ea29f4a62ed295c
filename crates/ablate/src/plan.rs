//! `ablate plan`: what a sweep will run, in order, before any GPU hour is spent
//! (its text is `ablate_report::plan`'s), and `--estimate` over `ablate-cost`.

use std::path::{Path, PathBuf};

use ablate_spec::Sweep;
use anyhow::Result;

/// `ablate plan`'s flags.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    sweep: crate::sweep_arg::SweepArg,
    /// Print the plan as JSON (each trial with its full id and resolved config).
    #[arg(long, conflicts_with = "check")]
    json: bool,
    /// Only validate the file; print a one-line summary.
    #[arg(long)]
    check: bool,
    /// What it will cost: per trial, per study and in all, the images
    /// processed, host memory, disk and compute hours (reads the data
    /// folders; hours and memory from earlier trials of the same shape in the
    /// database, or from --calibrate).
    #[arg(long, conflicts_with = "check")]
    estimate: bool,
    /// With --estimate: time a few training steps of each trial shape on
    /// this machine where the database has none of that shape.
    #[arg(long, requires = "estimate")]
    calibrate: bool,
    /// With --estimate: price the CUDA trials with the throughput measured
    /// on this GPU model (e.g. h200), from the built-in table of GPU checks
    /// (docs/gpu-throughput.json) or --gpu-table.
    #[arg(long, requires = "estimate")]
    gpu_model: Option<String>,
    /// With --gpu-model: a table file in docs/gpu-throughput.json's format
    /// (scripts/gpu-check.sh writes one) instead of the built-in one.
    #[arg(long, requires = "gpu_model")]
    gpu_table: Option<PathBuf>,
    /// With --estimate: the database (default: <sweep output>/ablate.db).
    #[arg(long, requires = "estimate")]
    db: Option<PathBuf>,
}

pub fn run(a: &Args) -> Result<()> {
    let sweep = a.sweep.sweep()?;
    if a.estimate {
        estimate(&sweep, a)
    } else {
        plan(&sweep, a.json, a.check)
    }
}

/// `ablate plan --estimate`: hours and memory from the sweep's database, a
/// calibration or a GPU model's table (`ablate-cost`).
fn estimate(sweep: &Sweep, a: &Args) -> Result<()> {
    let table = a.gpu_table.as_deref();
    let tables = match &a.gpu_model {
        Some(_) => ablate_cost::gpu_table::load(table)?,
        None => Vec::new(),
    };
    let gpu = match &a.gpu_model {
        Some(name) => Some(ablate_cost::gpu_table::find(&tables, name, table)?),
        None => None,
    };
    let path = ablate_orchestrator::db_path(sweep, a.db.as_deref());
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
    let sources = ablate_cost::Sources {
        calibrate: a.calibrate,
        gpu,
    };
    let least = match sweep.first_round() {
        Some(first) => Some((
            ablate_cost::estimate(&first, sources, history.clone())?,
            first,
        )),
        None => None,
    };
    let e = ablate_cost::estimate(sweep, sources, history)?;
    match (&least, a.json) {
        (None, true) => println!("{}", serde_json::to_string_pretty(&e.to_json())?),
        (None, false) => print!("{}", ablate_cost::render(sweep, &e)),
        (Some((l, _)), true) => {
            let v = serde_json::json!({"max": e.to_json(), "min": l.to_json()});
            println!("{}", serde_json::to_string_pretty(&v)?);
        }
        (Some((l, first)), false) => {
            println!("adaptive seeds: the most, every claim open to the last look:");
            print!("{}", ablate_cost::render(sweep, &e));
            println!("\nthe least, every claim settled at the first look:");
            print!("{}", ablate_cost::render(first, l));
        }
    }
    Ok(())
}

fn plan(sweep: &Sweep, json: bool, check: bool) -> Result<()> {
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
