//! `--backend slurm`'s flags (checked by `ablate_orchestrator::slurm::options`)
//! and `ablate cancel`.

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use ablate_orchestrator::SlurmOptions;
use anyhow::Result;

use ablate_protocol::BackendKind;

/// Where trials run, and how Slurm jobs are asked for (each overrides `[slurm]`).
#[derive(clap::Args, Debug)]
pub struct SlurmArgs {
    /// Where trials run: `local` (child processes here) or `slurm` (one sbatch job per trial).
    #[arg(long, default_value = "local", value_parser = backend)]
    pub backend: BackendKind,
    /// Slurm partition (sbatch --partition).
    #[arg(long)]
    pub partition: Option<String>,
    /// Slurm account to charge (sbatch --account).
    #[arg(long)]
    pub account: Option<String>,
    /// Slurm quality of service (sbatch --qos).
    #[arg(long)]
    pub qos: Option<String>,
    /// Time limit per job, e.g. 04:00:00 or 1-12:00:00 (sbatch --time).
    #[arg(long)]
    pub time: Option<String>,
    /// GPUs per job for device = "cuda" trials (sbatch --gres=gpu:N; default 1).
    #[arg(long)]
    pub gpus_per_trial: Option<u32>,
    /// At most this many of the sweep's jobs queued or running at once (default: all).
    #[arg(long)]
    pub max_queued: Option<u32>,
    /// One more sbatch option, repeatable: --sbatch-arg=--mem=16G.
    #[arg(long = "sbatch-arg", allow_hyphen_values = true)]
    pub sbatch_args: Vec<String>,
    /// Seconds between polls of Slurm's job states (default 10, or [slurm] poll_seconds).
    #[arg(long)]
    pub poll: Option<f64>,
}

/// `--backend`'s value.
fn backend(s: &str) -> Result<BackendKind, String> {
    BackendKind::parse(s).ok_or_else(|| format!("{s:?}: expected `local` or `slurm`"))
}

/// The Slurm options of a run (None for `--backend local`), checked.
pub fn options(a: &SlurmArgs, sweep: &ablate_spec::Sweep) -> Result<Option<SlurmOptions>> {
    let asked = ablate_orchestrator::slurm::Requested {
        partition: a.partition.clone(),
        account: a.account.clone(),
        qos: a.qos.clone(),
        time: a.time.clone(),
        gpus_per_trial: a.gpus_per_trial,
        max_queued: a.max_queued,
        sbatch_args: a.sbatch_args.clone(),
        poll: a.poll,
    };
    Ok(ablate_orchestrator::slurm::options(
        a.backend, &asked, sweep,
    )?)
}

/// `ablate cancel`: stops the sweep's orchestrator and cancels its Slurm jobs.
pub fn cancel(sweep: &ablate_spec::Sweep, db: Option<&Path>) -> Result<ExitCode> {
    let done = crate::rt::block_on(ablate_orchestrator::cancel(
        sweep,
        db,
        Duration::from_secs(60),
    ))??;
    if let Some(pid) = done.stopped_orchestrator {
        println!("stopped the orchestrator (pid {pid})");
    }
    println!(
        "sweep {}: cancelled {} Slurm job(s){}; {} attempt(s) recorded interrupted; `ablate run` resumes the sweep",
        sweep.name,
        done.jobs.len(),
        if done.jobs.is_empty() {
            String::new()
        } else {
            format!(" ({})", done.jobs.join(", "))
        },
        done.attempts
    );
    Ok(ExitCode::SUCCESS)
}
