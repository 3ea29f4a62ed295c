//! A stand-in worker for scheduler tests: it speaks the worker protocol without
//! training, and misbehaves on request, so tests of scheduling take seconds.
//!
//! Environment (all optional):
//! - `FAKE_EPOCHS` (2), `FAKE_EPOCH_MS` (20): how long it "trains";
//! - `FAKE_FAIL=key=value:code,...`: trials whose label `key` is `value` exit with `code`
//!   (after a `failed` event of the matching class);
//! - `FAKE_FAIL_ONCE=key=value:code,...`: the same, on the first attempt only;
//! - `FAKE_HANG=key=value,...`: those trials print `started` and then hang silently;
//! - `FAKE_CRASH=key=value,...`: those trials abort (killed by SIGABRT);
//! - `FAKE_FAIL_MESSAGE=text`: the message of a `failed` event (any string, a
//!   hostile one included);
//! - `FAKE_TRUTH=file.json`: test metrics drawn from a known truth (truth.rs);
//! - `FAKE_VERSION=v`: reported as the result's `trainer_version`;
//! - `FAKE_LOG=path`: appends `start|end <slot> <trial> <unix nanos> gpu=<CUDA_VISIBLE_DEVICES>` lines, so
//!   tests can check that no slot ever ran two trials at once;
//! - `FAKE_GATE=path`: in its last epoch it waits until `path` exists, a heartbeat
//!   a second with a growing step, so a test holds trials running for as long as
//!   it looks at them.

mod truth;

use std::io::Write;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

fn nanos() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}

fn log(what: &str, trial: &str) {
    if let Ok(path) = std::env::var("FAKE_LOG") {
        let slot = std::env::var("ABLATE_SLOT").unwrap_or_default();
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
        {
            let gpu = std::env::var("CUDA_VISIBLE_DEVICES").unwrap_or_default();
            let _ =
                f.write_all(format!("{what} {slot} {trial} {} gpu={gpu}\n", nanos()).as_bytes());
        }
    }
}

fn emit(v: &serde_json::Value) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{v}");
    let _ = out.flush();
}

/// The rule in `var` matching these labels: `Some(code)` (or `Some(0)` without one).
fn matching(var: &str, labels: &serde_json::Value) -> Option<i32> {
    let rules = std::env::var(var).ok()?;
    rules.split(',').find_map(|rule| {
        let (cond, code) = rule
            .split_once(':')
            .map_or((rule, 0), |(c, n)| (c, n.parse().unwrap_or(1)));
        let (k, v) = cond.split_once('=')?;
        (labels.get(k).and_then(|x| x.as_str()) == Some(v)).then_some(code)
    })
}

fn class_of(code: i32) -> &'static str {
    match code {
        3 => "bad-config",
        4 => "nan-loss",
        5 => "out-of-memory",
        6 => "io",
        _ => "internal",
    }
}

/// A result holds the metrics its trial's tasks need (the orchestrator refuses
/// one without them): fixed stand-in values where the truth gave none.
fn fill_required(test: &mut serde_json::Value, objective: &serde_json::Value) {
    let put = |test: &mut serde_json::Value, task: &str, value: serde_json::Value| {
        if test.get(task).is_none_or(serde_json::Value::is_null) {
            test[task] = value;
        }
    };
    match objective["kind"].as_str() {
        Some("identity") => put(test, "identity", serde_json::json!({"accuracy": 0.5})),
        Some("general") => put(test, "general", serde_json::json!({"accuracy": 0.5})),
        _ => {
            if !objective["gender"].is_null() {
                put(test, "gender", serde_json::json!({"accuracy": 0.75}));
            }
            if !objective["age"].is_null() {
                put(
                    test,
                    "age",
                    serde_json::json!({"expected": {"mae": 8.0}, "baseline_mae": 12.0}),
                );
            }
        }
    }
}

fn main() {
    let Some(file) = std::env::args().nth(1) else {
        eprintln!("usage: ablate-fake-worker TRIAL.json");
        std::process::exit(2);
    };
    let input: serde_json::Value = match std::fs::read_to_string(&file)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
    {
        Some(v) => v,
        None => std::process::exit(6),
    };
    let trial = input["id"].as_str().unwrap_or("").to_string();
    let labels = input["labels"].clone();
    let run_dir = std::path::PathBuf::from(input["run_dir"].as_str().unwrap_or("."));
    let _ = std::fs::create_dir_all(&run_dir);
    let marker = run_dir.join(".fake-attempts");
    let attempt = std::fs::read_to_string(&marker)
        .ok()
        .and_then(|s| s.trim().parse::<u32>().ok())
        .unwrap_or(0)
        + 1;
    let _ = std::fs::write(&marker, attempt.to_string());
    // As a real worker does, start metrics.jsonl afresh: a later attempt must not
    // find it (the orchestrator keeps each attempt's files aside).
    let _ = std::fs::write(
        run_dir.join("metrics.jsonl"),
        format!("{{\"attempt\": {attempt}}}\n"),
    );
    log("start", &trial);
    // What a real worker's stderr holds: worker.log, shown on the trial's page.
    eprintln!("fake worker: trial {trial}, attempt {attempt}");
    emit(
        &serde_json::json!({"event": "started", "trial": trial, "device": "cpu", "threads": 1, "images": {"train": 1, "val": 1, "test": 1}, "parameters": 0, "epochs": 1}),
    );
    if matching("FAKE_HANG", &labels).is_some() {
        loop {
            std::thread::sleep(Duration::from_secs(60));
        }
    }
    if matching("FAKE_CRASH", &labels).is_some() {
        log("end", &trial);
        std::process::abort();
    }
    let fail = matching("FAKE_FAIL", &labels)
        .or_else(|| matching("FAKE_FAIL_ONCE", &labels).filter(|_| attempt == 1));
    if let Some(code) = fail {
        log("end", &trial);
        emit(
            &serde_json::json!({"event": "failed", "class": class_of(code), "message": std::env::var("FAKE_FAIL_MESSAGE").unwrap_or_else(|_| format!("fake failure (attempt {attempt})"))}),
        );
        std::process::exit(code);
    }
    let epochs: u32 = std::env::var("FAKE_EPOCHS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2);
    let ms: u64 = std::env::var("FAKE_EPOCH_MS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    let gate = std::env::var_os("FAKE_GATE");
    for epoch in 1..=epochs {
        std::thread::sleep(Duration::from_millis(ms));
        emit(
            &serde_json::json!({"event": "heartbeat", "epoch": epoch, "step": 1, "steps": 1000, "loss": 1.0, "elapsed_s": 0.0}),
        );
        // Gated: the last epoch waits for the file, its step growing as a
        // worker in a long epoch would say.
        if let Some(gate) = gate.as_ref().filter(|_| epoch == epochs) {
            for waited in 1u64.. {
                if std::path::Path::new(gate).exists() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
                if waited % 20 == 0 {
                    emit(
                        &serde_json::json!({"event": "heartbeat", "epoch": epoch, "step": 1 + waited / 20, "steps": 1000, "loss": 1.0, "elapsed_s": 0.0}),
                    );
                }
            }
        }
        emit(
            &serde_json::json!({"event": "epoch", "epoch": epoch, "train_loss": 1.0 / f64::from(epoch), "lr": 0.1, "val": {"loss": 1.0}, "val_score": 0.5, "images_per_s": 100.0, "elapsed_s": 0.0}),
        );
    }
    let mut result = serde_json::json!({"trial": trial, "test": {"loss": 0.5}, "best_epoch": epochs, "epochs": epochs, "degenerate": null, "attempt": attempt});
    if let Ok(v) = std::env::var("FAKE_VERSION") {
        result["trainer_version"] = v.into();
    }
    if let Some(test) = truth::test_metrics(&trial, &labels) {
        result["test"] = test;
    }
    fill_required(&mut result["test"], &input["config"]["objective"]);
    let _ = std::fs::write(run_dir.join("result.json"), result.to_string());
    log("end", &trial);
    emit(&serde_json::json!({"event": "finished", "result": result}));
}
