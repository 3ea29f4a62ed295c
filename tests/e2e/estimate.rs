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
    for t in after["trials"].as_array().unwrap() {
        assert!(t["gpu_bytes"].is_null(), "CPU trials have no GPU peak: {t}");
    }
    let text = ablate(dir.path(), &["plan", "--estimate", "s.toml"], &[]);
    let table = stdout(&text);
    assert!(
        table.contains("per study") && table.contains("total: "),
        "{table}"
    );
    assert!(!table.contains("GPU memory: from"), "{table}");

    // A GPU peak the worker reported (as a CUDA worker does) prices its shape's GPU memory.
    crate::run::runtime().block_on(async {
        let store = ablate_store::Store::open(&dir.path().join("out/ablate.db"))
            .await
            .unwrap();
        for a in store.attempts("s").await.unwrap() {
            store
                .record_peak_memory(a.id, None, Some(300 << 20))
                .await
                .unwrap();
        }
        store.close().await;
    });
    let gpu = estimate(dir.path(), &[]);
    for t in gpu["trials"].as_array().unwrap() {
        assert_eq!(t["gpu_bytes"], 300 << 20, "{t}");
    }
    let table = stdout(&ablate(dir.path(), &["plan", "--estimate", "s.toml"], &[]));
    assert!(
        table.contains("300 MiB") && table.contains("the largest peak of their tensors"),
        "{table}"
    );
}

/// experiments/paper.toml reads csv manifests that are not on this machine; its
/// datasets declare their sizes, so it plans with its estimate anyway.
#[test]
fn the_paper_sweep_plans_with_its_estimate_before_its_data_is_here() {
    let repo = crate::support::repo();
    let out = ablate(
        &repo,
        &["plan", "--estimate", "--json", "experiments/paper.toml"],
        &[],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let declared = v["declared"].as_object().unwrap();
    assert_eq!(declared["faces"]["images"], 523_051);
    assert_eq!(declared["identities"]["identities"], 10_575);
    assert_eq!(declared["general"]["classes"], 1000);
    let faces = v["caches"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["cache"] == "faces at 224px")
        .unwrap();
    assert_eq!(faces["images"], 523_051);
    assert!(faces["bytes"].as_u64().unwrap() >= 523_051 * 224 * 224 * 3);
    let trials = v["trials"].as_array().unwrap();
    let plan = ablate(&repo, &["plan", "--json", "experiments/paper.toml"], &[]);
    let plan: serde_json::Value = serde_json::from_slice(&plan.stdout).unwrap();
    assert_eq!(trials.len(), plan["trials"].as_array().unwrap().len());
    let age = trials
        .iter()
        .find(|t| !t["study"].as_str().unwrap().starts_with("pretrain:"))
        .unwrap();
    let parts: Vec<u64> = (0..3).map(|i| age["images"][i].as_u64().unwrap()).collect();
    assert_eq!(
        parts.iter().sum::<u64>(),
        523_051,
        "every declared face used"
    );
    let face = trials
        .iter()
        .find(|t| t["study"] == "pretrain:face")
        .unwrap();
    assert!(
        face["parameters"].as_u64().unwrap() > age["parameters"].as_u64().unwrap(),
        "a 10,575-way identity head: {face} vs {age}"
    );
    let text = stdout(&ablate(
        &repo,
        &["plan", "--estimate", "experiments/paper.toml"],
        &[],
    ));
    assert!(
        text.contains("data `identities` is not on this machine: estimated from its declared size (494414 images, 10575 people"),
        "{text}"
    );
}

#[test]
fn absent_data_without_a_declared_size_says_how_to_declare_one() {
    let dir = tempfile::tempdir().unwrap();
    let head = "[sweep]\nname = \"s\"\noutput = \"out\"\n";
    let tail = "[[study]]\nname = \"e\"\nfixed = { tasks = [\"age\"], encoding = \"ldae\" }\ngrid.depth = [\"vgg7\"]\n";
    let faces = "[data.faces]\nkind = \"csv\"\npath = \"faces.csv\"\nage_column = \"age\"\n";
    std::fs::write(dir.path().join("s.toml"), format!("{head}{faces}{tail}")).unwrap();
    let out = ablate(dir.path(), &["plan", "--estimate", "s.toml"], &[]);
    crate::support::assert_invalid(&out, "undeclared absent data");
    let err = stderr(&out);
    assert!(err.contains("faces.csv"), "{err}");
    assert!(err.contains("expected = { images = N }"), "{err}");
    // An identity set must say how many people it has: they size its head.
    let people = "[data.people]\nkind = \"csv\"\npath = \"people.csv\"\nidentity_column = \"id\"\nexpected = { images = 500 }\n[pretrain.face]\ntask = \"identity\"\ndata = \"people\"\n";
    let text = format!(
        "{head}{faces}expected = {{ images = 100 }}\n{people}[defaults]\npretrain = \"face\"\n{tail}"
    );
    std::fs::write(dir.path().join("s.toml"), text).unwrap();
    let out = ablate(dir.path(), &["plan", "--estimate", "s.toml"], &[]);
    crate::support::assert_invalid(&out, "no identity count");
    let err = stderr(&out);
    assert!(err.contains("`identities = N`"), "{err}");
}
