//! `ablate run` and `ablate report`: the command line over the orchestrator and store.

use std::collections::{HashMap, HashSet};
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

/// One GPU as `nvidia-smi -L` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedGpu {
    /// nvidia-smi's index (PCI bus order), what `CUDA_VISIBLE_DEVICES` pins in the workers.
    pub index: u32,
    pub name: String,
    /// `GPU-…`; empty when the line had none.
    pub uuid: String,
}

/// The `GPU N: NAME (UUID: GPU-…)` lines of `nvidia-smi -L` (MIG lines under them are skipped).
pub fn parse_nvidia_smi(text: &str) -> Vec<ListedGpu> {
    text.lines()
        .filter_map(|l| {
            let rest = l.trim_end().strip_prefix("GPU ")?;
            let (idx, rest) = rest.split_once(':')?;
            let (name, uuid) = match rest.split_once("(UUID:") {
                Some((name, u)) => (name, u.trim().trim_end_matches(')').trim()),
                None => (rest, ""),
            };
            Some(ListedGpu {
                index: idx.trim().parse().ok()?,
                name: name.trim().to_string(),
                uuid: uuid.to_string(),
            })
        })
        .collect()
}

fn starts_with_ci(s: &str, prefix: &str) -> bool {
    s.get(..prefix.len())
        .is_some_and(|h| h.eq_ignore_ascii_case(prefix))
}

/// The listed GPUs that `CUDA_VISIBLE_DEVICES` (`visible`) leaves visible, in its order, as CUDA
/// reads it: comma-separated indices or (prefixes of) `GPU-` UUIDs, spaces allowed; the first
/// entry that names no GPU ends the list (with a warning), so `""` or `-1` hides every GPU.
/// Returns the GPUs and the warnings to print.
pub fn select_visible(
    listed: &[ListedGpu],
    visible: Option<&str>,
) -> Result<(Vec<ListedGpu>, Vec<String>), InvalidInput> {
    let all = || {
        listed
            .iter()
            .map(|g| format!("GPU {} {}", g.index, g.name))
            .collect::<Vec<_>>()
            .join(", ")
    };
    if listed.is_empty() {
        return Err(InvalidInput(
            "--gpus all: `nvidia-smi -L` lists no GPU; check the NVIDIA driver, or list GPUs with --gpus 0,1".into(),
        ));
    }
    let Some(visible) = visible else {
        return Ok((listed.to_vec(), Vec::new()));
    };
    let mut chosen: Vec<ListedGpu> = Vec::new();
    let mut warnings = Vec::new();
    for entry in visible.split(',').map(str::trim) {
        if starts_with_ci(entry, "MIG-") {
            return Err(InvalidInput(format!(
                "--gpus all: CUDA_VISIBLE_DEVICES={visible:?} names a MIG instance ({entry}); ablate pins whole GPUs only: unset CUDA_VISIBLE_DEVICES or list GPU indices"
            )));
        }
        let found: Vec<&ListedGpu> = if entry.len() > 4 && starts_with_ci(entry, "GPU-") {
            listed
                .iter()
                .filter(|g| starts_with_ci(&g.uuid, entry))
                .collect()
        } else {
            entry
                .parse::<u32>()
                .ok()
                .and_then(|i| listed.iter().find(|g| g.index == i))
                .into_iter()
                .collect()
        };
        let [gpu] = found.as_slice() else {
            // CUDA's rule: the devices before the first invalid entry are the visible ones.
            if !(entry.is_empty() && visible.trim().is_empty()) {
                let why = if found.len() > 1 {
                    "matches several GPUs"
                } else {
                    "names none of the GPUs nvidia-smi lists"
                };
                warnings.push(format!(
                    "CUDA_VISIBLE_DEVICES={visible:?}: {entry:?} {why} ({}); like CUDA, ablate ignores it and every entry after it",
                    all()
                ));
            }
            break;
        };
        if !chosen.iter().any(|g| g.index == gpu.index) {
            chosen.push((*gpu).clone());
        }
    }
    if chosen.is_empty() {
        return Err(InvalidInput(format!(
            "--gpus all: CUDA_VISIBLE_DEVICES={visible:?} hides every GPU that nvidia-smi -L lists ({}); unset it, set it to indices or GPU-… UUIDs of these GPUs, or list GPUs with --gpus 0,1",
            all()
        )));
    }
    Ok((chosen, warnings))
}

/// GPUs from `nvidia-smi -L`, limited to CUDA_VISIBLE_DEVICES when it is set.
pub fn detect_gpus() -> Result<Vec<(u32, String)>> {
    let out = std::process::Command::new("nvidia-smi")
        .arg("-L")
        .output()
        .map_err(|e| {
            InvalidInput(format!(
                "--gpus all: cannot run nvidia-smi ({e}); is the NVIDIA driver installed and nvidia-smi on PATH? Or list GPUs with --gpus 0,1"
            ))
        })?;
    if !out.status.success() {
        // nvidia-smi prints its reason ("couldn't communicate with the NVIDIA driver") on stdout.
        let said = [&out.stderr, &out.stdout]
            .iter()
            .map(|b| String::from_utf8_lossy(b).trim().to_string())
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join("; ");
        bail!(InvalidInput(format!(
            "--gpus all: `nvidia-smi -L` failed ({}): {}; check the NVIDIA driver, or list GPUs with --gpus 0,1",
            out.status,
            if said.is_empty() { "no output" } else { &said }
        )));
    }
    let listed = parse_nvidia_smi(&String::from_utf8_lossy(&out.stdout));
    let visible = std::env::var("CUDA_VISIBLE_DEVICES").ok();
    let (gpus, warnings) = select_visible(&listed, visible.as_deref())?;
    for w in warnings {
        eprintln!("warning: {w}");
    }
    Ok(gpus.into_iter().map(|g| (g.index, g.name)).collect())
}

fn parse_gpus(spec: &str) -> Result<Vec<(u32, String)>> {
    if spec.trim().eq_ignore_ascii_case("all") {
        return detect_gpus();
    }
    let mut gpus: Vec<(u32, String)> = Vec::new();
    for g in spec.split(',') {
        let Ok(i) = g.trim().parse::<u32>() else {
            bail!(InvalidInput(format!(
                "--gpus {spec:?}: expected `all` or a list of indices such as 0,1,3"
            )));
        };
        if gpus.iter().any(|(j, _)| *j == i) {
            bail!(InvalidInput(format!(
                "--gpus {spec:?}: GPU {i} is listed twice; to run several trials on one GPU use --slots-per-gpu"
            )));
        }
        gpus.push((i, String::new()));
    }
    Ok(gpus)
}

/// A build without the `cuda` feature runs its own workers on the CPU only: refuse GPU work
/// (`--gpus`, or trials with device = "cuda") before anything is created or started.
fn refuse_gpu_work_without_cuda(sweep: &ablate_spec::Sweep, a: &RunArgs) -> Result<()> {
    // The trials this run covers: --only's study and what it waits on, or all of them.
    let mut wanted: HashSet<&str> = sweep
        .trials
        .iter()
        .filter(|t| a.only.as_ref().is_none_or(|s| t.studies.contains(s)))
        .map(|t| t.id.as_str())
        .collect();
    for t in sweep.trials.iter().rev() {
        if wanted.contains(t.id.as_str()) {
            wanted.extend(t.depends_on.iter().map(ablate_spec::TrialId::as_str));
        }
    }
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
        Some(g) => parse_gpus(g)?,
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
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let mut reporter = ablate_orchestrator::progress::for_terminal();
    let summary = rt.block_on(ablate_orchestrator::run(
        &sweep,
        &text,
        &opts,
        reporter.as_mut(),
    ))?;
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
            let why = summary
                .stale
                .iter()
                .find(|s| &s.trial == id)
                .map(|s| format!("  (stale: {})", s.reason))
                .unwrap_or_default();
            println!("  {}  {labels}{why}", ablate_spec::short_id(id));
        }
        if summary.stale_kept {
            println!(
                "{} stale result(s) kept (--keep-stale); `ablate status` lists them",
                summary.stale.len()
            );
        }
        return Ok(ExitCode::SUCCESS);
    }
    match report(&sweep, opts.db.as_deref(), None) {
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
    if !summary.stale.is_empty() {
        let verb = if summary.stale_kept {
            "kept (--keep-stale; `ablate status` lists them)"
        } else {
            "rerun (the old results are kept in the database's superseded_results)"
        };
        println!("{} stale result(s) {verb}", summary.stale.len());
    }
    if summary.in_slurm > 0 {
        println!(
            "{} trial(s) go on as Slurm jobs: `ablate status` shows them, `ablate run` again records them, `ablate cancel` cancels them",
            summary.in_slurm
        );
    }
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
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let input = rt.block_on(async {
        let store = ablate_store::Store::open_read_only(&path).await?;
        let r = ablate_report::load(&store, sweep).await;
        let stale = ablate_orchestrator::stale_results(&store, sweep).await;
        store.close().await;
        let mut input = r?;
        input.stale = stale?.0.into_iter().map(|s| (s.trial, s.reason)).collect();
        anyhow::Ok(input)
    });
    let input = input?;
    let dir = out.map_or_else(|| sweep.report_dir.clone(), Path::to_path_buf);
    ablate_report::write(&ablate_report::render(&input), &dir)?;
    Ok(dir)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const LISTING: &str = "GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-aaaa1111-2222-3333-4444-555566667777)\n\
        GPU 1: NVIDIA A100-SXM4-40GB (UUID: GPU-bbbb1111-2222-3333-4444-555566667777)\n\
          MIG 1g.5gb      Device  0: (UUID: MIG-cccc1111-2222-3333-4444-555566667777)\n\
        GPU 2: NVIDIA L4 (UUID: GPU-abab1111-2222-3333-4444-555566667777)\n";

    fn pick(visible: Option<&str>) -> Result<Vec<u32>, String> {
        let listed = parse_nvidia_smi(LISTING);
        select_visible(&listed, visible)
            .map(|(g, _)| g.iter().map(|g| g.index).collect())
            .map_err(|e| e.0)
    }

    #[test]
    fn nvidia_smi_lines_give_index_name_and_uuid() {
        let l = parse_nvidia_smi(LISTING);
        assert_eq!(l.len(), 3, "the MIG line is not a GPU: {l:?}");
        assert_eq!(l[0].index, 0);
        assert_eq!(l[0].name, "NVIDIA H100 80GB HBM3");
        assert_eq!(l[1].uuid, "GPU-bbbb1111-2222-3333-4444-555566667777");
        assert_eq!(parse_nvidia_smi("GPU 3: Tesla T4\n")[0].name, "Tesla T4");
        assert!(parse_nvidia_smi("No devices were found\n").is_empty());
    }

    #[test]
    fn cuda_visible_devices_is_read_as_cuda_reads_it() {
        assert_eq!(pick(None), Ok(vec![0, 1, 2]));
        assert_eq!(pick(Some("1")), Ok(vec![1]));
        assert_eq!(pick(Some(" 2 , 0 ")), Ok(vec![2, 0]), "order and spaces");
        assert_eq!(pick(Some("1,1")), Ok(vec![1]), "duplicates");
        assert_eq!(
            pick(Some("GPU-bbbb1111-2222-3333-4444-555566667777")),
            Ok(vec![1])
        );
        assert_eq!(pick(Some("gpu-bbbb")), Ok(vec![1]), "a UUID prefix");
        assert_eq!(pick(Some("GPU-abab,0")), Ok(vec![2, 0]));
        // The first entry that names no GPU (or is ambiguous) ends the list.
        assert_eq!(pick(Some("0,7,1")), Ok(vec![0]));
        assert_eq!(
            pick(Some("1,GPU-a,2")),
            Ok(vec![1]),
            "GPU-a matches two GPUs"
        );
        for hides in ["", " ", "-1", "7", "GPU-ffff", "x"] {
            let e = pick(Some(hides)).unwrap_err();
            assert!(e.contains("hides every GPU"), "{hides:?}: {e}");
            assert!(e.contains("GPU 1 NVIDIA A100-SXM4-40GB"), "{e}");
        }
        let e = pick(Some("MIG-cccc1111-2222-3333-4444-555566667777")).unwrap_err();
        assert!(e.contains("MIG"), "{e}");
        let (_, w) = select_visible(&parse_nvidia_smi(LISTING), Some("0,7")).unwrap();
        assert!(w[0].contains("\"7\" names none"), "{w:?}");
        assert!(
            select_visible(&[], None)
                .unwrap_err()
                .0
                .contains("lists no GPU")
        );
    }

    #[test]
    fn explicit_gpu_lists() {
        let ids = |s: &str| parse_gpus(s).map(|g| g.iter().map(|g| g.0).collect::<Vec<_>>());
        assert_eq!(ids("0, 2").unwrap(), vec![0, 2]);
        for bad in ["", "0,,1", "a", "-1", "0,0"] {
            let e = ids(bad).unwrap_err().to_string();
            assert!(e.starts_with("--gpus"), "{bad:?}: {e}");
        }
        assert!(
            ids("1,1")
                .unwrap_err()
                .to_string()
                .contains("--slots-per-gpu")
        );
    }
}
