//! What a run asks of Slurm on its command line, checked and merged with the
//! sweep's `[slurm]` section into the backend's options.

use std::time::Duration;

use ablate_protocol::BackendKind;
use ablate_spec::Sweep;

use super::SlurmOptions;
use super::query::{self, Seen};
use crate::RunError;

/// The command line's Slurm settings; each overrides the sweep's `[slurm]`.
#[derive(Debug, Clone, Default)]
pub struct Requested {
    pub partition: Option<String>,
    pub account: Option<String>,
    pub qos: Option<String>,
    pub time: Option<String>,
    pub gpus_per_trial: Option<u32>,
    pub max_queued: Option<u32>,
    pub sbatch_args: Vec<String>,
    pub poll: Option<f64>,
}

fn bad(msg: String) -> RunError {
    RunError::Invalid(msg)
}

/// The Slurm options of a run (None for `--backend local`), checked.
pub fn options(
    backend: BackendKind,
    a: &Requested,
    sweep: &Sweep,
) -> Result<Option<SlurmOptions>, RunError> {
    match backend {
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
                return Err(bad(format!(
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
        return Err(bad(format!(
            "--time {t:?}: not a Slurm time limit; use minutes, H:M:S or D-H:M:S, e.g. 04:00:00"
        )));
    }
    if let Some(x) = a.sbatch_args.iter().find(|x| !x.starts_with('-')) {
        return Err(bad(format!(
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
            return Err(bad(format!("{flag} {v:?}: not a Slurm name")));
        }
    }
    let poll = a.poll.or(s.poll_seconds.map(f64::from)).unwrap_or(10.0);
    if !(0.05..=3600.0).contains(&poll) {
        return Err(bad(format!(
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
        job_prefix: super::job_prefix(sweep),
    }))
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
