//! `[slurm]`: how trials are submitted when a sweep runs with `--backend slurm`.
//! Only values are checked here (no Slurm command runs); each one travels to
//! `sbatch` as a single argument, never through a shell.

use serde::Serialize;

use crate::error::Ctx;
use crate::value::{self, Value};

/// Settings of `[slurm]`; the command line overrides each of them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SlurmSpec {
    pub partition: Option<String>,
    pub account: Option<String>,
    pub qos: Option<String>,
    /// A Slurm time limit per job, e.g. "04:00:00" or "1-12:00:00".
    pub time: Option<String>,
    /// GPUs per trial for `device = "cuda"` trials (default 1).
    pub gpus_per_trial: Option<u32>,
    /// At most this many of the sweep's jobs queued or running at once.
    pub max_queued: Option<u32>,
    /// More sbatch options, one argument each, e.g. ["--mem=16G", "--constraint=a100"].
    pub sbatch_args: Vec<String>,
    /// Seconds between polls of Slurm's job states.
    pub poll_seconds: Option<u32>,
}

const KEYS: &[&str] = &[
    "partition",
    "account",
    "qos",
    "time",
    "gpus_per_trial",
    "max_queued",
    "sbatch_args",
    "poll_seconds",
];

/// A name Slurm could accept: not empty, no whitespace or control characters.
fn name(ctx: &mut Ctx<'_>, key: &str, v: &Value<'_>) -> Option<String> {
    let s = value::string(ctx, key, v)?;
    if s.is_empty() || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        ctx.error(
            v.span(),
            key,
            format!("{s:?} is not a Slurm name"),
            Some("use the name `sinfo` or `sacctmgr show assoc` prints, without spaces".into()),
        );
        return None;
    }
    Some(s.to_string())
}

/// Slurm's time formats: M, M:S, H:M:S, D-H, D-H:M, D-H:M:S.
pub fn valid_time(s: &str) -> bool {
    let (days, rest) = match s.split_once('-') {
        Some((d, r)) => (Some(d), r),
        None => (None, s),
    };
    let digits = |p: &str| !p.is_empty() && p.len() <= 6 && p.bytes().all(|b| b.is_ascii_digit());
    let parts: Vec<&str> = rest.split(':').collect();
    days.is_none_or(digits) && parts.iter().all(|p| digits(p)) && (1..=3).contains(&parts.len())
}

pub(crate) fn parse(ctx: &mut Ctx<'_>, v: &Value<'_>) -> Option<SlurmSpec> {
    let t = value::table(ctx, "slurm", v)?;
    value::known_keys(ctx, "slurm", t, KEYS);
    let mut s = SlurmSpec::default();
    let mut ok = true;
    for key in ["partition", "account", "qos"] {
        if let Some(x) = value::get(t, key) {
            let got = name(ctx, &format!("slurm.{key}"), x);
            ok &= got.is_some();
            match key {
                "partition" => s.partition = got,
                "account" => s.account = got,
                _ => s.qos = got,
            }
        }
    }
    if let Some(x) = value::get(t, "time") {
        let got = value::string(ctx, "slurm.time", x);
        match got {
            Some(tm) if valid_time(tm) => s.time = Some(tm.to_string()),
            Some(tm) => {
                ctx.error(
                    x.span(),
                    "slurm.time",
                    format!("{tm:?} is not a Slurm time limit"),
                    Some(
                        "use minutes, H:M:S or D-H:M:S, e.g. \"04:00:00\" or \"1-12:00:00\"".into(),
                    ),
                );
                ok = false;
            }
            None => ok = false,
        }
    }
    if let Some(x) = value::get(t, "gpus_per_trial") {
        s.gpus_per_trial =
            value::integer(ctx, "slurm.gpus_per_trial", x, 1..=64).map(|n| n.unsigned_abs() as u32);
        ok &= s.gpus_per_trial.is_some();
    }
    if let Some(x) = value::get(t, "max_queued") {
        s.max_queued = value::integer(ctx, "slurm.max_queued", x, 1..=1_000_000)
            .map(|n| n.unsigned_abs() as u32);
        ok &= s.max_queued.is_some();
    }
    if let Some(x) = value::get(t, "poll_seconds") {
        s.poll_seconds =
            value::integer(ctx, "slurm.poll_seconds", x, 1..=3600).map(|n| n.unsigned_abs() as u32);
        ok &= s.poll_seconds.is_some();
    }
    if let Some(x) = value::get(t, "sbatch_args") {
        for item in value::array(ctx, "slurm.sbatch_args", x)?.iter() {
            let Some(arg) = value::string(ctx, "slurm.sbatch_args", item) else {
                ok = false;
                continue;
            };
            if !arg.starts_with('-') {
                ctx.error(
                    item.span(),
                    "slurm.sbatch_args",
                    format!("{arg:?} is not an sbatch option"),
                    Some(
                        "each item is one option such as \"--mem=16G\" or \"--constraint=a100\""
                            .into(),
                    ),
                );
                ok = false;
            }
            s.sbatch_args.push(arg.to_string());
        }
    }
    ok.then_some(s)
}

#[cfg(test)]
mod tests {
    use super::valid_time;

    #[test]
    fn slurm_time_formats() {
        for t in ["30", "30:00", "04:00:00", "1-12", "1-12:30", "1-12:30:00"] {
            assert!(valid_time(t), "{t}");
        }
        for t in [
            "",
            "4h",
            "1:2:3:4",
            "-1",
            "1-",
            "a:b",
            "1--2",
            "01:00:00 ; rm",
        ] {
            assert!(!valid_time(t), "{t}");
        }
    }
}
