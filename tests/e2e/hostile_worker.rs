//! Whatever a user's `[worker] command` does, it cannot hurt the sweep: a
//! result it earned is kept, a success always has a valid result behind it,
//! and Ctrl-C always stops `ablate run`. A Python stand-in worker misbehaves on
//! request (`MODE`), as real training scripts do: a data loader left holding
//! stdout, a daemon in its own session, bytes that are not UTF-8, a 200 MB line,
//! results that are not results.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::run::runtime;
use crate::support::{ablate_env as ablate, stderr, stdout};

const ABLATE: &str = env!("CARGO_BIN_EXE_ablate");

/// The stand-in: one `MODE` per depth (`MODES`, as `depth=mode,...`), or `MODE`.
const WORKER: &str = r#"
import json, os, subprocess, sys, time
inp = json.load(open(sys.argv[1]))
tid = inp["id"]
os.makedirs(inp["run_dir"], exist_ok=True)
modes = dict(m.split("=") for m in os.environ.get("MODES", "").split(",") if m)
mode = modes.get(inp["labels"]["depth"], os.environ.get("MODE", "ok"))
def emit(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()
def note(name, text):
    with open(os.path.join(os.environ["NOTES"], name), "w") as f:
        f.write(str(text))
good = {"trial": tid, "test": {"gender": {"accuracy": 0.75}}, "degenerate": None}
emit({"event": "started", "trial": tid})
if mode == "grandchild":
    # A loader that inherits stdout and outlives the worker by 30 s.
    note("grandchild", subprocess.Popen(["sleep", "30"]).pid)
elif mode == "daemon":
    # Its own session, deaf to SIGTERM, holding stdout; the worker then trains on.
    code = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)"
    note("daemon", subprocess.Popen([sys.executable, "-c", code], start_new_session=True).pid)
    emit({"event": "heartbeat", "loss": 1.0})
    time.sleep(60)
elif mode == "utf8":
    sys.stdout.buffer.write(b"loading \xff\xfe shard 1\n")
    sys.stdout.buffer.flush()
elif mode == "huge":
    chunk = b"x" * (1 << 20)
    for _ in range(200):
        sys.stdout.buffer.write(chunk)
    sys.stdout.buffer.write(b"\n")
    sys.stdout.buffer.flush()
    time.sleep(1.0)
    status = open("/proc/%d/status" % os.getppid()).read()
    note("hwm", [l for l in status.splitlines() if l.startswith("VmHWM")][0].split()[1])
elif mode == "no-result":
    emit({"event": "finished"})
    sys.exit(0)
elif mode == "string-result":
    emit({"event": "finished", "result": "hello"})
    sys.exit(0)
elif mode == "other-trial":
    good["trial"] = "0" * 64
elif mode == "bad-accuracy":
    good["test"]["gender"]["accuracy"] = 75
elif mode == "nan":
    good["test"]["gender"]["accuracy"] = float("nan")
elif mode == "not-degenerate":
    good["degenerate"] = False
emit({"event": "finished", "result": good})
"#;

/// A sweep of `depths` (one trial each) whose worker is the stand-in.
fn setup(dir: &Path, depths: &[&str]) {
    std::fs::write(dir.join("w.py"), WORKER).unwrap();
    std::fs::create_dir_all(dir.join("notes")).unwrap();
    let grid: Vec<String> = depths.iter().map(|d| format!("\"{d}\"")).collect();
    let text = format!(
        "[sweep]\nname = \"s\"\noutput = \"out\"\n[worker]\ncommand = [\"python3\", \"w.py\"]\n[data.faces]\nkind = \"synthetic-faces\"\n[[study]]\nname = \"d\"\nfixed.tasks = [\"gender\"]\ngrid.depth = [{}]\n",
        grid.join(", ")
    );
    std::fs::write(dir.join("s.toml"), text).unwrap();
}

fn python() -> bool {
    let ok = Command::new("python3")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        eprintln!("skipped: python3 is not installed");
    }
    ok
}

/// `ablate ARGS` in `dir`, its stand-in workers in `mode`.
fn run_mode(dir: &Path, args: &[&str], mode: &str) -> std::process::Output {
    let notes = dir.join("notes");
    ablate(
        dir,
        args,
        &[("MODE", mode), ("NOTES", notes.to_str().unwrap())],
    )
}

fn attempts(dir: &Path) -> Vec<ablate_store::AttemptRow> {
    runtime().block_on(async {
        let store = ablate_store::Store::open_read_only(&dir.join("out/ablate.db"))
            .await
            .unwrap();
        let a = store.attempts("s").await.unwrap();
        store.close().await;
        a
    })
}

fn note(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join("notes").join(name)).unwrap_or_default()
}

/// One trial run with its worker in `mode`: the folder, and everything
/// `ablate run` printed, after checking it succeeded.
fn run_one(mode: &str, extra: &[&str]) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    setup(dir.path(), &["vgg7"]);
    let args: Vec<&str> = ["run", "s.toml"].iter().chain(extra).copied().collect();
    let out = run_mode(dir.path(), &args, mode);
    let text = format!("{}{}", stdout(&out), stderr(&out));
    assert!(out.status.success(), "{mode}: {text}");
    (dir, text)
}

/// Whether process `pid` is gone (or a zombie nobody reaped yet).
fn gone(pid: &str) -> bool {
    std::fs::read_to_string(format!("/proc/{}/stat", pid.trim())).map_or(true, |s| {
        s.rsplit(')')
            .next()
            .is_some_and(|r| r.trim_start().starts_with('Z'))
    })
}

#[test]
fn a_loader_left_holding_stdout_neither_holds_the_trial_nor_costs_its_result() {
    if !python() {
        return;
    }
    let (dir, text) = run_one("grandchild", &["--heartbeat-timeout", "5"]);
    let d = dir.path();
    let a = attempts(d);
    assert_eq!(a.len(), 1, "{a:?}");
    assert_eq!(
        a[0].state,
        ablate_protocol::AttemptState::Succeeded,
        "{a:?}"
    );
    let pid = note(d, "grandchild");
    assert!(gone(&pid), "the loader (pid {pid}) outlived its worker");
    assert!(text.contains("leaving 1 process(es)"), "{text}");
}

#[test]
fn ctrl_c_stops_the_run_when_a_worker_left_a_daemon_in_its_own_session() {
    if !python() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    setup(d, &["vgg7"]);
    let mut run = Command::new(ABLATE)
        .args(["run", "s.toml", "--grace", "1"])
        .current_dir(d)
        .env("MODE", "daemon")
        .env("NOTES", d.join("notes"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let t = Instant::now();
    while note(d, "daemon").is_empty() && t.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(50));
    }
    let daemon = note(d, "daemon");
    assert!(!daemon.is_empty(), "the worker never started its daemon");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(run.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    // The daemon holds stdout for 60 s: stopping must not wait for it.
    let t = Instant::now();
    let code = loop {
        if let Some(s) = run.try_wait().unwrap() {
            break s.code();
        }
        if t.elapsed() > Duration::from_secs(30) {
            let _ = run.kill();
            panic!("`ablate run` did not stop within 30 s of Ctrl-C");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(code, Some(130));
    assert!(
        gone(&daemon),
        "the daemon (pid {daemon}) outlived its worker"
    );
}

#[test]
fn bytes_that_are_not_utf8_are_a_line_of_chatter_not_the_end_of_the_worker() {
    if !python() {
        return;
    }
    let (_dir, text) = run_one("utf8", &[]);
    assert!(text.contains("not valid UTF-8"), "{text}");
    assert!(text.contains("loading \u{fffd}\u{fffd} shard 1"), "{text}");
}

/// The orchestrator's peak memory while a worker prints a 200 MB line without
/// a break: the line is cut at --max-line-bytes as it arrives, never held.
#[test]
fn a_200_mb_line_is_cut_and_never_held_whole() {
    if !python() {
        return;
    }
    let (dir, text) = run_one("huge", &[]);
    assert!(text.contains("a line of 209715200 bytes"), "{text}");
    let hwm_kib: u64 = note(dir.path(), "hwm").trim().parse().unwrap();
    eprintln!(
        "orchestrator peak (VmHWM) with a 200 MB line: {} MiB",
        hwm_kib / 1024
    );
    assert!(
        hwm_kib < 100 * 1024,
        "the orchestrator peaked at {} MiB reading a 200 MiB line",
        hwm_kib / 1024
    );
}

#[test]
fn a_finished_event_counts_only_with_a_result_that_is_one() {
    if !python() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let cases = [
        ("vgg7", "no-result", "protocol", "no `result`"),
        ("vgg9", "string-result", "protocol", "the string \"hello\""),
        ("vgg11", "other-trial", "protocol", "another trial"),
        (
            "vgg13",
            "bad-accuracy",
            "protocol",
            "result.test.gender.accuracy is 75",
        ),
        (
            "vgg16",
            "nan",
            "nan-loss",
            "result.test.gender.accuracy (NaN)",
        ),
    ];
    let depths: Vec<&str> = cases.iter().map(|c| c.0).chain(["vgg19"]).collect();
    setup(d, &depths);
    let modes: Vec<String> = cases
        .iter()
        .map(|c| format!("{}={}", c.0, c.1))
        .chain(["vgg19=not-degenerate".to_string()])
        .collect();
    let modes = modes.join(",");
    let notes = d.join("notes");
    let out = ablate(
        d,
        &["run", "s.toml", "--cpu-slots", "2"],
        &[("MODES", &modes), ("NOTES", notes.to_str().unwrap())],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let plan: serde_json::Value =
        serde_json::from_slice(&ablate(d, &["plan", "--json", "s.toml"], &[]).stdout).unwrap();
    let id_of = |depth: &str| {
        plan["trials"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["labels"]["depth"] == depth)
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let a = attempts(d);
    for (depth, mode, class, says) in cases {
        let mine: Vec<_> = a.iter().filter(|x| x.trial_id == id_of(depth)).collect();
        assert_eq!(mine.len(), 1, "{mode}: not retried: {mine:?}");
        assert_eq!(
            mine[0].failure_class.as_deref(),
            Some(class),
            "{mode}: {mine:?}"
        );
        let m = mine[0].message.clone().unwrap_or_default();
        assert!(m.contains(says), "{mode}: {m}");
    }
    let rows = crate::run::results(d);
    let ok = rows.iter().find(|r| r.id == id_of("vgg19")).unwrap();
    assert_eq!(ok.state, ablate_protocol::TrialState::Succeeded);
    assert!(!ok.degenerate, "`degenerate: false` is not flagged");
    assert_eq!(
        rows.iter().filter(|r| r.result.is_some()).count(),
        1,
        "no success without a valid result"
    );
}
