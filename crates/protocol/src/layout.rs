//! Where a trial's files live: one folder per trial under the sweep's output,
//! named by the short id, whatever reads or writes them (the dispatcher, the
//! worker, the Slurm backend, the report's provenance).

use std::path::{Path, PathBuf};

use ablate_spec::short_id;

/// A trial's run directory, `<output>/trials/<short id>/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunDir(PathBuf);

impl RunDir {
    pub const TRIAL_JSON: &'static str = "trial.json";
    pub const WORKER_LOG: &'static str = "worker.log";
    pub const CHECKPOINT: &'static str = "checkpoint.safetensors";
    /// A multi-task trial's weights at gender's best validation epoch.
    pub const CHECKPOINT_GENDER: &'static str = "checkpoint-gender.safetensors";
    pub const RESULT: &'static str = "result.json";
    pub const METRICS: &'static str = "metrics.jsonl";
    /// The trial's resumable state (docs/worker-protocol.md, "Resuming"): kept
    /// across attempts, the latest only, deleted once the trial succeeds.
    pub const STATE: &'static str = "state.safetensors";
    /// The files a succeeded trial leaves, each recorded with its digest.
    pub const ARTIFACTS: [&'static str; 4] = [
        Self::CHECKPOINT,
        Self::CHECKPOINT_GENDER,
        Self::RESULT,
        Self::METRICS,
    ];

    /// What one attempt leaves that the next must not overwrite: moved to
    /// `attempts/<attempt id>/` when the next attempt starts. The checkpoint is not
    /// among them: it is the state one attempt hands to the next (resume), and is
    /// moved only with a result set aside as stale.
    pub const PER_ATTEMPT: [&'static str; 3] = [Self::TRIAL_JSON, Self::RESULT, Self::METRICS];

    /// The run directory of trial `id` (full or short) in a sweep writing to `output`.
    pub fn of(output: &Path, id: &str) -> RunDir {
        RunDir(output.join("trials").join(short_id(id)))
    }

    /// A run directory as a worker is told it (`TrialInput::run_dir`).
    pub fn at(path: impl Into<PathBuf>) -> RunDir {
        RunDir(path.into())
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    /// The file the orchestrator writes and `ablate worker` reads.
    pub fn trial_json(&self) -> PathBuf {
        self.0.join(Self::TRIAL_JSON)
    }

    /// A local worker's stderr, kept across attempts.
    pub fn worker_log(&self) -> PathBuf {
        self.0.join(Self::WORKER_LOG)
    }

    pub fn checkpoint(&self) -> PathBuf {
        self.0.join(Self::CHECKPOINT)
    }

    pub fn result(&self) -> PathBuf {
        self.0.join(Self::RESULT)
    }

    pub fn state(&self) -> PathBuf {
        self.0.join(Self::STATE)
    }

    pub fn metrics(&self) -> PathBuf {
        self.0.join(Self::METRICS)
    }

    /// Where an earlier attempt's own files are kept (its database id).
    pub fn attempt_dir(&self, attempt: i64) -> PathBuf {
        self.0.join("attempts").join(attempt.to_string())
    }

    /// A batch job's events file (its worker's stdout) and stderr log, per attempt.
    pub fn job_events(&self, attempt: i64) -> PathBuf {
        self.0.join(format!("events-a{attempt}.jsonl"))
    }

    pub fn job_log(&self, attempt: i64) -> PathBuf {
        self.0.join(format!("worker-a{attempt}.log"))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn every_file_of_a_trial_is_in_its_short_id_folder() {
        let id = "0123456789abcdef0123";
        let d = RunDir::of(Path::new("out"), id);
        assert_eq!(d.path(), Path::new("out/trials/0123456789ab"));
        assert_eq!(RunDir::of(Path::new("out"), "0123456789ab"), d);
        assert_eq!(
            d.trial_json(),
            Path::new("out/trials/0123456789ab/trial.json")
        );
        assert_eq!(
            d.job_events(7),
            Path::new("out/trials/0123456789ab/events-a7.jsonl")
        );
        assert_eq!(
            d.job_log(7),
            Path::new("out/trials/0123456789ab/worker-a7.log")
        );
    }
}
