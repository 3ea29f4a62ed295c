//! Habits users bring from Hydra and W&B: overrides on the command line,
//! `ablate init`, `ablate list`, `status` of a sweep not run yet, and a report
//! that goes where the docs say whatever the working folder.

use std::path::Path;

use crate::support::{ablate_env, assert_invalid, stderr, stdout};

const FAKE: &str = env!("CARGO_BIN_EXE_ablate-fake-worker");

/// Two depths x 3 seeds of fake-worker trials, in `dir/exp/s.toml`.
fn sweep(dir: &Path) {
    let text = format!(
        "[sweep]\nname = \"s\"\nseeds = 3\n[worker]\ncommand = [\"{FAKE}\"]\n[data.faces]\nkind = \"synthetic-faces\"\n[train]\nepochs = 8\n[[study]]\nname = \"d\"\nfixed.tasks = [\"gender\"]\ngrid.depth = [\"vgg7\", \"vgg9\"]\n"
    );
    std::fs::create_dir_all(dir.join("exp")).unwrap();
    std::fs::write(dir.join("exp/s.toml"), text).unwrap();
}

fn run(dir: &Path, args: &[&str]) -> std::process::Output {
    ablate_env(dir, args, &[("FAKE_EPOCH_MS", "1")])
}

fn plan(dir: &Path, args: &[&str]) -> serde_json::Value {
    let mut a = vec!["plan", "--json", "exp/s.toml"];
    a.extend_from_slice(args);
    let out = run(dir, &a);
    assert!(out.status.success(), "{}", stderr(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn status(dir: &Path, args: &[&str]) -> serde_json::Value {
    let mut a = vec!["status", "exp/s.toml", "--json"];
    a.extend_from_slice(args);
    let out = run(dir, &a);
    assert!(out.status.success(), "{}", stderr(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn overrides_are_checked_like_the_file_and_decide_the_trials() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    sweep(d);
    let plain = plan(d, &[]);
    let smoke = plan(d, &["train.epochs=1", "sweep.seeds=1"]);
    assert_eq!(plain["trials"].as_array().unwrap().len(), 6);
    let trials = smoke["trials"].as_array().unwrap();
    assert_eq!(trials.len(), 2, "one seed");
    assert_eq!(trials[0]["config"]["train"]["epochs"], 1);
    assert_ne!(
        trials[0]["id"], plain["trials"][0]["id"],
        "ids follow the values"
    );
    // The same checks as the file: an unknown key gets "did you mean".
    let out = run(d, &["plan", "--check", "exp/s.toml", "train.epoch=1"]);
    assert_invalid(&out, "a misspelt override");
    let err = stderr(&out);
    assert!(
        err.contains("exp/s.toml (with train.epoch=1)") && err.contains("did you mean `epochs`?"),
        "{err}"
    );
    let out = run(d, &["run", "exp/s.toml", "epochs"]);
    assert_invalid(&out, "an override without =");
    assert!(
        stderr(&out).contains("expected KEY=VALUE"),
        "{}",
        stderr(&out)
    );
    // A run with overrides records them; status and report see its trials when
    // given them again, and say so when not.
    let out = run(d, &["run", "exp/s.toml", "train.epochs=1", "sweep.seeds=1"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let with = status(d, &["train.epochs=1", "sweep.seeds=1"]);
    assert_eq!(with["counts"]["succeeded"], 2, "{with}");
    let without = status(d, &[]);
    assert_eq!(without["counts"]["pending"], 6, "{without}");
    assert!(
        without["notes"][0]
            .as_str()
            .unwrap()
            .contains("used the overrides `train.epochs=1 sweep.seeds=1`"),
        "{without}"
    );
    let report = std::fs::read_to_string(d.join("exp/reports/s/report.md")).unwrap();
    assert!(
        report.contains("command-line overrides: `train.epochs=1 sweep.seeds=1`"),
        "{report}"
    );
}

#[test]
fn status_of_a_sweep_never_run_or_not_in_the_database_lists_its_trials_pending() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    sweep(d);
    let never = status(d, &[]);
    assert_eq!(never["total"], 6);
    assert_eq!(never["counts"]["pending"], 6);
    assert_eq!(never["studies"][0]["total"], 6, "{never}");
    assert!(
        never["notes"][0]
            .as_str()
            .unwrap()
            .contains("nothing of this sweep has run")
    );
    // Another sweep's database.
    std::fs::write(
        d.join("exp/other.toml"),
        std::fs::read_to_string(d.join("exp/s.toml"))
            .unwrap()
            .replace("name = \"s\"", "name = \"other\""),
    )
    .unwrap();
    let out = run(d, &["run", "exp/other.toml", "--db", "o.db"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let elsewhere = status(d, &["--db", "o.db"]);
    assert_eq!(elsewhere["counts"]["pending"], 6, "{elsewhere}");
    assert!(
        elsewhere["notes"][0]
            .as_str()
            .unwrap()
            .contains("holds no run of sweep s (it holds: other)"),
        "{elsewhere}"
    );
}

#[test]
fn init_writes_a_starter_that_plans_and_never_overwrites() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for example in ["quick", "utkface", "csv"] {
        let file = format!("new/{example}-study.toml");
        let out = run(d, &["init", &file, "--example", example]);
        assert!(out.status.success(), "{example}: {}", stderr(&out));
        let check = run(d, &["plan", "--check", &file]);
        assert!(check.status.success(), "{example}: {}", stderr(&check));
        assert!(
            stdout(&check).contains(&format!("sweep \"{example}-study\"")),
            "{}",
            stdout(&check)
        );
    }
    let again = run(d, &["init", "new/quick-study.toml"]);
    assert_invalid(&again, "init over an existing file");
    assert!(stderr(&again).contains("exists"), "{}", stderr(&again));
    assert_invalid(
        &run(d, &["init", "x.toml", "--example", "imagenet"]),
        "unknown example",
    );
}

#[test]
fn list_shows_every_sweep_under_a_folder_and_reports_go_beside_the_sweep() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    sweep(d);
    let elsewhere = tempfile::tempdir().unwrap();
    // Run from another folder: the report still goes beside the sweep file.
    let file = d.join("exp/s.toml");
    let out = run(elsewhere.path(), &["run", file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        d.join("exp/reports/s/report.md").is_file(),
        "{}",
        stdout(&out)
    );
    assert!(!elsewhere.path().join("reports").exists());
    std::fs::write(d.join("stray.db"), b"not a database").unwrap();
    let out = run(d, &["list", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["sweep"], "s");
    assert_eq!(rows[0]["counts"]["succeeded"], 6);
    let text = stdout(&run(d, &["list"]));
    assert!(
        text.contains("exp/runs/s/ablate.db") || text.contains("runs/s/ablate.db"),
        "{text}"
    );
    assert!(
        text.contains("not an ablate database: ./stray.db"),
        "{text}"
    );
}
