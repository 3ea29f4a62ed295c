//! `sbatch` argument vectors. Every value (from the sweep file, the command line
//! or a path) is one argument of its own: nothing goes through a shell. The job
//! script is a fixed two-line file that `exec`s the worker argv Slurm hands it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use ablate_protocol::RunDir;
use ablate_spec::short_id;

use crate::backend::Launch;

/// How the sweep's jobs are submitted (`[slurm]`, overridden by the command line).
#[derive(Debug, Clone)]
pub struct SlurmOptions {
    pub partition: Option<String>,
    pub account: Option<String>,
    pub qos: Option<String>,
    pub time: Option<String>,
    pub gpus_per_trial: u32,
    /// At most this many jobs queued or running at once (None: no limit).
    pub max_queued: Option<u32>,
    pub sbatch_args: Vec<String>,
    /// Between polls of Slurm's job states.
    pub poll: Duration,
    /// After Slurm says a job ended, how long to wait for its events file to show
    /// the worker's last line (a shared file system may lag) before judging it.
    pub settle: Duration,
    /// Job names are `<prefix>-<trial id, 12 characters>`.
    pub job_prefix: String,
}

/// The job script: runs its arguments, as given, in place of the shell.
pub const JOB_SCRIPT: &str = "#!/bin/sh\n# Written by ablate: runs the worker argv that sbatch passes, unchanged.\nexec \"$@\"\n";

/// Writes the job script under `dir` (atomically) and returns its path.
pub fn write_job_script(dir: &Path) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join("ablate-job.sh");
    if std::fs::read_to_string(&path).is_ok_and(|s| s == JOB_SCRIPT) {
        return Ok(path);
    }
    let tmp = dir.join(format!(".ablate-job.sh.{}", std::process::id()));
    std::fs::write(&tmp, JOB_SCRIPT)?;
    std::fs::rename(&tmp, &path)?;
    Ok(path)
}

/// The events file and the stderr log of an attempt's job.
pub fn job_files(run_dir: &Path, attempt: i64) -> (PathBuf, PathBuf) {
    let dir = RunDir::at(run_dir);
    (dir.job_events(attempt), dir.job_log(attempt))
}

pub fn job_name(prefix: &str, trial: &str) -> String {
    format!("{prefix}-{}", short_id(trial))
}

/// A path as sbatch's `--output`/`--error` take it: they are patterns, where
/// `%j` and the like are replaced; a path of ours means itself. Slurm reads
/// `%%` as `%`, and a name with a backslash is taken literally once its
/// escaping backslashes are removed (`\\` is one backslash).
pub fn file_pattern(path: &Path) -> String {
    let p = path.display().to_string();
    if p.contains('\\') {
        p.replace('\\', "\\\\")
    } else {
        p.replace('%', "%%")
    }
}

/// Seconds before a job's end at which Slurm signals its worker to save its state.
pub const SIGNAL_LEAD_S: u32 = 120;

/// `sbatch` and its arguments for one attempt. The user's own `sbatch_args` come
/// last, so they can override ours (`--cpus-per-task`, say).
pub fn argv(o: &SlurmOptions, l: &Launch, script: &Path) -> Vec<String> {
    let (events, log) = job_files(&l.run_dir, l.attempt);
    let mut a: Vec<String> = vec![
        "sbatch".into(),
        "--parsable".into(),
        // Retries follow ablate's policy (resubmission as a new attempt, which
        // resumes from the trial's state and counts against --max-attempts),
        // not Slurm's requeue, which would rerun the same job and attempt.
        "--no-requeue".into(),
        // SIGTERM to the worker (the job script execs it) before a time limit
        // or preemption kills it: it saves its state at the next step and
        // exits `preempted`, and the next attempt resumes. Two minutes covers a
        // step of the paper's nets; a later `--signal` in sbatch_args wins.
        format!("--signal=B:TERM@{SIGNAL_LEAD_S}"),
        "--export=ALL".into(),
        format!("--job-name={}", job_name(&o.job_prefix, &l.trial)),
        format!("--chdir={}", l.run_dir.display()),
        format!("--output={}", file_pattern(&events)),
        format!("--error={}", file_pattern(&log)),
        "--ntasks=1".into(),
        format!("--cpus-per-task={}", l.threads.max(1)),
    ];
    if l.gpus > 0 {
        a.push(format!("--gres=gpu:{}", l.gpus));
    }
    for (flag, v) in [
        ("partition", &o.partition),
        ("account", &o.account),
        ("qos", &o.qos),
        ("time", &o.time),
    ] {
        if let Some(v) = v {
            a.push(format!("--{flag}={v}"));
        }
    }
    if !l.after.is_empty() {
        a.push(format!("--dependency=afterok:{}", l.after.join(":")));
        // A dependant of a failed job is cancelled at once, not left pending forever.
        a.push("--kill-on-invalid-dep=yes".into());
    }
    a.extend(o.sbatch_args.iter().cloned());
    a.push(script.display().to_string());
    a.extend(l.argv.iter().cloned());
    a
}

/// The job id in `sbatch --parsable` output (`id` or `id;cluster`).
pub fn parse_job_id(stdout: &str) -> Option<String> {
    let id = stdout.lines().last()?.split(';').next()?.trim();
    (!id.is_empty() && id.bytes().all(|b| b.is_ascii_digit() || b == b'_')).then(|| id.to_string())
}

/// Whether an sbatch failure may pass (the controller was busy or unreachable)
/// rather than being a setting Slurm rejects (a bad partition, account or option).
pub fn transient_failure(stderr: &str) -> bool {
    let s = stderr.to_ascii_lowercase();
    [
        "unable to contact slurm controller",
        "socket timed out",
        "slurm temporarily unable",
        "connection refused",
        "resource temporarily unavailable",
        "transient",
    ]
    .iter()
    .any(|m| s.contains(m))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts() -> SlurmOptions {
        SlurmOptions {
            partition: Some("gpu".into()),
            account: None,
            qos: None,
            time: Some("04:00:00".into()),
            gpus_per_trial: 1,
            max_queued: None,
            sbatch_args: vec!["--comment=$(touch /tmp/x); rm -rf ~".into()],
            poll: Duration::from_secs(1),
            settle: Duration::from_secs(1),
            job_prefix: "ablate-s".into(),
        }
    }

    #[test]
    fn every_value_is_one_argument() {
        let l = Launch {
            trial: "0123456789abcdef".into(),
            argv: vec![
                "/bin/ablate".into(),
                "worker".into(),
                "/r/a b/trial.json".into(),
            ],
            env: vec![],
            log: PathBuf::from("/r/a b/worker.log"),
            run_dir: PathBuf::from("/r/a b"),
            attempt: 7,
            threads: 2,
            gpus: 1,
            after: vec!["11".into(), "12".into()],
        };
        let a = argv(&opts(), &l, Path::new("/o/ablate-job.sh"));
        assert_eq!(a[0], "sbatch");
        assert!(a.contains(&"--job-name=ablate-s-0123456789ab".to_string()));
        assert!(a.contains(&"--output=/r/a b/events-a7.jsonl".to_string()));
        assert!(a.contains(&"--gres=gpu:1".to_string()));
        assert!(a.contains(&"--signal=B:TERM@120".to_string()), "{a:?}");
        assert!(a.contains(&"--dependency=afterok:11:12".to_string()));
        assert!(a.contains(&"--comment=$(touch /tmp/x); rm -rf ~".to_string()));
        let script = a
            .iter()
            .position(|x| x == "/o/ablate-job.sh")
            .expect("script");
        assert_eq!(&a[script + 1..], &l.argv[..]);
    }

    #[test]
    fn output_paths_are_never_expanded_by_slurm() {
        assert_eq!(
            file_pattern(Path::new("/r/out%j/e.jsonl")),
            "/r/out%%j/e.jsonl"
        );
        assert_eq!(file_pattern(Path::new("/r/a\\b%j/e")), "/r/a\\\\b%j/e");
        assert_eq!(file_pattern(Path::new("/r/plain/e")), "/r/plain/e");
    }

    #[test]
    fn job_ids() {
        assert_eq!(parse_job_id("42\n").as_deref(), Some("42"));
        assert_eq!(parse_job_id("42;cluster\n").as_deref(), Some("42"));
        assert_eq!(parse_job_id("sbatch: error\n"), None);
        assert_eq!(parse_job_id(""), None);
        assert!(transient_failure(
            "sbatch: error: Batch job submission failed: Socket timed out on send/recv operation"
        ));
        assert!(!transient_failure(
            "sbatch: error: invalid partition specified: nope"
        ));
    }
}
