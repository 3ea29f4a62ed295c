//! `ablate worker TRIAL.json`: runs exactly one trial and speaks the worker
//! protocol (docs/worker-protocol.md): JSON-lines events on stdout, files in the
//! run directory, an exit code per outcome. It knows nothing of SQLite or scheduling.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use ablate_train::protocol::{Event, FailureClass, TrialInput};
use nix::sys::signal::{SigSet, Signal};

fn emit(event: &Event) {
    let mut out = std::io::stdout().lock();
    if let Ok(line) = serde_json::to_string(event) {
        // A closed stdout (the orchestrator died) must not stop training mid-way.
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    }
}

fn fail(class: FailureClass, message: String) -> ExitCode {
    let code = class.exit_code();
    emit(&Event::Failed { class, message });
    ExitCode::from(code)
}

/// The signals that ask a worker to save its state and stop: SIGTERM (the
/// orchestrator stopping, Slurm's warning before a time limit or preemption),
/// SIGINT, SIGUSR1 (`sbatch --signal`).
fn stop_signals() -> SigSet {
    let mut set = SigSet::empty();
    for s in [Signal::SIGTERM, Signal::SIGINT, Signal::SIGUSR1] {
        set.add(s);
    }
    set
}

/// Blocked in every thread (they all start after this), these signals wait for
/// one thread, which asks the trial to stop at its next step. A re-exec's parent
/// keeps them blocked and so keeps waiting for its child, which inherits the
/// mask and handles them.
fn handle_stop_signals(set: SigSet) {
    std::thread::spawn(move || {
        while let Ok(sig) = set.wait() {
            eprintln!("note: {sig} received: saving the state after this step, then stopping");
            ablate_train::trainer::request_stop();
        }
    });
}

pub fn run(file: &Path) -> anyhow::Result<ExitCode> {
    let signals = stop_signals();
    signals.thread_block()?;
    let text = match std::fs::read_to_string(file) {
        Ok(t) => t,
        Err(e) => {
            return Ok(fail(
                FailureClass::Io,
                format!("cannot read {}: {e}", file.display()),
            ));
        }
    };
    let input: TrialInput = match serde_json::from_str(&text) {
        Ok(i) => i,
        Err(e) => {
            return Ok(fail(
                FailureClass::BadConfig,
                format!("{}: not a trial file: {e}", file.display()),
            ));
        }
    };
    // Before a re-exec, so that the whole chain exits when the orchestrator dies.
    watch_parent();
    if let Some(code) = crate::threads::ensure(input.exec.threads as usize)? {
        return Ok(code);
    }
    handle_stop_signals(signals);
    std::panic::set_hook(Box::new(|info| {
        emit(&Event::Failed {
            class: FailureClass::Internal,
            message: format!("panic: {info}"),
        });
    }));
    match crate::threads::on_pool(|| {
        ablate_train::trainer::run(&input, &mut emit, &mut |n| eprintln!("{n}"))
    })? {
        Ok(result) => {
            emit(&Event::Finished {
                result: Box::new(result),
            });
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => Ok(fail(e.class(), e.to_string())),
    }
}

/// Exits when the process that started us goes away (an orchestrator killed with
/// -9 cannot stop its workers), so no orphan keeps training and writing files.
fn watch_parent() {
    let parent = std::os::unix::process::parent_id();
    std::thread::spawn(move || {
        loop {
            std::thread::sleep(std::time::Duration::from_millis(500));
            if std::os::unix::process::parent_id() != parent {
                std::process::exit(i32::from(FailureClass::Internal.exit_code()));
            }
        }
    });
}
