//! Thread budgets. candle's CPU kernels and rayon size their pools from
//! RAYON_NUM_THREADS when first used, so a process that must use N threads is
//! started with it set: if it is not, the command re-executes itself once with it.

use std::process::{Command, ExitCode};

const GUARD: &str = "ABLATE_THREADS_SET";

/// `None`: this process already runs with `threads` threads; carry on.
/// `Some(code)`: the command ran in a re-executed child, which exited with `code`.
pub fn ensure(threads: usize) -> anyhow::Result<Option<ExitCode>> {
    let want = threads.max(1).to_string();
    if std::env::var("RAYON_NUM_THREADS").ok().as_deref() == Some(want.as_str())
        || std::env::var_os(GUARD).is_some()
    {
        return Ok(None);
    }
    let exe = std::env::current_exe()?;
    let status = Command::new(exe)
        .args(std::env::args_os().skip(1))
        .env("RAYON_NUM_THREADS", &want)
        .env(GUARD, "1")
        .status()?;
    Ok(Some(match status.code() {
        Some(c) => ExitCode::from(u8::try_from(c).unwrap_or(1)),
        // Killed by a signal: report it the way a shell would see a crash.
        None => ExitCode::from(crate::exit::FAILURE),
    }))
}
