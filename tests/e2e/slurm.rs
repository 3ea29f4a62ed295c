//! `--backend slurm` against a real Slurm (scripts/slurm-local.sh starts a
//! single-node cluster with two fake GPUs; .ci/run does). Without a cluster these
//! tests skip with a message, unless ABLATE_SLURM_REQUIRED is set (CI), where
//! they fail. They run one at a time: they share the cluster's two CPUs and GPUs.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::support::{ablate_env as ablate, stderr, stdout};

const FAKE: &str = env!("CARGO_BIN_EXE_ablate-fake-worker");
const ABLATE: &str = env!("CARGO_BIN_EXE_ablate");
static CLUSTER: Mutex<()> = Mutex::new(());

/// Whether a Slurm cluster answers; panics in CI when it does not.
fn slurm_up() -> bool {
    let up = Command::new("sinfo")
        .args(["-h", "-o", "%T"])
        .output()
        .is_ok_and(|o| o.status.success() && !o.stdout.is_empty());
    if !up {
        assert!(
            std::env::var_os("ABLATE_SLURM_REQUIRED").is_none(),
            "ABLATE_SLURM_REQUIRED is set but no Slurm cluster answers `sinfo`; start one with `bash scripts/slurm-local.sh start`"
        );
        eprintln!("skipped: no Slurm cluster (start one with `bash scripts/slurm-local.sh start`)");
    }
    up
}

/// `ablate run s.toml` on Slurm, polling fast, then `extra`.
pub(crate) fn run_args<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    let mut a = vec!["run", "s.toml", "--backend", "slurm", "--poll", "0.3"];
    a.extend_from_slice(extra);
    a
}

/// The cluster, one test at a time; None (skip) when no Slurm answers.
pub(crate) fn cluster() -> Option<std::sync::MutexGuard<'static, ()>> {
    let one = CLUSTER
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    slurm_up().then_some(one)
}

/// A sweep named `name` of fake-worker trials: one pretraining stage (`seeds`
/// seeds), a study of 3 depths from scratch and 1 depth x 2 pretrain settings.
fn sweep(dir: &Path, name: &str, seeds: u32, extra: &str) {
    let text = format!(
        "[sweep]\nname = \"{name}\"\nseeds = {seeds}\noutput = \"out\"\n[worker]\ncommand = [\"{FAKE}\"]\n[data.faces]\nkind = \"synthetic-faces\"\n[train]\nthreads = 1\n{extra}\n[pretrain.face]\ntask = \"identity\"\ndata = \"faces\"\n\
         [[study]]\nname = \"depth\"\nfixed.tasks = [\"gender\"]\ngrid.depth = [\"vgg7\", \"vgg9\", \"vgg11\"]\n\
         [[study]]\nname = \"pre\"\nfixed = {{ tasks = [\"gender\"], depth = \"vgg13\" }}\ngrid.pretrain = [\"none\", \"face\"]\n"
    );
    std::fs::write(dir.join("s.toml"), text).unwrap();
}

/// Every attempt of `sweep` in `<dir>/out/ablate.db`.
fn attempts(dir: &Path, sweep: &str) -> Vec<ablate_store::AttemptRow> {
    attempts_in(&dir.join("out/ablate.db"), sweep)
}

pub(crate) fn attempts_in(db: &Path, sweep: &str) -> Vec<ablate_store::AttemptRow> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let store = ablate_store::Store::open_read_only(db).await.unwrap();
        let a = store.attempts(sweep).await.unwrap();
        assert_eq!(store.integrity_check().await.unwrap(), "ok");
        store.close().await;
        a
    })
}

/// Job ids Slurm lists as queued or running under the sweep's job names.
fn queued(sweep: &str) -> Vec<String> {
    let out = Command::new("squeue")
        .args([
            "-h",
            "--me",
            "-t",
            "PENDING,RUNNING,CONFIGURING,COMPLETING",
            "-o",
            "%i|%j",
        ])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_once('|'))
        .filter(|(_, n)| n.starts_with(&format!("ablate-{sweep}-")))
        .map(|(i, _)| i.to_string())
        .collect()
}

/// `start`/`end` lines of the fake worker: trial -> [(start, end, gpu)].
fn spans(log: &Path) -> HashMap<String, Vec<(u128, u128, String)>> {
    let mut open: HashMap<String, (u128, String)> = HashMap::new();
    let mut done: HashMap<String, Vec<(u128, u128, String)>> = HashMap::new();
    for line in std::fs::read_to_string(log).unwrap_or_default().lines() {
        let f: Vec<&str> = line.split(' ').collect();
        let (trial, t, gpu) = (f[2].to_string(), f[3].parse::<u128>().unwrap(), f[4]);
        match f[0] {
            "start" => {
                open.insert(trial, (t, gpu.trim_start_matches("gpu=").to_string()));
            }
            _ => {
                let (s, g) = open.remove(&trial).expect("end without start");
                done.entry(trial).or_default().push((s, t, g));
            }
        }
    }
    done
}

#[test]
fn slurm_sweep_with_pretraining_pins_each_job_to_its_own_gpu() {
    let Some(_one) = cluster() else { return };
    let dir = tempfile::tempdir().unwrap();
    sweep(dir.path(), "pin", 2, "device = \"cuda\"");
    let log = dir.path().join("fake.log");
    // The submitting shell's own CUDA_VISIBLE_DEVICES must not reach the jobs.
    let out = ablate(
        dir.path(),
        &run_args(&["--max-queued", "4"]),
        &[
            ("FAKE_LOG", log.to_str().unwrap()),
            ("FAKE_EPOCH_MS", "150"),
            ("CUDA_VISIBLE_DEVICES", "7"),
        ],
    );
    assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
    assert!(
        stdout(&out).contains("12 trials; 12 succeeded now"),
        "{}",
        stdout(&out)
    );
    let spans = spans(&log);
    assert_eq!(spans.len(), 12, "every trial ran");
    let all: Vec<&(u128, u128, String)> = spans.values().flatten().collect();
    assert_eq!(all.len(), 12, "each trial ran once");
    for (s, e, g) in &all {
        assert!(g == "0" || g == "1", "a job saw CUDA_VISIBLE_DEVICES={g:?}");
        for (s2, e2, g2) in &all {
            let overlap = s < e2 && s2 < e && (s, e) != (s2, e2);
            assert!(!(overlap && g == g2), "two jobs on GPU {g} at once");
        }
    }
    // Fine-tunes from face pretraining start after their pretraining ended.
    let plan: serde_json::Value =
        serde_json::from_slice(&ablate(dir.path(), &["plan", "--json", "s.toml"], &[]).stdout)
            .unwrap();
    for t in plan["trials"].as_array().unwrap() {
        for d in t["depends_on"].as_array().unwrap() {
            let (start, _, _) = spans[t["id"].as_str().unwrap()][0];
            let (_, end, _) = spans[d.as_str().unwrap()][0];
            assert!(
                start >= end,
                "a dependant started before its pretraining ended"
            );
        }
    }
    let rows = attempts(dir.path(), "pin");
    assert_eq!(rows.len(), 12);
    assert!(
        rows.iter()
            .all(|r| r.backend == "slurm" && r.job_id.is_some() && r.state == "succeeded")
    );
    // Each attempt's events went to a file in its trial's run directory.
    let files = std::fs::read_dir(dir.path().join("out/trials"))
        .unwrap()
        .filter(|d| {
            std::fs::read_dir(d.as_ref().unwrap().path())
                .unwrap()
                .any(|f| {
                    f.unwrap()
                        .file_name()
                        .to_string_lossy()
                        .starts_with("events-a")
                })
        })
        .count();
    assert_eq!(files, 12);
    assert!(queued("pin").is_empty());
}

#[test]
fn real_workers_train_a_pretraining_sweep_through_slurm() {
    let Some(_one) = cluster() else { return };
    let dir = tempfile::tempdir().unwrap();
    let text = "[sweep]\nname = \"real\"\noutput = \"out\"\n[data.faces]\nkind = \"synthetic-faces\"\nidentities = 12\nimages_per_identity = 4\n\
        [train]\ninput_size = 32\nepochs = 1\nbatch_size = 16\nthreads = 1\n[pretrain.face]\ntask = \"identity\"\ndata = \"faces\"\n\
        [[study]]\nname = \"pre\"\nfixed = { tasks = [\"gender\"], depth = \"vgg7\", width = 0.125 }\ngrid.pretrain = [\"none\", \"face\"]\n";
    std::fs::write(dir.path().join("s.toml"), text).unwrap();
    let out = ablate(dir.path(), &run_args(&[]), &[]);
    assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
    assert!(
        stdout(&out).contains("3 trials; 3 succeeded now"),
        "{}",
        stdout(&out)
    );
    let s: serde_json::Value =
        serde_json::from_slice(&ablate(dir.path(), &["status", "s.toml", "--json"], &[]).stdout)
            .unwrap();
    assert_eq!(s["counts"]["succeeded"], 3);
    let rows = attempts(dir.path(), "real");
    assert!(
        rows.iter()
            .all(|r| r.backend == "slurm" && r.state == "succeeded"),
        "{rows:?}"
    );
    // The fine-tune found its pretraining's checkpoint through the shared run folder.
    let checkpoints = walk(&dir.path().join("out/trials"))
        .into_iter()
        .filter(|p| p.ends_with("checkpoint.safetensors"))
        .count();
    assert!(checkpoints >= 1, "the pretraining wrote a checkpoint");
    assert!(dir.path().join("reports/real/report.md").exists());
}

#[test]
fn kill_9_of_the_orchestrator_then_rerun_reconnects_without_resubmitting() {
    let Some(_one) = cluster() else { return };
    let dir = tempfile::tempdir().unwrap();
    sweep(dir.path(), "k9", 1, "");
    let log = dir.path().join("fake.log");
    let env = [
        ("FAKE_LOG", log.to_str().unwrap()),
        ("FAKE_EPOCH_MS", "400"),
    ];
    let mut child = Command::new(ABLATE)
        .args(run_args(&[]))
        .current_dir(dir.path())
        .envs(env)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    while !std::fs::read_to_string(&log).is_ok_and(|l| l.contains("start")) {
        assert!(t0.elapsed() < Duration::from_secs(60), "no job started");
        std::thread::sleep(Duration::from_millis(50));
    }
    let before: HashSet<String> = queued("k9").into_iter().collect();
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert!(
        !before.is_empty(),
        "jobs were queued or running at the kill"
    );
    // Fewer queue places than open jobs: every open job is still followed, none resubmitted.
    let out = ablate(dir.path(), &run_args(&["--max-queued", "2"]), &env);
    assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
    assert!(
        stderr(&out).contains("reconnected to") || stdout(&out).contains("reconnected to"),
        "{}",
        stderr(&out)
    );
    let rows = attempts(dir.path(), "k9");
    let trials: HashSet<&str> = rows.iter().map(|r| r.trial_id.as_str()).collect();
    assert_eq!(trials.len(), 6);
    assert_eq!(
        rows.len(),
        6,
        "one attempt per trial: nothing was submitted twice"
    );
    assert!(rows.iter().all(|r| r.state == "succeeded"), "{rows:?}");
    let jobs: HashSet<String> = rows.iter().filter_map(|r| r.job_id.clone()).collect();
    assert!(
        before.is_subset(&jobs),
        "the jobs queued at the kill are the ones recorded"
    );
    assert!(
        spans(&log).values().all(|s| s.len() == 1),
        "a trial ran twice"
    );
}

#[test]
fn a_failing_job_is_retried_then_failed_and_its_dependants_blocked() {
    let Some(_one) = cluster() else { return };
    let dir = tempfile::tempdir().unwrap();
    sweep(dir.path(), "fail", 1, "");
    // The pretraining runs out of memory (exit 5, retryable) on every attempt.
    let out = ablate(
        dir.path(),
        &run_args(&["--max-attempts", "2", "--retry-backoff", "0.2"]),
        &[("FAKE_FAIL", "stage=face:5"), ("FAKE_EPOCH_MS", "50")],
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}\n{}",
        stdout(&out),
        stderr(&out)
    );
    assert!(
        stdout(&out).contains("1 failed, 1 blocked"),
        "{}",
        stdout(&out)
    );
    let rows = attempts(dir.path(), "fail");
    let failed: Vec<_> = rows.iter().filter(|r| r.state == "failed").collect();
    assert_eq!(failed.len(), 2, "two attempts at the pretraining: {rows:?}");
    assert!(
        failed
            .iter()
            .all(|r| r.failure_class.as_deref() == Some("out-of-memory"))
    );
    assert_eq!(failed[0].trial_id, failed[1].trial_id);
    assert_ne!(failed[0].job_id, failed[1].job_id, "the retry is a new job");
    let s: serde_json::Value =
        serde_json::from_slice(&ablate(dir.path(), &["status", "s.toml", "--json"], &[]).stdout)
            .unwrap();
    assert_eq!(s["counts"]["blocked"], 1, "{s}");
    assert_eq!(s["counts"]["succeeded"], 4, "{s}");
    assert!(queued("fail").is_empty(), "nothing left pending in Slurm");
}

#[test]
fn cancel_leaves_no_job_in_the_queue_and_run_resumes() {
    let Some(_one) = cluster() else { return };
    let dir = tempfile::tempdir().unwrap();
    sweep(dir.path(), "cx", 1, "");
    let mut child = Command::new(ABLATE)
        .args(run_args(&[]))
        .current_dir(dir.path())
        .env("FAKE_EPOCH_MS", "20000")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    while queued("cx").len() < 6 {
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "jobs were not submitted"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // status reconnects to Slurm's own view of the running jobs.
    let st = ablate(dir.path(), &["status", "s.toml"], &[]);
    assert!(st.status.success(), "{}", stderr(&st));
    assert!(
        stdout(&st).contains("Slurm job")
            && (stdout(&st).contains("running on localhost") || stdout(&st).contains("queued (")),
        "{}",
        stdout(&st)
    );
    let out = ablate(dir.path(), &["cancel", "s.toml"], &[]);
    assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
    assert!(
        stdout(&out).contains("cancelled 6 Slurm job(s)"),
        "{}",
        stdout(&out)
    );
    assert!(
        stdout(&out).contains("stopped the orchestrator"),
        "{}",
        stdout(&out)
    );
    assert!(queued("cx").is_empty(), "cancel left jobs in the queue");
    let status = child.wait().unwrap();
    assert!(
        !status.success(),
        "the stopped orchestrator reports the sweep unfinished"
    );
    let rows = attempts(dir.path(), "cx");
    assert!(rows.iter().all(|r| r.state == "interrupted"), "{rows:?}");
    // Resume: everything runs again, quickly this time.
    let out = ablate(dir.path(), &run_args(&[]), &[("FAKE_EPOCH_MS", "20")]);
    assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
    assert!(stdout(&out).contains("6 succeeded now"), "{}", stdout(&out));
}

#[test]
fn hostile_values_reach_sbatch_as_plain_arguments() {
    let Some(_one) = cluster() else { return };
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "[sweep]\nname = \"h\"\noutput = \"out $(touch PWNED1) `touch PWNED2` ';touch PWNED3' \\\"q\\\"\"\n[worker]\ncommand = [\"{FAKE}\"]\n\
         [slurm]\nsbatch_args = [\"--comment=$(touch PWNED4); touch PWNED5 `touch PWNED6`\"]\n\
         [data.faces]\nkind = \"synthetic-faces\"\n[train]\nthreads = 1\n[[study]]\nname = \"a\"\nfixed.tasks = [\"gender\"]\ngrid.depth = [\"vgg7\", \"vgg9\"]\n"
    );
    std::fs::write(dir.path().join("s.toml"), text).unwrap();
    let out = ablate(dir.path(), &run_args(&[]), &[]);
    assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
    let pwned: Vec<_> = walk(dir.path())
        .into_iter()
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("PWNED"))
        })
        .collect();
    assert!(pwned.is_empty(), "a value reached a shell: {pwned:?}");
    let db = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().contains("$(touch PWNED1)"))
        .expect("the output folder keeps its literal name");
    let rows = attempts_in(&db.join("ablate.db"), "h");
    let job = rows[0].job_id.clone().unwrap();
    let show = Command::new("scontrol")
        .args(["show", "job", &job])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&show.stdout)
            .contains("Comment=$(touch PWNED4); touch PWNED5 `touch PWNED6`"),
        "{}",
        String::from_utf8_lossy(&show.stdout)
    );
}

#[test]
fn slurm_options_are_checked_before_anything_runs() {
    let dir = tempfile::tempdir().unwrap();
    sweep(dir.path(), "opts", 1, "");
    for (args, want) in [
        (
            vec!["--partition", "gpu"],
            "--partition is a Slurm option: add --backend slurm",
        ),
        (vec!["--backend", "pbs"], "expected `local` or `slurm`"),
        (
            vec!["--backend", "slurm", "--time", "4h"],
            "not a Slurm time limit",
        ),
        (
            vec!["--backend", "slurm", "--sbatch-arg", "mem=4G"],
            "not an sbatch option",
        ),
        (
            vec!["--backend", "slurm", "--partition", "a b"],
            "not a Slurm name",
        ),
    ] {
        let mut a = vec!["run", "s.toml"];
        a.extend(args);
        let out = ablate(dir.path(), &a, &[]);
        assert_eq!(out.status.code(), Some(2), "{a:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(want), "{a:?}: {}", stderr(&out));
    }
    assert!(
        !dir.path().join("out/ablate.db").exists(),
        "nothing was recorded"
    );
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p.clone());
            }
            out.push(p);
        }
    }
    out
}

#[test]
fn a_setting_slurm_rejects_fails_the_trials_with_sbatchs_message() {
    let Some(_one) = cluster() else { return };
    let dir = tempfile::tempdir().unwrap();
    sweep(dir.path(), "badpart", 1, "");
    let out = ablate(
        dir.path(),
        &run_args(&["--partition", "no-such-partition"]),
        &[],
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}\n{}",
        stdout(&out),
        stderr(&out)
    );
    let rows = attempts(dir.path(), "badpart");
    assert!(!rows.is_empty());
    for r in &rows {
        assert_eq!(r.state, "failed");
        assert_eq!(r.failure_class.as_deref(), Some("bad-config"));
        let m = r.message.as_deref().unwrap_or("");
        assert!(
            m.contains("sbatch failed") && m.to_lowercase().contains("partition"),
            "{m}"
        );
    }
    assert!(queued("badpart").is_empty());
}

/// The orchestrator dies right after an `sbatch` returned, before the job id
/// reached the database: the rerun finds the job by its name and follows it, so
/// no trial is ever submitted twice.
#[test]
fn a_kill_right_after_sbatch_returns_never_submits_twice() {
    let Some(_one) = cluster() else { return };
    let dir = tempfile::tempdir().unwrap();
    sweep(dir.path(), "ks", 1, "");
    let env = [("FAKE_EPOCH_MS", "300")];
    let fault = [
        ("FAKE_EPOCH_MS", "300"),
        (ablate_store::FAULT_ENV, "after-sbatch"),
    ];
    let out = ablate(dir.path(), &run_args(&[]), &fault);
    assert!(
        !out.status.success(),
        "the fault point aborts the orchestrator"
    );
    let first = attempts(dir.path(), "ks");
    assert_eq!(first.len(), 1, "{first:?}");
    assert!(
        first[0].job_id.is_none(),
        "the database never heard of the job"
    );
    let in_queue = queued("ks");
    assert_eq!(
        in_queue.len(),
        1,
        "the job it submitted is in Slurm: {in_queue:?}"
    );
    let out = ablate(dir.path(), &run_args(&[]), &env);
    assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
    let rows = attempts(dir.path(), "ks");
    let trials: HashSet<&str> = rows.iter().map(|r| r.trial_id.as_str()).collect();
    assert_eq!(trials.len(), 6);
    assert_eq!(rows.len(), 6, "one attempt per trial: {rows:?}");
    assert!(rows.iter().all(|r| r.state == "succeeded"), "{rows:?}");
    assert_eq!(
        rows[0].job_id.as_deref(),
        Some(in_queue[0].as_str()),
        "the first job was followed"
    );
}

#[test]
fn a_signalled_job_saves_its_state_and_the_next_job_resumes_it() {
    let Some(_one) = cluster() else { return };
    // The trial run locally, never interrupted: what the Slurm run must end at.
    let plain = tempfile::tempdir().unwrap();
    crate::resume::sweep_of(plain.path(), 120);
    let out = ablate(plain.path(), &["run", "r.toml"], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let want = crate::resume::outcome(plain.path());

    let dir = tempfile::tempdir().unwrap();
    crate::resume::sweep_of(dir.path(), 120);
    let run = Command::new(ABLATE)
        .args(["run", "r.toml", "--backend", "slurm", "--poll", "0.3"])
        .args(["--retry-backoff", "0.2"])
        .current_dir(dir.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // What Slurm does before a time limit or a preemption (`--signal=B:TERM`),
    // done at once: SIGTERM to the job's worker once it has saved a state.
    let t0 = Instant::now();
    let signalled = loop {
        let state = std::fs::read_dir(dir.path().join("out/trials"))
            .ok()
            .and_then(|mut d| d.next())
            .and_then(Result::ok)
            .map(|t| t.path());
        if let Some(t) = state.filter(|t| t.join("state.safetensors").is_file()) {
            // Job names are `ablate-<sweep>-<output folder hash>-<short id>`.
            let short = format!("-{}", t.file_name().unwrap().to_string_lossy());
            let q = Command::new("squeue")
                .args(["-h", "-o", "%i|%j"])
                .output()
                .unwrap();
            let id = String::from_utf8_lossy(&q.stdout)
                .lines()
                .filter_map(|l| l.split_once('|'))
                .find(|(_, n)| n.starts_with("ablate-s-") && n.ends_with(&short))
                .map(|(i, _)| i.trim().to_string())
                .unwrap_or_default();
            if !id.is_empty() {
                let s = Command::new("scancel")
                    .args(["--signal=TERM", "--batch", &id])
                    .status()
                    .unwrap();
                break s.success();
            }
        }
        if t0.elapsed() > Duration::from_secs(120) {
            break false;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let out = run.wait_with_output().unwrap();
    let log = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(signalled, "never found the job to signal: {log}");
    assert!(out.status.success(), "{log}");
    assert!(log.contains("preempted"), "{log}");
    assert!(log.contains("resumed from state.safetensors"), "{log}");
    assert_eq!(crate::resume::outcome(dir.path()), want);
    let rows = attempts(dir.path(), "s");
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert!(
        !crate::resume::trial_dir(dir.path())
            .join("state.safetensors")
            .exists()
    );
}
