//! `--backend slurm` options, `ablate cancel`, and the live Slurm states that
//! `ablate status` shows beside the database's view.

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use ablate_orchestrator::SlurmOptions;
use ablate_orchestrator::slurm::query::{self, Seen};
use anyhow::{Result, bail};

use ablate_protocol::BackendKind;

use crate::InvalidInput;

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

fn bad(msg: String) -> anyhow::Error {
    anyhow::Error::new(InvalidInput(msg))
}

/// The Slurm options of a run (None for `--backend local`), checked.
pub fn options(a: &SlurmArgs, sweep: &ablate_spec::Sweep) -> Result<Option<SlurmOptions>> {
    match a.backend {
        BackendKind::Local => {
            let given = [
                ("--partition", a.partition.is_some()),
                ("--account", a.account.is_some()),
                ("--qos", a.qos.is_some()),
                ("--time", a.time.is_some()),
                ("--gpus-per-trial", a.gpus_per_trial.is_some()),
                ("--max-queued", a.max_queued.is_some()),
                ("--sbatch-arg", !a.sbatch_args.is_empty()),
                ("--poll", a.poll.is_some()),
            ];
            if let Some((flag, _)) = given.iter().find(|(_, g)| *g) {
                bail!(bad(format!(
                    "{flag} is a Slurm option: add --backend slurm"
                )));
            }
            return Ok(None);
        }
        BackendKind::Slurm => {}
    }
    let s = &sweep.slurm;
    if let Some(t) = &a.time
        && !ablate_spec::slurm::valid_time(t)
    {
        bail!(bad(format!(
            "--time {t:?}: not a Slurm time limit; use minutes, H:M:S or D-H:M:S, e.g. 04:00:00"
        )));
    }
    if let Some(x) = a.sbatch_args.iter().find(|x| !x.starts_with('-')) {
        bail!(bad(format!(
            "--sbatch-arg {x:?}: not an sbatch option; give one option each, e.g. --sbatch-arg=--mem=16G"
        )));
    }
    for (flag, v) in [
        ("--partition", &a.partition),
        ("--account", &a.account),
        ("--qos", &a.qos),
    ] {
        if let Some(v) = v
            && (v.is_empty() || v.chars().any(|c| c.is_whitespace() || c.is_control()))
        {
            bail!(bad(format!("{flag} {v:?}: not a Slurm name")));
        }
    }
    let poll = a.poll.or(s.poll_seconds.map(f64::from)).unwrap_or(10.0);
    if !(0.05..=3600.0).contains(&poll) {
        bail!(bad(format!(
            "--poll {poll}: expected seconds between 0.05 and 3600"
        )));
    }
    let poll = Duration::from_secs_f64(poll);
    Ok(Some(SlurmOptions {
        partition: a.partition.clone().or(s.partition.clone()),
        account: a.account.clone().or(s.account.clone()),
        qos: a.qos.clone().or(s.qos.clone()),
        time: a.time.clone().or(s.time.clone()),
        gpus_per_trial: a.gpus_per_trial.or(s.gpus_per_trial).unwrap_or(1).max(1),
        max_queued: a.max_queued.or(s.max_queued),
        sbatch_args: s
            .sbatch_args
            .iter()
            .chain(&a.sbatch_args)
            .cloned()
            .collect(),
        poll,
        // A shared file system may show a job's last lines a little after Slurm
        // says it ended.
        settle: (poll * 2).max(Duration::from_secs(3)),
        job_prefix: ablate_orchestrator::slurm::job_prefix(sweep),
    }))
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

/// Slurm's own word on each job id (queued, running on a node, or ended).
pub fn live_states(jobs: &[String]) -> Vec<(String, String)> {
    let seen = query::states(jobs);
    jobs.iter()
        .map(|j| {
            let s = match seen.get(j) {
                Some(Seen::Pending { reason }) => format!("queued ({reason})"),
                Some(Seen::Running { node }) => format!("running on {node}"),
                Some(Seen::Ended { state, exit, .. }) => {
                    format!(
                        "ended {state} (exit {}:{}); `ablate run` records it",
                        exit.0, exit.1
                    )
                }
                None => "unknown to Slurm (or Slurm unreachable)".into(),
            };
            (j.clone(), s)
        })
        .collect()
}
