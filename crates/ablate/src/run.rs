//! `ablate run` and `ablate report`: the command line over the orchestrator and store.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Result, bail};

use crate::InvalidInput;

/// `ablate run`'s options.
#[derive(clap::Args, Debug)]
pub struct RunArgs {
    #[command(flatten)]
    pub sweep: crate::sweep_arg::SweepArg,
    /// GPUs to use: `all` (nvidia-smi; honours CUDA_VISIBLE_DEVICES) or indices such as 0,1,3.
    #[arg(long)]
    pub gpus: Option<String>,
    /// Trials sharing each GPU.
    #[arg(long, default_value_t = 1)]
    pub slots_per_gpu: u32,
    /// CPU trials at once (default: cores / the trials' thread budget).
    #[arg(long)]
    pub cpu_slots: Option<u32>,
    /// Attempts per trial for retryable failures (killed, out of memory, I/O).
    #[arg(long, default_value_t = 3)]
    pub max_attempts: u32,
    /// Seconds before the first retry; doubles with each attempt (above 0, at most 86400).
    #[arg(long, default_value_t = 5.0, value_parser = crate::flags::seconds::<86_400>)]
    pub retry_backoff: f64,
    /// Kill a worker silent (no event, no heartbeat) for this many seconds
    /// (above 0, at most 604800: a week).
    #[arg(long, default_value_t = 600.0, value_parser = crate::flags::seconds::<604_800>)]
    pub heartbeat_timeout: f64,
    /// Kill a trial running longer than this many seconds (above 0, at most
    /// 31536000: a year).
    #[arg(long, value_parser = crate::flags::seconds::<31_536_000>)]
    pub trial_timeout: Option<f64>,
    /// Seconds between SIGTERM and SIGKILL when stopping, and that a worker has
    /// to exit after its `finished` event (above 0, at most 3600).
    #[arg(long, default_value_t = 10.0, value_parser = crate::flags::seconds::<3_600>)]
    pub grace: f64,
    /// The longest line of worker output read whole, in bytes (1024 to
    /// 1073741824); a longer one is cut and not read as an event.
    #[arg(long, default_value_t = ablate_orchestrator::DEFAULT_MAX_LINE, value_parser = crate::flags::line_bytes)]
    pub max_line_bytes: usize,
    /// Also rerun trials that failed for good last time (NaN loss, bad config...).
    #[arg(long)]
    pub rerun_failed: bool,
    /// Keep results trained on other data or by another trainer version (stale)
    /// instead of rerunning their trials; `ablate status` lists them.
    #[arg(long)]
    pub keep_stale: bool,
    /// Keep each trial's resumable state (state.safetensors) after it succeeds;
    /// by default it is deleted then.
    #[arg(long)]
    pub keep_state: bool,
    /// Only this study's trials (and the pretraining they wait on).
    #[arg(long)]
    pub only: Option<String>,
    /// Show what would run, and run nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// The database (default: <sweep output>/ablate.db).
    #[arg(long)]
    pub db: Option<PathBuf>,
    #[command(flatten)]
    pub slurm: crate::slurm::SlurmArgs,
}

/// A build without the `cuda` feature runs its own workers on the CPU only: refuse GPU work
/// (`--gpus`, or trials with device = "cuda") before anything is created or started.
fn refuse_gpu_work_without_cuda(sweep: &ablate_spec::Sweep, a: &RunArgs) -> Result<()> {
    // The trials this run covers (an unknown study is the orchestrator's to
    // refuse, after this).
    let wanted = sweep.work_set(a.only.as_deref()).unwrap_or_default();
    let cuda = sweep
        .trials
        .iter()
        .filter(|t| {
            t.exec.device == ablate_spec::types::Device::Cuda && wanted.contains(t.id.as_str())
        })
        .count();
    if cuda > 0 {
        bail!(InvalidInput(format!(
            "{cuda} trial(s) of this sweep ask for device = \"cuda\", but this ablate was built without CUDA, so its workers can only use the CPU; build it with `cargo build --release --features cuda` (see docs/gpu.md), or set device = \"cpu\" in [train] and run on CPU slots; nothing was run"
        )));
    }
    if let Some(g) = &a.gpus {
        bail!(InvalidInput(format!(
            "--gpus {g}: this ablate was built without CUDA, so its workers cannot use a GPU; build it with `cargo build --release --features cuda` (see docs/gpu.md), or leave out --gpus to run on CPU slots; nothing was run"
        )));
    }
    Ok(())
}

/// A value `seconds` accepted.
fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

pub fn run(a: RunArgs) -> Result<ExitCode> {
    let (sweep, text) = a.sweep.load()?;
    if sweep.worker.is_none() && !cfg!(feature = "cuda") {
        refuse_gpu_work_without_cuda(&sweep, &a)?;
    }
    let gpus = match &a.gpus {
        Some(g) => {
            let found = ablate_orchestrator::gpus::parse(g)?;
            for w in &found.warnings {
                eprintln!("warning: {w}");
            }
            found.gpus
        }
        None => Vec::new(),
    };
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as u32;
    let threads = sweep
        .trials
        .iter()
        .map(|t| t.exec.threads)
        .max()
        .unwrap_or(1)
        .max(1);
    let opts = ablate_orchestrator::RunOptions {
        gpus: gpus.iter().map(|(i, _)| *i).collect(),
        gpu_names: gpus
            .iter()
            .filter(|(_, n)| !n.is_empty())
            .cloned()
            .collect::<HashMap<_, _>>(),
        slots_per_gpu: a.slots_per_gpu.max(1),
        // By default as many CPU slots as the cores allow at each trial's thread budget.
        cpu_slots: a.cpu_slots.unwrap_or((cores / threads).max(1)),
        max_attempts: a.max_attempts.max(1),
        backoff: secs(a.retry_backoff),
        heartbeat_timeout: secs(a.heartbeat_timeout),
        trial_timeout: a.trial_timeout.map(secs),
        grace: secs(a.grace),
        rerun_failed: a.rerun_failed,
        keep_stale: a.keep_stale,
        keep_state: a.keep_state,
        max_line: a.max_line_bytes,
        only: a.only,
        dry_run: a.dry_run,
        db: a.db,
        ablate_exe: std::env::current_exe()?,
        slurm: crate::slurm::options(&a.slurm, &sweep)?,
    };
    let mut reporter = ablate_orchestrator::progress::for_terminal();
    let summary = crate::rt::block_on(ablate_orchestrator::run(
        &sweep,
        &text,
        &opts,
        reporter.as_mut(),
    ))??;
    let db = ablate_orchestrator::db_path(&sweep, opts.db.as_deref());
    if a.dry_run {
        print!("{}", summary.dry_run_text(&sweep, &db));
        return Ok(ExitCode::SUCCESS);
    }
    match report(&sweep, opts.db.as_deref(), None) {
        Ok(dir) => println!("report: {}", dir.join("report.md").display()),
        Err(e) => eprintln!("error: the sweep ran, but its report could not be written: {e:#}"),
    }
    print!("{}", summary.text(&sweep.name, &db));
    Ok(if summary.interrupted + summary.in_slurm > 0 {
        ExitCode::from(130)
    } else if summary.failed + summary.blocked > 0 {
        ExitCode::from(crate::exit::FAILURE)
    } else {
        ExitCode::SUCCESS
    })
}

/// Writes the sweep's report to `out` (default: its `report_dir`, whatever the
/// working folder); returns the folder.
pub fn report(
    sweep: &ablate_spec::Sweep,
    db: Option<&Path>,
    out: Option<&Path>,
) -> Result<PathBuf> {
    let path = ablate_orchestrator::db_path(sweep, db);
    let input = crate::rt::block_on(async {
        let store = ablate_store::Store::open_read_only(&path).await?;
        let r = ablate_report::load(&store, sweep).await;
        let stale = ablate_orchestrator::stale_results(&store, sweep).await;
        store.close().await;
        let mut input = r?;
        input.stale = stale?.0.into_iter().map(|s| (s.trial, s.reason)).collect();
        anyhow::Ok(input)
    })??;
    let dir = out.map_or_else(|| sweep.report_dir.clone(), Path::to_path_buf);
    ablate_report::write(&ablate_report::render(&input), &dir)?;
    Ok(dir)
}
