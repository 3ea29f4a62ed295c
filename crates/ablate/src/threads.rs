//! Thread budgets and the allocator settings of training processes. candle's CPU
//! kernels and rayon size their pools from RAYON_NUM_THREADS when first used, and
//! glibc reads GLIBC_TUNABLES only at start-up, so a process that must train with
//! N threads is started with both set: if they are not, the command re-executes
//! itself once with them.

use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Command, ExitCode};

use nix::sys::signal::{SigSet, Signal};

const GUARD: &str = "ABLATE_THREADS_SET";

use ablate_train::protocol::MALLOC_TUNABLES;

/// `None`: this process already runs with `threads` threads; carry on.
/// `Some(code)`: the command ran in a re-executed child, which exited with `code`.
pub fn ensure(threads: usize) -> anyhow::Result<Option<ExitCode>> {
    let want = threads.max(1).to_string();
    let threads_set = std::env::var("RAYON_NUM_THREADS").ok().as_deref() == Some(want.as_str());
    let tunables_set = std::env::var_os("GLIBC_TUNABLES").is_some();
    if (threads_set && tunables_set) || std::env::var_os(GUARD).is_some() {
        return Ok(None);
    }
    // Itself, from its own image: the file at its path may have been rebuilt
    // since it started (and then `current_exe` names a deleted file).
    let exe = std::env::current_exe()?;
    let image = Path::new("/proc/self/exe");
    let mut cmd = Command::new(if image.exists() { image } else { &exe });
    cmd.arg0(&exe)
        .args(std::env::args_os().skip(1))
        .env("RAYON_NUM_THREADS", &want)
        .env(GUARD, "1");
    if !tunables_set {
        cmd.env("GLIBC_TUNABLES", MALLOC_TUNABLES);
    }
    let status = cmd.status()?;
    if let Some(sig) = status.signal().and_then(|s| Signal::try_from(s).ok()) {
        // Killed by a signal: die of the same one, so whoever started us sees
        // what happened (a kill -9 is retried, a crash is not). The stop signals
        // are blocked in workers; a blocked one would only be left pending.
        let mut set = SigSet::empty();
        set.add(sig);
        let _ = set.thread_unblock();
        let _ = nix::sys::signal::raise(sig);
    }
    Ok(Some(match status.code() {
        Some(c) => ExitCode::from(u8::try_from(c).unwrap_or(1)),
        None => ExitCode::from(crate::exit::FAILURE),
    }))
}

/// [`ablate_train::pool::install`], its error as the binary's.
pub fn on_pool<R: Send>(f: impl FnOnce() -> R + Send) -> anyhow::Result<R> {
    Ok(ablate_train::pool::install(f)?)
}
