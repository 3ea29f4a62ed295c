//! `ablate plan --estimate`: the images and parameters it counts are the ones
//! training then reports, and hours and memory come from a stated source.

use crate::run::results;
use crate::support::{ablate_env as ablate, stderr, stdout};

fn estimate(dir: &std::path::Path, extra: &[&str]) -> serde_json::Value {
    let mut args = vec!["plan", "--estimate", "--json", "s.toml"];
    args.extend_from_slice(extra);
    let out = ablate(dir, &args, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn the_estimate_counts_what_training_reports_and_says_where_hours_come_from() {
    let dir = tempfile::tempdir().unwrap();
    let text = "[sweep]\nname = \"s\"\noutput = \"out\"\n[data.faces]\nkind = \"synthetic-faces\"\nidentities = 30\nimages_per_identity = 4\n\
                [train]\ninput_size = 32\nepochs = 2\nbatch_size = 16\nthreads = 1\n\
                [[study]]\nname = \"e\"\nfixed = { depth = \"vgg7\", width = 0.125, encoding = \"ldae\" }\ngrid.tasks = [[\"gender\"], [\"gender\", \"age\"]]\n";
    std::fs::write(dir.path().join("s.toml"), text).unwrap();
    let before = estimate(dir.path(), &[]);
    let trials = before["trials"].as_array().unwrap();
    assert_eq!(trials.len(), 2);
    for t in trials {
        assert!(t["hours"].is_null(), "no source yet: {t}");
        assert!(t["source"].as_str().unwrap().starts_with("unknown"), "{t}");
    }
    assert_eq!(before["caches"][0]["images"], 120);
    assert_eq!(before["caches"][0]["up_to_date"], false);
    let calibrated = estimate(dir.path(), &["--calibrate"]);
    for t in calibrated["trials"].as_array().unwrap() {
        assert!(t["hours"].as_f64().unwrap() > 0.0, "{t}");
        assert!(t["host_bytes"].as_u64().unwrap() > 1 << 20, "{t}");
        assert_eq!(t["source"], "calibrated on this machine");
    }
    let out = ablate(dir.path(), &["run", "s.toml"], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let after = estimate(dir.path(), &[]);
    let rows = results(dir.path());
    for t in after["trials"].as_array().unwrap() {
        let r = rows
            .iter()
            .find(|r| r.id == t["trial"].as_str().unwrap())
            .unwrap();
        let result = r.result.as_ref().unwrap();
        let images = [
            &result["images"]["train"],
            &result["images"]["val"],
            &result["images"]["test"],
        ];
        assert_eq!(
            t["images"],
            serde_json::json!(images),
            "the parts training used"
        );
        assert_eq!(
            t["parameters"], result["parameters"],
            "the parameters training counted"
        );
        let n = |i: usize| images[i].as_u64().unwrap();
        assert_eq!(t["processed"].as_u64().unwrap(), 2 * (n(0) + n(1)) + n(2));
        assert!(
            t["source"]
                .as_str()
                .unwrap()
                .contains("earlier trial(s) of this shape"),
            "{t}"
        );
        assert!(t["hours"].as_f64().unwrap() > 0.0);
        assert!(
            t["host_bytes"].as_u64().unwrap() > 1 << 20,
            "memory recorded by the run: {t}"
        );
    }
    assert_eq!(after["caches"][0]["up_to_date"], true);
    let text = ablate(dir.path(), &["plan", "--estimate", "s.toml"], &[]);
    let table = stdout(&text);
    assert!(
        table.contains("per study") && table.contains("total: "),
        "{table}"
    );
}
