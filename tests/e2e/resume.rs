//! Resuming inside a trial through the real binary: a worker killed with -9, a
//! sweep stopped with Ctrl-C, and a trial past `--trial-timeout` all continue
//! from the trial's saved state, and end with exactly the result of a run never
//! interrupted (CPU, one thread).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::run::results;
use crate::support::{ablate_env as ablate, stderr, stdout};

const ABLATE: &str = env!("CARGO_BIN_EXE_ablate");

/// One trial of 30 short epochs, a state every few steps.
fn sweep(dir: &Path) {
    sweep_of(dir, 30);
}

pub(crate) fn sweep_of(dir: &Path, epochs: u32) {
    let text = format!(
        "[sweep]\nname = \"s\"\noutput = \"out\"\n[data.faces]\nkind = \"synthetic-faces\"\nidentities = 24\nimages_per_identity = 5\n\
                [train]\ninput_size = 32\nepochs = {epochs}\nbatch_size = 8\nthreads = 1\ncheckpoint_minutes = 0.0002\n\
                [[study]]\nname = \"s\"\nfixed = {{ depth = \"vgg7\", width = 0.125, encoding = \"ldae\" }}\ngrid.tasks = [[\"gender\", \"age\"]]\n"
    );
    std::fs::write(dir.join("r.toml"), text).unwrap();
}

pub(crate) fn trial_dir(dir: &Path) -> PathBuf {
    let trials = dir.join("out/trials");
    let mut found = std::fs::read_dir(&trials).unwrap();
    found.next().unwrap().unwrap().path()
}

/// The uninterrupted run's result (test metrics, best epochs), computed once.
fn reference() -> &'static serde_json::Value {
    static REF: std::sync::OnceLock<serde_json::Value> = std::sync::OnceLock::new();
    REF.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        sweep(dir.path());
        let out = ablate(dir.path(), &["run", "r.toml"], &[]);
        assert!(out.status.success(), "{}", stderr(&out));
        outcome(dir.path())
    })
}

pub(crate) fn outcome(dir: &Path) -> serde_json::Value {
    let rows = results(dir);
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].state, "succeeded", "{rows:?}");
    let r = rows[0].result.clone().unwrap();
    serde_json::json!({ "test": r["test"], "best_epoch": r["best_epoch"], "task_epochs": r["task_epochs"] })
}

/// Starts `ablate run` and waits until its trial has written a state after two
/// epochs. The
/// caller waits for the child it returns.
#[allow(clippy::zombie_processes)]
fn start_until_a_state(dir: &Path, args: &[&str]) -> std::process::Child {
    let mut child = Command::new(ABLATE)
        .args(["run", "r.toml"])
        .args(args)
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    loop {
        let state = dir.join("out/trials");
        // A state, and two epochs done: the next attempt resumes past them.
        let written = std::fs::read_dir(&state).ok().is_some_and(|mut d| {
            d.next().and_then(Result::ok).is_some_and(|t| {
                t.path().join("state.safetensors").is_file()
                    && std::fs::read_to_string(t.path().join("metrics.jsonl"))
                        .is_ok_and(|m| m.lines().count() >= 2)
            })
        });
        if written {
            return child;
        }
        if t0.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!("no state written: {}", String::from_utf8_lossy(&out.stderr));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Processes whose command line runs `ablate worker` on a file under `dir`.
fn workers_of(dir: &Path) -> Vec<i32> {
    let needle = dir.to_string_lossy().to_string();
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| {
                let c = String::from_utf8_lossy(&c);
                c.contains("worker") && c.contains(&needle)
            })
        })
        .collect()
}

#[test]
fn kill_9_of_the_worker_is_retried_and_resumes_to_the_uninterrupted_result() {
    let want = reference();
    let dir = tempfile::tempdir().unwrap();
    sweep(dir.path());
    let child = start_until_a_state(dir.path(), &["--retry-backoff", "0.2"]);
    let pids = workers_of(dir.path());
    assert!(!pids.is_empty());
    for pid in pids {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
    let out = child.wait_with_output().unwrap();
    let log = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "{log}");
    assert!(log.contains("retry"), "{log}");
    assert!(log.contains("resumed from state.safetensors"), "{log}");
    assert_eq!(&outcome(dir.path()), want);
    assert_eq!(
        results(dir.path())[0].epochs.len(),
        30,
        "the resumed attempt's record has every epoch"
    );
    assert!(
        !trial_dir(dir.path()).join("state.safetensors").exists(),
        "the state is deleted once the trial succeeds"
    );
}

#[test]
fn ctrl_c_saves_the_state_and_the_next_run_resumes_from_it() {
    let want = reference();
    let dir = tempfile::tempdir().unwrap();
    sweep(dir.path());
    let child = start_until_a_state(dir.path(), &[]);
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(130),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let log = std::fs::read_to_string(trial_dir(dir.path()).join("worker.log")).unwrap();
    assert!(log.contains("SIGTERM received"), "{log}");
    let out = ablate(dir.path(), &["run", "r.toml", "--keep-state"], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("resumed from state.safetensors"),
        "{}\n{}",
        stdout(&out),
        stderr(&out)
    );
    assert_eq!(&outcome(dir.path()), want);
    assert!(
        trial_dir(dir.path()).join("state.safetensors").is_file(),
        "--keep-state keeps it"
    );
}

#[test]
fn a_trial_past_its_timeout_resumes_in_the_next_attempt() {
    // 120 epochs: about 5 s on one core, where each attempt is killed after
    // 1.5 s, keeping what it saved, so the trial needs several attempts.
    let plain = tempfile::tempdir().unwrap();
    sweep_of(plain.path(), 120);
    let out = ablate(plain.path(), &["run", "r.toml"], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let want = &outcome(plain.path());
    let dir = tempfile::tempdir().unwrap();
    sweep_of(dir.path(), 120);
    let out = ablate(
        dir.path(),
        &[
            "run",
            "r.toml",
            "--trial-timeout",
            "1.5",
            "--max-attempts",
            "40",
            "--retry-backoff",
            "0.1",
        ],
        &[],
    );
    let log = stderr(&out);
    assert!(out.status.success(), "{log}");
    assert!(log.contains("resuming from its state"), "{log}");
    assert_eq!(&outcome(dir.path()), want);
}
