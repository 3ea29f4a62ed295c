//! `ablate run` and `ablate status`: the command line over the orchestrator and store.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, bail};

use crate::InvalidInput;
use crate::table;

/// `ablate run`'s options.
#[derive(clap::Args, Debug)]
pub struct RunArgs {
    /// The sweep file, e.g. experiments/quick.toml.
    pub file: PathBuf,
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
    /// Seconds before the first retry; doubles with each attempt.
    #[arg(long, default_value_t = 5.0)]
    pub retry_backoff: f64,
    /// Kill a worker silent (no event, no heartbeat) for this many seconds.
    #[arg(long, default_value_t = 600.0)]
    pub heartbeat_timeout: f64,
    /// Kill a trial running longer than this many seconds.
    #[arg(long)]
    pub trial_timeout: Option<f64>,
    /// Seconds between SIGTERM and SIGKILL when stopping.
    #[arg(long, default_value_t = 10.0)]
    pub grace: f64,
    /// Also rerun trials that failed for good last time (NaN loss, bad config...).
    #[arg(long)]
    pub rerun_failed: bool,
    /// Only this study's trials (and the pretraining they wait on).
    #[arg(long)]
    pub only: Option<String>,
    /// Show what would run, and run nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// The database (default: <sweep output>/ablate.db).
    #[arg(long)]
    pub db: Option<PathBuf>,
}

/// GPUs from `nvidia-smi -L`, limited to CUDA_VISIBLE_DEVICES when it is set.
pub fn detect_gpus() -> Result<Vec<(u32, String)>> {
    let out = std::process::Command::new("nvidia-smi").arg("-L").output().map_err(|e| InvalidInput(format!("--gpus all: cannot run nvidia-smi ({e}); is the NVIDIA driver installed? Or list GPUs with --gpus 0,1")))?;
    if !out.status.success() {
        bail!(InvalidInput(format!(
            "--gpus all: nvidia-smi -L failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    let mut gpus: Vec<(u32, String)> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let rest = l.strip_prefix("GPU ")?;
            let (idx, name) = rest.split_once(':')?;
            let name = name.split(" (UUID").next().unwrap_or(name).trim();
            Some((idx.trim().parse().ok()?, name.to_string()))
        })
        .collect();
    if let Ok(visible) = std::env::var("CUDA_VISIBLE_DEVICES") {
        let keep: Vec<u32> = visible
            .split(',')
            .filter_map(|v| v.trim().parse().ok())
            .collect();
        gpus.retain(|(i, _)| keep.contains(i));
    }
    if gpus.is_empty() {
        bail!(InvalidInput("--gpus all: no GPU found (nvidia-smi -L lists none, or CUDA_VISIBLE_DEVICES hides them all)".into()));
    }
    Ok(gpus)
}

fn parse_gpus(spec: &str) -> Result<Vec<(u32, String)>> {
    if spec == "all" {
        return detect_gpus();
    }
    spec.split(',')
        .map(|g| {
            g.trim()
                .parse::<u32>()
                .map(|i| (i, String::new()))
                .map_err(|_| {
                    InvalidInput(format!(
                        "--gpus {spec:?}: expected `all` or a list of indices such as 0,1,3"
                    ))
                    .into()
                })
        })
        .collect()
}

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s.max(0.0))
}

pub fn run(a: RunArgs) -> Result<ExitCode> {
    let sweep = ablate_spec::load(&a.file)?;
    let text = std::fs::read_to_string(&a.file)
        .with_context(|| format!("cannot read {}", a.file.display()))?;
    let gpus = match &a.gpus {
        Some(g) => parse_gpus(g)?,
        None => Vec::new(),
    };
    if !gpus.is_empty() && sweep.worker.is_none() && !cfg!(feature = "cuda") {
        bail!(InvalidInput("--gpus: this ablate was built without CUDA, so its workers cannot use a GPU; build with `cargo build --release --features cuda` (see README), or run on CPU slots".into()));
    }
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
        only: a.only,
        dry_run: a.dry_run,
        db: a.db,
        ablate_exe: std::env::current_exe()?,
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let mut reporter = ablate_orchestrator::progress::for_terminal();
    let summary = rt
        .block_on(ablate_orchestrator::run(
            &sweep,
            &text,
            &opts,
            reporter.as_mut(),
        ))
        .map_err(|e| match e {
            ablate_orchestrator::RunError::Invalid(m) => anyhow::Error::new(InvalidInput(m)),
            other => anyhow::Error::new(other),
        })?;
    let db = ablate_orchestrator::db_path(&sweep, opts.db.as_deref());
    if a.dry_run {
        println!(
            "dry run: {} of {} trials would run ({} already succeeded); database {}",
            summary.would_run.len(),
            summary.total,
            summary.already_done,
            db.display()
        );
        for id in &summary.would_run {
            let t = sweep.trial(id);
            let labels = t
                .map(|t| {
                    t.labels
                        .iter()
                        .map(|(k, v)| format!("{k}={v}"))
                        .collect::<Vec<_>>()
                        .join(" ")
                })
                .unwrap_or_default();
            println!("  {}  {labels}", &id[..12]);
        }
        return Ok(ExitCode::SUCCESS);
    }
    match report(&a.file, opts.db.as_deref(), None) {
        Ok(dir) => println!("report: {}", dir.join("report.md").display()),
        Err(e) => eprintln!("error: the sweep ran, but its report could not be written: {e:#}"),
    }
    println!(
        "sweep {}: {} trials; {} succeeded now, {} had succeeded before, {} failed, {} blocked, {} interrupted; database {}",
        sweep.name,
        summary.total,
        summary.succeeded,
        summary.already_done,
        summary.failed,
        summary.blocked,
        summary.interrupted,
        db.display()
    );
    Ok(if summary.interrupted > 0 {
        ExitCode::from(130)
    } else if summary.failed + summary.blocked > 0 {
        ExitCode::from(crate::exit::FAILURE)
    } else {
        ExitCode::SUCCESS
    })
}

pub fn status(file: &Path, db: Option<&Path>, json: bool) -> Result<()> {
    let sweep = ablate_spec::load(file)?;
    let path = ablate_orchestrator::db_path(&sweep, db);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let report = rt.block_on(async {
        let store = ablate_store::Store::open_read_only(&path).await?;
        let r = store.status(&sweep.name).await;
        store.close().await;
        r
    });
    let report = report.map_err(|e| match e {
        ablate_store::StoreError::Missing { .. } => anyhow::Error::new(InvalidInput(e.to_string())),
        other => anyhow::Error::new(other),
    })?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    let mut out = String::new();
    let states = [
        "succeeded",
        "running",
        "pending",
        "failed",
        "blocked",
        "interrupted",
    ];
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
    out.push_str(&table::render(&header, &rows));
    for t in &report.running {
        let a = t.attempt.as_ref();
        let epoch = a
            .and_then(|a| a.epoch)
            .map_or("-".into(), |e| e.to_string());
        let _ = writeln!(
            out,
            "running  {}  on {} ({}), epoch {epoch}, since {}",
            &t.id[..12],
            a.map_or("?", |a| a.slot.as_str()),
            a.map_or("?", |a| a.device.as_str()),
            a.map_or("?", |a| a.started_at.as_str())
        );
    }
    for (what, list) in [
        ("failed", &report.failed),
        ("blocked", &report.blocked),
        ("interrupted", &report.interrupted),
    ] {
        for t in list {
            let _ = writeln!(
                out,
                "{what:<8} {}  after {} attempt(s): {}",
                &t.id[..12],
                t.attempts,
                t.reason.as_deref().unwrap_or("-")
            );
        }
    }
    print!("{out}");
    Ok(())
}

/// Writes the sweep's report to `out` (default `reports/<sweep name>`); returns the folder.
pub fn report(file: &Path, db: Option<&Path>, out: Option<&Path>) -> Result<PathBuf> {
    let sweep = ablate_spec::load(file)?;
    let path = ablate_orchestrator::db_path(&sweep, db);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let input = rt.block_on(async {
        let store = ablate_store::Store::open_read_only(&path).await?;
        let r = ablate_report::load(&store, &sweep).await;
        store.close().await;
        r
    });
    let input = input.map_err(|e| match e {
        ablate_store::StoreError::Missing { .. } => anyhow::Error::new(InvalidInput(e.to_string())),
        other => anyhow::Error::new(other),
    })?;
    let dir = out.map_or_else(|| Path::new("reports").join(&sweep.name), Path::to_path_buf);
    ablate_report::write(&ablate_report::render(&input), &dir)?;
    Ok(dir)
}
