//! Each attempt's files are its own: before an attempt starts, what the previous
//! one left (trial file, result, metrics) moves to `attempts/<its id>/`, and a
//! stale result's files, checkpoints included, move there when it is set aside.
//! Because every start moves what is there, files found in the run directory were
//! always written by the trial's latest attempt.

use std::path::Path;

use ablate_protocol::RunDir;

use crate::RunError;

/// Moves `names` that exist in `dir` to `dir/attempts/<attempt>/`.
pub fn keep(dir: &RunDir, attempt: i64, names: &[&str]) -> Result<usize, RunError> {
    let present: Vec<&&str> = names
        .iter()
        .filter(|n| dir.path().join(n).exists())
        .collect();
    if present.is_empty() {
        return Ok(0);
    }
    let to = dir.attempt_dir(attempt);
    std::fs::create_dir_all(&to).map_err(RunError::io("create", &to))?;
    for name in &present {
        let from = dir.path().join(name);
        let dest = to.join(name);
        // Never overwrite a file already kept there (a second move of the same attempt).
        if !dest.exists() {
            std::fs::rename(&from, &dest).map_err(RunError::io("move", &from))?;
        }
    }
    Ok(present.len())
}

/// The files of a result set aside as stale: everything a success leaves.
pub fn keep_stale(output: &Path, trial: &str, attempt: i64) -> Result<usize, RunError> {
    let mut names: Vec<&str> = RunDir::ARTIFACTS.to_vec();
    // A state kept with --keep-state is of the stale result's training too.
    names.extend([RunDir::TRIAL_JSON, RunDir::STATE]);
    keep(&RunDir::of(output, trial), attempt, &names)
}
