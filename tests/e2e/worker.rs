//! `ablate worker` as a scheduler sees it: JSON lines on stdout, files, exit codes.

use std::path::Path;

use crate::support::{ablate_in, stderr, stdout};

const SWEEP: &str = "[sweep]\nname = \"w\"\noutput = \"out\"\n[data.faces]\nkind = \"synthetic-faces\"\nidentities = 24\nimages_per_identity = 4\n[train]\ninput_size = 32\nepochs = 2\nbatch_size = 16\nthreads = 1\n[[study]]\nname = \"s\"\nfixed = { depth = \"vgg7\", width = 0.125, encoding = \"classification\" }\ngrid.tasks = [[\"age\"]]\n";

/// Writes the sweep, prepares its cache and returns the trial file of its one trial.
fn trial_file(dir: &Path, sweep: &str) -> String {
    std::fs::write(dir.join("w.toml"), sweep).unwrap();
    assert!(
        ablate_in(dir, &["data", "prepare", "w.toml"])
            .status
            .success()
    );
    let plan: serde_json::Value =
        serde_json::from_slice(&ablate_in(dir, &["plan", "--json", "w.toml"]).stdout).unwrap();
    let t = &plan["trials"][0];
    let input = serde_json::json!({
        "id": t["id"], "config": t["config"], "exec": t["exec"],
        "cache": "out/cache/faces-32px.cache", "run_dir": "out/trial", "heartbeat_s": 0.0,
    });
    std::fs::write(dir.join("trial.json"), input.to_string()).unwrap();
    "trial.json".into()
}

fn events(out: &std::process::Output) -> Vec<serde_json::Value> {
    stdout(out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line: {l}: {e}")))
        .collect()
}

#[test]
fn a_trial_runs_and_reports() {
    let dir = tempfile::tempdir().unwrap();
    let file = trial_file(dir.path(), SWEEP);
    let out = ablate_in(dir.path(), &["worker", &file]);
    assert!(out.status.success(), "{}", stderr(&out));
    let ev = events(&out);
    let kinds: Vec<&str> = ev.iter().map(|e| e["event"].as_str().unwrap()).collect();
    assert_eq!(kinds.first(), Some(&"started"));
    assert_eq!(kinds.last(), Some(&"finished"));
    assert_eq!(kinds.iter().filter(|k| **k == "epoch").count(), 2);
    assert!(
        kinds.contains(&"heartbeat"),
        "heartbeats every 0 s: {kinds:?}"
    );
    assert_eq!(ev[0]["threads"], 1, "the trial's thread budget is honoured");
    let result = &ev.last().unwrap()["result"];
    assert!(
        result["test"]["age"]["argmax"]["mae"].is_number(),
        "classifiers report both read-outs"
    );
    assert!(
        result["test"]["age"]["expected"]["cs"]
            .as_array()
            .unwrap()
            .len()
            == 11
    );
    for f in ["checkpoint.safetensors", "result.json", "metrics.jsonl"] {
        assert!(dir.path().join("out/trial").join(f).is_file(), "{f}");
    }
}

#[test]
fn failures_have_a_class_and_an_exit_code() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("junk.json"), "{ not json").unwrap();
    let out = ablate_in(dir.path(), &["worker", "junk.json"]);
    assert_eq!(out.status.code(), Some(3));
    let ev = events(&out);
    assert_eq!(ev[0]["event"], "failed");
    assert_eq!(ev[0]["class"], "bad-config");

    let out = ablate_in(dir.path(), &["worker", "missing.json"]);
    assert_eq!(out.status.code(), Some(6));
    assert_eq!(events(&out)[0]["class"], "io");

    if !cfg!(feature = "cuda") {
        let file = trial_file(
            dir.path(),
            &SWEEP.replace("threads = 1", "threads = 1\ndevice = \"cuda\""),
        );
        let out = ablate_in(dir.path(), &["worker", &file]);
        assert_eq!(out.status.code(), Some(3));
        let ev = events(&out);
        assert!(
            ev[0]["message"]
                .as_str()
                .unwrap()
                .contains("built without CUDA"),
            "{ev:?}"
        );
    }
}

/// A diverging loss fails `nan-loss` with what to change, given what is on: with
/// BatchNorm on, turning it on is no advice; a warm-up or a lower lr is.
#[test]
fn a_diverging_loss_says_what_to_change() {
    let dir = tempfile::tempdir().unwrap();
    let sweep = SWEEP
        .replace("epochs = 2", "epochs = 2\nlr = 10.0")
        .replace(
            "encoding = \"classification\"",
            "encoding = { kind = \"regression\", loss = \"l2\" }",
        );
    for (extra, advice, not) in [
        (
            "batch_norm = true",
            "warm it up (warmup_epochs = 1)",
            "turn on batch_norm",
        ),
        ("batch_norm = false", "turn on batch_norm", "warm it up"),
    ] {
        let file = trial_file(
            dir.path(),
            &sweep.replace("threads = 1", &format!("threads = 1\n{extra}")),
        );
        let out = ablate_in(dir.path(), &["worker", &file]);
        assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
        let ev = events(&out);
        let failed = ev.last().unwrap();
        assert_eq!(failed["class"], "nan-loss", "{ev:?}");
        let msg = failed["message"].as_str().unwrap();
        assert!(msg.contains(advice) && !msg.contains(not), "{extra}: {msg}");
    }
}
