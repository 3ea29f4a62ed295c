//! `ablate plan` on every committed sweep file: text snapshots, JSON shape, `--check`.

use std::collections::HashSet;

use crate::support::{ablate, repo, stdout};

fn experiments() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(repo().join("experiments"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".toml"))
        .collect();
    names.sort();
    assert!(
        names.len() >= 3,
        "experiments/ should hold quick, paper and utkface"
    );
    names
}

#[test]
fn plan_snapshots_of_every_experiment() {
    for name in experiments() {
        let path = format!("experiments/{name}");
        let out = ablate(&["plan", &path]);
        assert!(
            out.status.success(),
            "{path}: {}",
            crate::support::stderr(&out)
        );
        insta::assert_snapshot!(
            format!("plan_{}", name.trim_end_matches(".toml")),
            stdout(&out)
        );
    }
}

#[test]
fn plan_json_lists_every_trial_with_full_id() {
    for name in experiments() {
        let path = format!("experiments/{name}");
        let out = ablate(&["plan", "--json", &path]);
        assert!(out.status.success());
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let trials = v["trials"].as_array().unwrap();
        assert!(!trials.is_empty());
        let mut seen = HashSet::new();
        for t in trials {
            let id = t["id"].as_str().unwrap();
            assert_eq!(id.len(), 64, "full sha256 id");
            assert!(id.chars().all(|c| c.is_ascii_hexdigit()));
            assert!(seen.insert(id.to_string()), "ids are unique");
            for dep in t["depends_on"].as_array().unwrap() {
                assert!(
                    seen.contains(dep.as_str().unwrap()),
                    "{path}: a dependency is listed before its dependant"
                );
            }
        }
        let study_total: usize = v["studies"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["trials"].as_array().unwrap().len())
            .sum();
        assert!(study_total >= trials.iter().filter(|t| t["kind"] == "train").count());
    }
}

#[test]
fn plan_check_prints_one_line() {
    let out = ablate(&["plan", "--check", "experiments/quick.toml"]);
    assert!(out.status.success());
    let text = stdout(&out);
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(
        text.starts_with("ok: experiments/quick.toml: sweep \"quick\", 4 studies,"),
        "{text}"
    );
}

#[test]
fn text_and_json_agree_on_order() {
    let text = stdout(&ablate(&["plan", "experiments/quick.toml"]));
    let json: serde_json::Value =
        serde_json::from_slice(&ablate(&["plan", "--json", "experiments/quick.toml"]).stdout)
            .unwrap();
    let from_json: Vec<String> = json["trials"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap()[..12].to_string())
        .collect();
    let table = text.split_once("\n#").unwrap().1;
    let from_text: Vec<String> = table
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().nth(1).unwrap().to_string())
        .collect();
    assert_eq!(from_text, from_json);
}

/// The main job's pretraining never trains on the people its studies hold out:
/// every stage on the dataset of a trial it feeds is confined to that trial's
/// training part (`within`, the trial's own split and fold); quick.toml's stages
/// all use other datasets. crates/data/tests/leaks.rs checks the parts themselves.
#[test]
fn quick_pretraining_learns_other_people_than_its_studies_test() {
    let out = ablate(&["plan", "--json", "experiments/quick.toml"]);
    assert!(out.status.success(), "{}", crate::support::stderr(&out));
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let trials = plan["trials"].as_array().unwrap();
    let data_of = |id: &str| {
        trials
            .iter()
            .find(|t| t["id"] == id)
            .map(|t| t["config"]["data"].clone())
            .unwrap()
    };
    let mut checked = 0;
    for t in trials {
        if let Some(init) = t["config"]["init"].as_str() {
            let stage = trials.iter().find(|s| s["id"] == init).unwrap();
            if data_of(init)["kind"] == t["config"]["data"]["kind"]
                && data_of(init)["seed"] == t["config"]["data"]["seed"]
            {
                assert_eq!(
                    stage["config"]["within"]["split"], t["config"]["data"]["split"],
                    "trial {} starts from {init}, trained on its own dataset unconfined",
                    t["id"]
                );
            }
            checked += 1;
        }
    }
    assert!(
        checked > 0,
        "quick.toml has trials that start from pretraining"
    );
}

/// `plan --check` works without the data (a sweep is planned on a laptop for a
/// cluster), and says which datasets are not on this machine.
#[test]
fn plan_check_names_datasets_missing_here() {
    let dir = tempfile::tempdir().unwrap();
    let text = "[sweep]\nname = \"s\"\n[data.utk]\nkind = \"utkface\"\npath = \"no/such/folder\"\n[[study]]\nname = \"d\"\nfixed = { data = \"utk\", tasks = [\"gender\"] }\ngrid.depth = [\"vgg7\", \"vgg9\"]\n";
    std::fs::write(dir.path().join("s.toml"), text).unwrap();
    let out = crate::support::ablate_in(dir.path(), &["plan", "--check", "s.toml"]);
    assert!(out.status.success(), "{}", crate::support::stderr(&out));
    let text = stdout(&out);
    assert!(text.starts_with("ok: s.toml"), "{text}");
    assert!(
        text.contains("note: dataset utk is not on this machine")
            && text.contains("no/such/folder"),
        "{text}"
    );
}
