//! The report's verdicts through the real binary, against a known truth: the quick
//! study's grid run by the stand-in worker with `FAKE_TRUTH` (metrics = a mean per
//! configuration plus seeded noise). Many draws are judged in-process by
//! crates/verdict/tests/truth.rs; these few check the whole path.

use std::path::Path;

use crate::support::{ablate_env as ablate, stderr, stdout};

/// quick.toml with `seeds` seeds, run by the stand-in worker.
fn sweep(dir: &Path, seeds: u32) {
    crate::support::fake_quick(dir, &seeds.to_string());
}

/// The sweep's own claim (`support::OWN_CLAIM`), in the report's verdict table.
const OWN: &str = "Multi-task costs no age accuracy after face pretraining";

/// Runs the sweep under `truth` and returns each claim's verdict from report.md.
fn verdicts(truth: &serde_json::Value, seeds: u32) -> Vec<(String, String)> {
    let dir = tempfile::tempdir().unwrap();
    sweep(dir.path(), seeds);
    let file = dir.path().join("truth.json");
    std::fs::write(&file, truth.to_string()).unwrap();
    let out = ablate(
        dir.path(),
        &["run", "s.toml", "--cpu-slots", "2"],
        &[
            ("FAKE_TRUTH", file.to_str().unwrap()),
            ("FAKE_EPOCHS", "1"),
            ("FAKE_EPOCH_MS", "0"),
        ],
    );
    assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
    let reports = dir.path().join("reports/quick");
    let md = std::fs::read_to_string(reports.join("report.md")).unwrap();
    // The two-factor multitask study gets interaction charts; tables.tex is written.
    for f in [
        "multitask-interaction-gender.png",
        "multitask-interaction-age.svg",
        "tables.tex",
    ] {
        assert!(reports.join(f).is_file(), "{f}");
    }
    assert!(
        !reports.join("encoding-interaction-age.png").exists(),
        "a zip is no crossed design"
    );
    assert!(md.contains("Factor importance"), "{md}");
    let rows: Vec<(String, String)> = md
        .lines()
        .skip_while(|l| !l.starts_with("| claim | verdict"))
        .skip(2)
        .take_while(|l| l.starts_with('|'))
        .map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            (cells[1].to_string(), cells[2].trim_matches('*').to_string())
        })
        .collect();
    // The sweep's own claim (multi-task no worse on age after face pretraining)
    // first, then the paper's four.
    assert_eq!(rows.len(), 5, "{md}");
    assert_eq!(rows[0].0, OWN, "the sweep's own claim first: {md}");
    // `ablate status` judges the same results alike (no run here is flagged
    // degenerate, which only the report weighs).
    let status = stdout(&ablate(dir.path(), &["status", "s.toml"], &[]));
    let claims: Vec<&str> = status.lines().filter(|l| l.starts_with("claim ")).collect();
    let want: Vec<String> = (rows.iter())
        .map(|(claim, verdict)| format!("claim    {verdict:<13} {claim}"))
        .collect();
    assert_eq!(claims, want, "{status}");
    rows
}

fn truth(
    noise_seed: u64,
    age: &serde_json::Value,
    gender: &serde_json::Value,
    sd: (f64, f64),
) -> serde_json::Value {
    serde_json::json!({
        "noise_seed": noise_seed,
        "age_mae": {"base": 10.0, "sd": sd.0, "effects": age},
        "gender_accuracy": {"base": 0.8, "sd": sd.1, "effects": gender},
    })
}

/// No factor does anything: none of the paper's claims may come out supported
/// (the sweep's own "no worse" claim is then true, and may be).
#[test]
fn null_sweeps_support_nothing() {
    for noise in [1, 2, 3] {
        let v = verdicts(
            &truth(
                noise,
                &serde_json::json!([]),
                &serde_json::json!([]),
                (0.4, 0.004),
            ),
            5,
        );
        assert!(
            v[1..].iter().all(|(_, verdict)| verdict != "supported"),
            "noise draw {noise}: {v:?}"
        );
    }
}

/// The paper's findings, strongly and with little noise: every claim is
/// supported, the sweep's own too (multi-task costs no age accuracy after
/// face pretraining holds in this truth).
#[test]
fn the_papers_findings_are_supported_when_they_hold() {
    let age = serde_json::json!([
        {"when": {"encoding": "ldae-s2"}, "add": -2.0},
        {"when": {"depth": "vgg9"}, "add": -1.5},
        {"when": {"depth": "vgg11"}, "add": -3.0},
        {"when": {"pretrain": "face"}, "add": -2.0},
        {"when": {"pretrain": "none", "tasks": "gender+age"}, "add": -1.0},
    ]);
    let gender = serde_json::json!([
        {"when": {"pretrain": "face"}, "add": 0.05},
        {"when": {"pretrain": "none", "tasks": "gender+age"}, "add": 0.03},
    ]);
    let v = verdicts(&truth(7, &age, &gender, (0.2, 0.002)), 10);
    assert!(v.iter().all(|(_, verdict)| verdict == "supported"), "{v:?}");
}
