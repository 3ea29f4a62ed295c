//! `ablate run` and `ablate status` with the fake worker: slots, dependencies,
//! retries, timeouts, blocking, crashes of the orchestrator itself, live readers.

use std::collections::HashMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{ablate_env as ablate, stderr, stdout};

const FAKE: &str = env!("CARGO_BIN_EXE_ablate-fake-worker");
const ABLATE: &str = env!("CARGO_BIN_EXE_ablate");

/// 2 pretraining trials and 14 training trials (4 of them wait on pretraining).
fn sweep(dir: &Path) {
    let text = format!(
        "[sweep]\nname = \"s\"\nseeds = 2\noutput = \"out\"\n[worker]\ncommand = [\"{FAKE}\"]\n[data.faces]\nkind = \"synthetic-faces\"\n[train]\nthreads = 1\n[pretrain.face]\ntask = \"identity\"\ndata = \"faces\"\n\
         [[study]]\nname = \"depth\"\nfixed.tasks = [\"gender\"]\ngrid.depth = [\"vgg7\", \"vgg9\", \"vgg11\"]\n\
         [[study]]\nname = \"pre\"\nfixed = {{ tasks = [\"gender\"], depth = \"vgg13\" }}\ngrid.pretrain = [\"none\", \"face\"]\ngrid.lr = [0.01, 0.02]\n"
    );
    std::fs::write(dir.join("s.toml"), text).unwrap();
}

fn status(dir: &Path) -> serde_json::Value {
    let out = ablate(dir, &["status", "s.toml", "--json"], &[]);
    assert!(out.status.success(), "status: {}", stderr(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn tally(dir: &Path) -> (Vec<ablate_store::AttemptTally>, String) {
    let rt = runtime();
    rt.block_on(async {
        let store = ablate_store::Store::open_read_only(&dir.join("out/ablate.db"))
            .await
            .unwrap();
        let t = store.attempt_tally().await.unwrap();
        let check = store.integrity_check().await.unwrap();
        store.close().await;
        (t, check)
    })
}

/// A runtime for the store's async API.
pub(crate) fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Every trial of sweep `s` with its result, from `<dir>/out/ablate.db`.
pub(crate) fn results(dir: &Path) -> Vec<ablate_store::ResultRow> {
    runtime().block_on(async {
        let store = ablate_store::Store::open_read_only(&dir.join("out/ablate.db"))
            .await
            .unwrap();
        let rows = store.results("s").await.unwrap();
        store.close().await;
        rows
    })
}

fn plan(dir: &Path) -> serde_json::Value {
    serde_json::from_slice(&ablate(dir, &["plan", "--json", "s.toml"], &[]).stdout).unwrap()
}

#[test]
fn every_trial_runs_once_in_dependency_order_one_per_slot() {
    let dir = tempfile::tempdir().unwrap();
    sweep(dir.path());
    let log = dir.path().join("fake.log");
    let out = ablate(
        dir.path(),
        &["run", "s.toml", "--cpu-slots", "3"],
        &[("FAKE_LOG", log.to_str().unwrap()), ("FAKE_EPOCH_MS", "30")],
    );
    assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
    assert!(
        stdout(&out).contains("16 trials; 16 succeeded now"),
        "{}",
        stdout(&out)
    );
    let s = status(dir.path());
    assert_eq!(s["counts"]["succeeded"], 16);

    // (start, end) per trial and slot from the fake worker's log.
    let text = std::fs::read_to_string(&log).unwrap();
    let mut spans: HashMap<String, (String, u128, u128)> = HashMap::new();
    for l in text.lines() {
        let f: Vec<&str> = l.split(' ').collect();
        let e = spans
            .entry(f[2].to_string())
            .or_insert((f[1].to_string(), 0, 0));
        let t: u128 = f[3].parse().unwrap();
        if f[0] == "start" { e.1 = t } else { e.2 = t }
    }
    assert_eq!(spans.len(), 16);
    let mut by_slot: HashMap<&str, Vec<(u128, u128)>> = HashMap::new();
    for (slot, a, b) in spans.values() {
        by_slot.entry(slot).or_default().push((*a, *b));
    }
    assert!(by_slot.len() <= 3, "{by_slot:?}");
    for (slot, mut v) in by_slot {
        v.sort_unstable();
        for w in v.windows(2) {
            assert!(
                w[0].1 <= w[1].0,
                "slot {slot} ran two trials at once: {w:?}"
            );
        }
    }
    for t in plan(dir.path())["trials"].as_array().unwrap() {
        for d in t["depends_on"].as_array().unwrap() {
            let (start, dep_end) = (
                spans[t["id"].as_str().unwrap()].1,
                spans[d.as_str().unwrap()].2,
            );
            assert!(
                dep_end <= start,
                "a fine-tune started before its pretraining trial ended"
            );
        }
    }

    // Resume: nothing left to do, nothing runs twice.
    let again = ablate(
        dir.path(),
        &["run", "s.toml"],
        &[("FAKE_LOG", log.to_str().unwrap())],
    );
    assert!(
        stdout(&again).contains("0 succeeded now, 16 had succeeded before"),
        "{}",
        stdout(&again)
    );
    assert_eq!(std::fs::read_to_string(&log).unwrap().lines().count(), 32);
}

#[test]
fn failures_are_retried_by_class_and_block_dependants() {
    let dir = tempfile::tempdir().unwrap();
    sweep(dir.path());
    let env = [
        ("FAKE_FAIL_ONCE", "depth=vgg7:5"),
        ("FAKE_FAIL", "depth=vgg9:4,stage=face:3"),
        ("FAKE_CRASH", "depth=vgg11"),
    ];
    let out = ablate(
        dir.path(),
        &[
            "run",
            "s.toml",
            "--cpu-slots",
            "4",
            "--max-attempts",
            "2",
            "--retry-backoff",
            "0.05",
        ],
        &env,
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}\n{}",
        stdout(&out),
        stderr(&out)
    );
    let s = status(dir.path());
    let failed: HashMap<String, (u64, String)> = s["failed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["labels"]["depth"].as_str().unwrap().to_string()
                    + t["labels"].get("stage").map_or("", |_| "+face"),
                (
                    t["attempts"].as_u64().unwrap(),
                    t["reason"].as_str().unwrap_or("").to_string(),
                ),
            )
        })
        .collect();
    // out-of-memory once: retried and then fine; NaN loss and bad config: never retried;
    // killed by a signal: retried up to --max-attempts.
    assert!(!failed.contains_key("vgg7"), "{failed:?}");
    assert_eq!(failed["vgg9"].0, 1, "nan-loss is not retried: {failed:?}");
    assert_eq!(failed["vgg11"].0, 2, "a crash is retried: {failed:?}");
    assert!(failed["vgg11"].1.contains("signal"), "{failed:?}");
    assert_eq!(failed["vgg13+face"].0, 1, "{failed:?}");
    let blocked = s["blocked"].as_array().unwrap();
    assert_eq!(
        blocked.len(),
        4,
        "the fine-tunes of the failed pretraining trials"
    );
    assert!(
        blocked.iter().all(|t| t["reason"]
            .as_str()
            .unwrap()
            .contains("failed (bad-config)")),
        "{blocked:?}"
    );
    assert_eq!(
        s["counts"]["succeeded"],
        2 + 4,
        "vgg7 x 2 seeds and the from-scratch vgg13 trials"
    );
}

#[test]
fn a_silent_worker_is_killed_as_hung() {
    let dir = tempfile::tempdir().unwrap();
    sweep(dir.path());
    let t = Instant::now();
    let out = ablate(
        dir.path(),
        &[
            "run",
            "s.toml",
            "--only",
            "depth",
            "--cpu-slots",
            "6",
            "--heartbeat-timeout",
            "0.5",
        ],
        &[("FAKE_HANG", "depth=vgg7")],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(t.elapsed() < Duration::from_secs(20));
    let s = status(dir.path());
    assert_eq!(s["failed"].as_array().unwrap().len(), 2);
    assert!(
        s["failed"][0]["reason"].as_str().unwrap().contains("hung"),
        "{s}"
    );
}

#[test]
fn kill_9_of_the_orchestrator_never_loses_or_duplicates_work() {
    let dir = tempfile::tempdir().unwrap();
    sweep(dir.path());
    let env = [("FAKE_EPOCH_MS", "60"), ("FAKE_EPOCHS", "2")];
    let mut rng = 0x2545_f491_4f6c_dd1du64;
    for round in 0..10 {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let mut child = Command::new(ABLATE)
            .args(["run", "s.toml", "--cpu-slots", "3"])
            .current_dir(dir.path())
            .envs(env)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(80 + rng % 400));
        let _ = child.kill();
        let _ = child.wait();
        let (_, check) = tally(dir.path());
        assert_eq!(check, "ok", "round {round}");
    }
    let out = ablate(dir.path(), &["run", "s.toml", "--cpu-slots", "3"], &env);
    assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
    let (tally, check) = tally(dir.path());
    assert_eq!(check, "ok");
    assert_eq!(tally.len(), 16);
    for t in &tally {
        assert_eq!(t.succeeded, 1, "{t:?}");
        assert_eq!(t.running, 0, "{t:?}");
    }
    assert_eq!(status(dir.path())["counts"]["succeeded"], 16);
}

#[test]
fn status_reads_while_a_sweep_runs() {
    let dir = tempfile::tempdir().unwrap();
    sweep(dir.path());
    let mut run = Command::new(ABLATE)
        .args(["run", "s.toml", "--cpu-slots", "2"])
        .current_dir(dir.path())
        .env("FAKE_EPOCH_MS", "40")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut reads = 0;
    while run.try_wait().unwrap().is_none() {
        if dir.path().join("out/ablate.db").exists() {
            let out = ablate(dir.path(), &["status", "s.toml", "--json"], &[]);
            assert!(
                out.status.success(),
                "status failed during the run: {}",
                stderr(&out)
            );
            reads += 1;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(run.wait().unwrap().success());
    assert!(reads >= 5, "only {reads} reads happened during the run");
}

#[test]
fn ctrl_c_stops_promptly_and_a_rerun_finishes() {
    let dir = tempfile::tempdir().unwrap();
    sweep(dir.path());
    let mut run = Command::new(ABLATE)
        .args(["run", "s.toml", "--cpu-slots", "2", "--grace", "1"])
        .current_dir(dir.path())
        .env("FAKE_EPOCH_MS", "3000")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(700));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(run.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let t = Instant::now();
    let code = run.wait().unwrap().code();
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "took {:?} to stop",
        t.elapsed()
    );
    assert_eq!(code, Some(130));
    let (tally, _) = tally(dir.path());
    assert!(tally.iter().all(|t| t.running == 0));
    assert!(status(dir.path())["interrupted"].as_array().unwrap().len() >= 2);
    let out = ablate(
        dir.path(),
        &["run", "s.toml", "--cpu-slots", "4"],
        &[("FAKE_EPOCH_MS", "10")],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(status(dir.path())["counts"]["succeeded"], 16);
}

#[test]
fn a_script_worker_is_scheduled_and_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let script = "import json, os, sys\ninp = json.load(open(sys.argv[1]))\nos.makedirs(inp['run_dir'], exist_ok=True)\nprint(json.dumps({'event': 'started', 'trial': inp['id']}), flush=True)\nprint(json.dumps({'event': 'epoch', 'epoch': 1, 'train_loss': 0.5, 'val_score': 0.9}), flush=True)\nres = {'trial': inp['id'], 'test': {'gender': {'accuracy': 0.9}}, 'degenerate': None}\njson.dump(res, open(os.path.join(inp['run_dir'], 'result.json'), 'w'))\nprint(json.dumps({'event': 'finished', 'result': res}), flush=True)\n";
    std::fs::write(dir.path().join("train.py"), script).unwrap();
    let text = "[sweep]\nname = \"s\"\noutput = \"out\"\n[worker]\ncommand = [\"python3\", \"train.py\"]\n[data.faces]\nkind = \"synthetic-faces\"\n[[study]]\nname = \"d\"\nfixed.tasks = [\"gender\"]\ngrid.depth = [\"vgg7\", \"vgg9\"]\n";
    std::fs::write(dir.path().join("s.toml"), text).unwrap();
    let out = ablate(dir.path(), &["run", "s.toml", "--cpu-slots", "2"], &[]);
    if String::from_utf8_lossy(&out.stderr).contains("cannot start \"python3\"") {
        eprintln!("skipped: python3 is not installed");
        return;
    }
    assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
    assert_eq!(status(dir.path())["counts"]["succeeded"], 2);
}

/// The scheduling benchmark (run it with
/// `cargo test --release -p ablate --test e2e bench_scheduling -- --ignored --nocapture`):
/// 500 trials of a worker that does nothing, on 8 slots.
#[test]
#[ignore = "a benchmark: prints trials/s and the makespan over the ideal"]
fn bench_scheduling_overhead() {
    let dir = tempfile::tempdir().unwrap();
    let lrs: Vec<String> = (1..=500)
        .map(|i| format!("{}", f64::from(i) * 1e-4))
        .collect();
    let text = format!(
        "[sweep]\nname = \"s\"\noutput = \"out\"\n[worker]\ncommand = [\"{FAKE}\"]\n[data.faces]\nkind = \"synthetic-faces\"\n[[study]]\nname = \"b\"\nfixed = {{ tasks = [\"gender\"], depth = \"vgg7\" }}\ngrid.lr = [{}]\n",
        lrs.join(", ")
    );
    std::fs::write(dir.path().join("s.toml"), text).unwrap();
    for (epochs, ms) in [("0", "0"), ("1", "50")] {
        let out_dir = dir.path().join("out");
        let _ = std::fs::remove_dir_all(&out_dir);
        let log = dir.path().join(format!("fake-{ms}.log"));
        let t = Instant::now();
        let out = ablate(
            dir.path(),
            &["run", "s.toml", "--cpu-slots", "8"],
            &[
                ("FAKE_EPOCHS", epochs),
                ("FAKE_EPOCH_MS", ms),
                ("FAKE_LOG", log.to_str().unwrap()),
            ],
        );
        let wall = t.elapsed().as_secs_f64();
        assert!(out.status.success(), "{}", stderr(&out));
        let mut starts: HashMap<String, u128> = HashMap::new();
        let mut busy = 0u128;
        for l in std::fs::read_to_string(&log).unwrap().lines() {
            let f: Vec<&str> = l.split(' ').collect();
            let time: u128 = f[3].parse().unwrap();
            if f[0] == "start" {
                starts.insert(f[2].to_string(), time);
            } else {
                busy += time - starts[f[2]];
            }
        }
        let ideal = busy as f64 / 1e9 / 8.0;
        println!(
            "scheduling: 500 trials of {ms} ms on 8 slots: {wall:.2} s wall = {:.0} trials/s; ideal makespan (worker busy time / 8) {ideal:.2} s; makespan / ideal = {:.2}",
            500.0 / wall,
            wall / ideal.max(1e-9)
        );
    }
}

#[test]
fn the_real_worker_runs_a_small_sweep_with_pretraining() {
    let dir = tempfile::tempdir().unwrap();
    let text = "[sweep]\nname = \"s\"\noutput = \"out\"\n[data.faces]\nkind = \"synthetic-faces\"\nidentities = 24\nimages_per_identity = 5\n[train]\ninput_size = 32\nepochs = 2\nbatch_size = 16\nthreads = 1\n[pretrain.face]\ntask = \"identity\"\ndata = \"faces\"\n[[study]]\nname = \"p\"\nfixed = { depth = \"vgg7\", width = 0.125, encoding = \"ldae\" }\ngrid.pretrain = [\"none\", \"face\"]\ngrid.tasks = [[\"gender\"], [\"age\"]]\n";
    std::fs::write(dir.path().join("s.toml"), text).unwrap();
    let out = ablate(dir.path(), &["run", "s.toml", "--cpu-slots", "2"], &[]);
    assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
    let rows = results(dir.path());
    assert_eq!(rows.len(), 5, "1 pretraining + 4 training trials");
    for r in &rows {
        assert_eq!(r.state, "succeeded", "{}", r.id);
        let result = r.result.as_ref().unwrap();
        assert!(
            result["test"].is_object() && result["best_epoch"].is_number(),
            "{result}"
        );
        assert_eq!(r.epochs.len(), 2, "both epochs recorded");
        assert!(
            dir.path()
                .join("out/trials")
                .join(&r.id[..12])
                .join("checkpoint.safetensors")
                .is_file()
        );
    }
    let age = rows
        .iter()
        .find(|r| r.labels["tasks"] == "age" && r.labels["pretrain"] == "face")
        .unwrap();
    assert!(age.result.as_ref().unwrap()["test"]["age"]["argmax"]["mae"].is_number());
    // The stage shares the studies' dataset: it sees only their training people.
    let images = |r: &ablate_store::ResultRow| r.result.as_ref().unwrap()["images"].clone();
    let stage = rows.iter().find(|r| r.labels["stage"].is_string()).unwrap();
    let total = |v: serde_json::Value| {
        ["train", "val", "test"]
            .map(|k| v[k].as_u64().unwrap())
            .iter()
            .sum::<u64>()
    };
    assert_eq!(
        total(images(stage)),
        images(age)["train"].as_u64().unwrap(),
        "{}",
        images(stage)
    );
    assert!(total(images(stage)) < 120);
    // Each attempt's peak private memory, from its worker's `memory` events.
    let attempts = runtime().block_on(async {
        let store = ablate_store::Store::open_read_only(&dir.path().join("out/ablate.db"))
            .await
            .unwrap();
        let rows = store.attempts("s").await.unwrap();
        store.close().await;
        rows
    });
    assert_eq!(attempts.len(), 5);
    for a in &attempts {
        let peak = a.peak_host_bytes.unwrap_or(0);
        assert!(peak > 10 << 20, "{}: peak {peak} bytes", a.trial_id);
    }
    let report = std::fs::read_to_string(dir.path().join("reports/s/report.md")).unwrap();
    assert!(
        report.contains("- peak host memory (private): ")
            && report.contains("the largest of 5 attempts' peaks"),
        "{report}"
    );
}

#[test]
fn gpu_slots_pin_one_gpu_each_and_flags_do_what_they_say() {
    let dir = tempfile::tempdir().unwrap();
    sweep(dir.path());
    let text = std::fs::read_to_string(dir.path().join("s.toml"))
        .unwrap()
        .replace("threads = 1", "threads = 1\ndevice = \"cuda\"");
    std::fs::write(dir.path().join("s.toml"), text).unwrap();

    let dry = ablate(
        dir.path(),
        &["run", "s.toml", "--gpus", "0,1", "--dry-run"],
        &[],
    );
    assert!(
        stdout(&dry).contains("dry run: 16 of 16 trials would run"),
        "{}",
        stdout(&dry)
    );
    assert!(!dir.path().join("fake.log").exists());

    let log = dir.path().join("fake.log");
    let out = ablate(
        dir.path(),
        &[
            "run",
            "s.toml",
            "--gpus",
            "0,1",
            "--slots-per-gpu",
            "2",
            "--only",
            "depth",
        ],
        &[
            ("FAKE_LOG", log.to_str().unwrap()),
            ("FAKE_FAIL", "depth=vgg9:4"),
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let text = std::fs::read_to_string(&log).unwrap();
    for l in text.lines() {
        let f: Vec<&str> = l.split(' ').collect();
        let gpu = f[1]
            .strip_prefix("gpu")
            .and_then(|s| s.split('.').next())
            .unwrap();
        assert_eq!(
            f[4],
            format!("gpu={gpu}"),
            "slot {} sees only its GPU: {l}",
            f[1]
        );
    }
    assert_eq!(
        text.lines().filter(|l| l.starts_with("start")).count(),
        6,
        "--only depth runs the depth study only"
    );

    // A plain rerun leaves the deterministic failures alone; --rerun-failed tries them again.
    let again = ablate(
        dir.path(),
        &["run", "s.toml", "--gpus", "0,1", "--only", "depth"],
        &[("FAKE_LOG", log.to_str().unwrap())],
    );
    assert!(
        stdout(&again).contains("0 succeeded now"),
        "{}",
        stdout(&again)
    );
    let rerun = ablate(
        dir.path(),
        &[
            "run",
            "s.toml",
            "--gpus",
            "0,1",
            "--only",
            "depth",
            "--rerun-failed",
        ],
        &[("FAKE_LOG", log.to_str().unwrap())],
    );
    assert!(rerun.status.success(), "{}", stderr(&rerun));
    assert!(
        stdout(&rerun).contains("2 succeeded now"),
        "{}",
        stdout(&rerun)
    );
}

/// A worker may print more than the protocol on stdout: such lines are shown with
/// the trial they came from (a few per attempt), and never stop the trial.
#[test]
fn lines_that_are_not_events_are_shown_with_their_trial() {
    let dir = tempfile::tempdir().unwrap();
    let script = format!(
        "#!/bin/sh\nfor i in 1 2 3 4 5; do echo \"loading shard $i\"; done\necho '{{\"event\": \"sing\"}}'\nexec {FAKE} \"$@\"\n"
    );
    let path = dir.path().join("chatty.sh");
    std::fs::write(&path, script).unwrap();
    let text = "[sweep]\nname = \"s\"\noutput = \"out\"\n[worker]\ncommand = [\"sh\", \"chatty.sh\"]\n[data.faces]\nkind = \"synthetic-faces\"\n[[study]]\nname = \"d\"\nfixed.tasks = [\"gender\"]\ngrid.depth = [\"vgg7\"]\n";
    std::fs::write(dir.path().join("s.toml"), text).unwrap();
    let out = ablate(dir.path(), &["run", "s.toml", "--cpu-slots", "1"], &[]);
    assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
    assert_eq!(status(dir.path())["counts"]["succeeded"], 1);
    let text = format!("{}{}", stdout(&out), stderr(&out));
    let id = plan(dir.path())["trials"][0]["id"].as_str().unwrap()[..12].to_string();
    let notes: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("not a protocol event"))
        .collect();
    assert_eq!(notes.len(), 3, "the first 3 of 6 are shown:\n{text}");
    assert!(notes.iter().all(|l| l.contains(&id)), "{notes:?}");
    assert!(notes[0].contains("loading shard 1"), "{notes:?}");
    assert!(
        notes[2].contains("further ones of this attempt are not shown"),
        "{notes:?}"
    );
}

/// After a kill -9, recovery kills a leftover worker only if its command line names
/// this trial's own file: a process whose pid the database holds but which runs
/// another sweep's worker of the same trial (pids are reused) must survive.
#[test]
fn recovery_kills_only_the_workers_of_this_sweeps_trial_files() {
    use std::os::unix::process::CommandExt;
    let dir = tempfile::tempdir().unwrap();
    sweep(dir.path());
    let log = dir.path().join("fake.log");
    let mut child = Command::new(ABLATE)
        .args(["run", "s.toml", "--cpu-slots", "2"])
        .current_dir(dir.path())
        .envs([
            ("FAKE_LOG", log.to_str().unwrap()),
            ("FAKE_EPOCH_MS", "1500"),
            ("FAKE_EPOCHS", "1"),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    while std::fs::read_to_string(&log).map_or(0, |l| l.matches("start").count()) < 2 {
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "no two workers started"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let rt = runtime();
    let open = rt.block_on(async {
        let store = ablate_store::Store::open(&dir.path().join("out/ablate.db"))
            .await
            .unwrap();
        let open = store.running_attempts().await.unwrap();
        store.close().await;
        open
    });
    assert_eq!(open.len(), 2, "{open:?}");
    // Stand-ins in their own process groups, as workers are: one names the trial's
    // file in this sweep, the other the same trial's file in another sweep's folder.
    let stand_in = |file: &Path| {
        Command::new("sh")
            .args(["-c", "sleep 60", "worker"])
            .arg(file)
            .process_group(0)
            .spawn()
            .unwrap()
    };
    let short = &open[0].trial_id[..12];
    let elsewhere = dir
        .path()
        .join("other/out/trials")
        .join(short)
        .join("trial.json");
    let mut decoy = stand_in(&elsewhere);
    let ours_file = dir
        .path()
        .join("out/trials")
        .join(&open[1].trial_id[..12])
        .join("trial.json");
    let mut ours = stand_in(&ours_file);
    rt.block_on(async {
        let store = ablate_store::Store::open(&dir.path().join("out/ablate.db"))
            .await
            .unwrap();
        store.set_attempt_pid(open[0].id, decoy.id()).await.unwrap();
        store.set_attempt_pid(open[1].id, ours.id()).await.unwrap();
        store.close().await;
    });
    let out = ablate(
        dir.path(),
        &["run", "s.toml", "--cpu-slots", "2"],
        &[("FAKE_EPOCH_MS", "5")],
    );
    assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
    assert_eq!(status(dir.path())["counts"]["succeeded"], 16);
    let ours_gone = (0..50).any(|_| {
        std::thread::sleep(Duration::from_millis(20));
        ours.try_wait().unwrap().is_some()
    });
    assert!(
        ours_gone,
        "the leftover worker of this sweep's trial file was not killed"
    );
    assert!(
        decoy.try_wait().unwrap().is_none(),
        "another sweep's worker was killed"
    );
    let _ = decoy.kill();
    let _ = decoy.wait();
}

/// A success is one transaction: an orchestrator that dies between writing a
/// result and closing its attempt leaves no result behind, and the rerun records
/// every trial once.
#[test]
fn a_crash_in_the_middle_of_recording_a_success_leaves_nothing_half_written() {
    let dir = tempfile::tempdir().unwrap();
    sweep(dir.path());
    let out = ablate(
        dir.path(),
        &["run", "s.toml", "--cpu-slots", "1"],
        &[
            (ablate_store::FAULT_ENV, "mid-success"),
            ("FAKE_EPOCH_MS", "5"),
        ],
    );
    assert!(
        !out.status.success(),
        "the fault point aborts the orchestrator"
    );
    let rows = results(dir.path());
    assert!(
        rows.iter()
            .all(|r| r.result.is_none() && r.state != "succeeded"),
        "nothing recorded as a success: {:?}",
        rows.iter()
            .map(|r| (&r.state, r.result.is_some()))
            .collect::<Vec<_>>()
    );
    let (_, check) = tally(dir.path());
    assert_eq!(check, "ok");
    let out = ablate(
        dir.path(),
        &["run", "s.toml", "--cpu-slots", "2"],
        &[("FAKE_EPOCH_MS", "5")],
    );
    assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
    let rows = results(dir.path());
    assert_eq!(rows.len(), 16);
    assert!(
        rows.iter()
            .all(|r| r.state == "succeeded" && r.result.is_some())
    );
}

/// A retry never overwrites what an earlier attempt left: worker.log keeps every
/// attempt's stderr, each under its own header, and the first attempt's trial file
/// and metrics are kept under attempts/<its id>/.
#[test]
fn worker_log_keeps_every_attempts_stderr() {
    let dir = tempfile::tempdir().unwrap();
    let script = format!("#!/bin/sh\necho \"stderr of pid $$\" >&2\nexec {FAKE} \"$@\"\n");
    std::fs::write(dir.path().join("noisy.sh"), script).unwrap();
    let text = "[sweep]\nname = \"s\"\noutput = \"out\"\n[worker]\ncommand = [\"sh\", \"noisy.sh\"]\n[data.faces]\nkind = \"synthetic-faces\"\n[[study]]\nname = \"d\"\nfixed.tasks = [\"gender\"]\ngrid.depth = [\"vgg7\"]\n";
    std::fs::write(dir.path().join("s.toml"), text).unwrap();
    // Out of memory (5) on the first attempt: retried.
    let out = ablate(
        dir.path(),
        &[
            "run",
            "s.toml",
            "--cpu-slots",
            "1",
            "--retry-backoff",
            "0.05",
        ],
        &[("FAKE_FAIL_ONCE", "depth=vgg7:5")],
    );
    assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
    let id = plan(dir.path())["trials"][0]["id"].as_str().unwrap()[..12].to_string();
    let log = std::fs::read_to_string(dir.path().join("out/trials").join(&id).join("worker.log"))
        .unwrap();
    assert_eq!(log.matches("--- attempt ").count(), 2, "{log}");
    assert_eq!(log.matches("stderr of pid").count(), 2, "{log}");
    let run = dir.path().join("out/trials").join(&id);
    let kept: Vec<_> = std::fs::read_dir(run.join("attempts")).unwrap().collect();
    assert_eq!(kept.len(), 1, "one earlier attempt");
    let first = kept[0].as_ref().unwrap().path();
    let read = |p: std::path::PathBuf| {
        std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
    };
    assert_eq!(read(first.join("metrics.jsonl")).trim(), "{\"attempt\": 1}");
    assert_eq!(read(run.join("metrics.jsonl")).trim(), "{\"attempt\": 2}");
    assert!(first.join("trial.json").is_file() && run.join("trial.json").is_file());
    assert!(
        !first.join("result.json").exists(),
        "the first attempt failed"
    );
}
