//! Stored results that no longer stand for their trial (other data content, another
//! trainer version, replaced pretraining) are shown by `ablate status`, rerun by
//! `ablate run` (the old result kept aside) or kept with `--keep-stale`; a worker
//! handed a cache other than the one its trial file names refuses to train.

use std::path::Path;

use crate::run::{results, runtime};
use crate::support::{ablate_env as ablate, stderr, stdout};

const FAKE: &str = env!("CARGO_BIN_EXE_ablate-fake-worker");

fn jpeg(path: &Path, seed: u8) {
    image::RgbImage::from_fn(32, 32, |x, y| {
        image::Rgb([seed, (x * 7) as u8 ^ seed, (y * 5) as u8])
    })
    .save_with_format(path, image::ImageFormat::Jpeg)
    .unwrap();
}

/// 40 UTKFace-named faces: ages 10..89, both genders.
fn faces(root: &Path) {
    std::fs::create_dir_all(root).unwrap();
    for i in 0..40u32 {
        let name = format!("{}_{}_0_2017{i:04}.jpg.chip.jpg", 10 + 2 * i, i % 2);
        jpeg(&root.join(name), i as u8 * 6);
    }
}

fn status(dir: &Path) -> serde_json::Value {
    let out = ablate(dir, &["status", "s.toml", "--json"], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn superseded(dir: &Path, trial: &str) -> Vec<ablate_store::SupersededResult> {
    runtime().block_on(async {
        let store = ablate_store::Store::open_read_only(&dir.join("out/ablate.db"))
            .await
            .unwrap();
        let s = store.superseded(trial).await.unwrap();
        store.close().await;
        s
    })
}

#[test]
fn edited_data_makes_results_stale_and_a_run_retrains_them() {
    let dir = tempfile::tempdir().unwrap();
    faces(&dir.path().join("utk"));
    let text = "[sweep]\nname = \"s\"\noutput = \"out\"\n\
        [data.utk]\nkind = \"utkface\"\npath = \"utk\"\n\
        [train]\ninput_size = 32\nepochs = 1\nbatch_size = 16\nthreads = 1\n\
        [[study]]\nname = \"t\"\nfixed = { depth = \"vgg7\", width = 0.125, encoding = \"ldae\" }\ngrid.tasks = [[\"gender\"], [\"age\"]]\n";
    std::fs::write(dir.path().join("s.toml"), text).unwrap();
    let run = |args: &[&str]| {
        let mut a = vec!["run", "s.toml"];
        a.extend(args);
        let out = ablate(dir.path(), &a, &[]);
        assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
        stdout(&out)
    };
    run(&[]);
    let before = results(dir.path());
    assert!(before.iter().all(|r| r.state == "succeeded"));
    assert!(status(dir.path())["stale"].as_array().unwrap().is_empty());

    // Relabel one image (age 10 -> 11): the same trial ids, other data.
    let utk = dir.path().join("utk");
    std::fs::rename(
        utk.join("10_0_0_20170000.jpg.chip.jpg"),
        utk.join("11_0_0_20170000.jpg.chip.jpg"),
    )
    .unwrap();
    // Status builds nothing: it sees the cache is older than the data.
    let st = status(dir.path());
    assert_eq!(st["outdated_caches"].as_array().unwrap().len(), 1, "{st}");
    // --keep-stale rebuilds the cache, finds both results stale, and keeps them.
    let kept = run(&["--keep-stale"]);
    assert!(kept.contains("2 stale result(s) kept"), "{kept}");
    let st = status(dir.path());
    let stale = st["stale"].as_array().unwrap();
    assert_eq!(stale.len(), 2, "{st}");
    assert!(
        stale[0]["reason"]
            .as_str()
            .unwrap()
            .contains("its data changed"),
        "{st}"
    );
    let report = std::fs::read_to_string(dir.path().join("reports/s/report.md")).unwrap();
    assert!(report.contains("**2 results are stale**"), "{report}");
    let text = stdout(&ablate(dir.path(), &["status", "s.toml"], &[]));
    assert!(text.contains("2 stale result(s)"), "{text}");
    let dry = run(&["--dry-run"]);
    assert!(
        dry.contains("2 of 2 trials would run") && dry.contains("(stale: its data changed"),
        "{dry}"
    );

    let rerun = run(&[]);
    assert!(
        rerun.contains("2 succeeded now") && rerun.contains("2 stale result(s) rerun"),
        "{rerun}"
    );
    assert!(status(dir.path())["stale"].as_array().unwrap().is_empty());
    for r in &before {
        let old = superseded(dir.path(), &r.id);
        assert_eq!(old.len(), 1, "the old result is kept aside");
        assert!(old[0].reason.contains("its data changed"));
        assert_eq!(old[0].result, r.result.as_ref().unwrap().to_string());
        // Its files, checkpoint included, are kept under attempts/<its attempt>/.
        let kept = dir
            .path()
            .join("out/trials")
            .join(&r.id[..12])
            .join("attempts")
            .join(old[0].attempt.to_string());
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(kept.join("result.json")).unwrap())
                .unwrap();
        assert_eq!(&json, r.result.as_ref().unwrap());
        assert!(kept.join("checkpoint.safetensors").is_file());
    }
    let report = std::fs::read_to_string(dir.path().join("reports/s/report.md")).unwrap();
    assert!(!report.contains("stale"), "{report}");
    // Nothing more to do.
    let again = run(&[]);
    assert!(
        again.contains("0 succeeded now, 2 had succeeded before"),
        "{again}"
    );
}

#[test]
fn a_worker_handed_another_cache_than_its_trial_file_names_fails_bad_config() {
    let dir = tempfile::tempdir().unwrap();
    let text = "[sweep]\nname = \"s\"\noutput = \"out\"\n[data.faces]\nkind = \"synthetic-faces\"\nidentities = 10\nimages_per_identity = 4\n\
        [train]\ninput_size = 32\nepochs = 1\nthreads = 1\n\
        [[study]]\nname = \"t\"\nfixed = { depth = \"vgg7\", width = 0.125, tasks = [\"gender\"] }\ngrid.lr = [0.01]\n";
    std::fs::write(dir.path().join("s.toml"), text).unwrap();
    let out = ablate(dir.path(), &["run", "s.toml"], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let trials = dir.path().join("out/trials");
    let folder = std::fs::read_dir(&trials)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let file = folder.join("trial.json");
    let mut input: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    let real = input["data_digest"].as_str().unwrap().to_string();
    assert_eq!(real.len(), 32);
    input["data_digest"] = "0123456789abcdef0123456789abcdef".into();
    input["run_dir"] = dir.path().join("elsewhere").display().to_string().into();
    let edited = dir.path().join("edited.json");
    std::fs::write(&edited, input.to_string()).unwrap();
    let w = ablate(dir.path(), &["worker", edited.to_str().unwrap()], &[]);
    assert_eq!(
        w.status.code(),
        Some(i32::from(
            ablate_protocol::FailureClass::BadConfig.exit_code()
        ))
    );
    let err = format!("{}{}", stdout(&w), stderr(&w));
    assert!(
        err.contains(&real) && err.contains("0123456789abcdef0123456789abcdef"),
        "{err}"
    );
}

#[test]
fn a_new_worker_version_reruns_every_result_it_made() {
    let dir = tempfile::tempdir().unwrap();
    let write = |version: &str| {
        let text = format!(
            "[sweep]\nname = \"s\"\noutput = \"out\"\n[worker]\ncommand = [\"{FAKE}\"]\nversion = \"{version}\"\n\
             [data.faces]\nkind = \"synthetic-faces\"\n[data.objects]\nkind = \"synthetic-objects\"\n[train]\nthreads = 1\n\
             [pretrain.general]\ntask = \"general\"\ndata = \"objects\"\n\
             [[study]]\nname = \"p\"\nfixed = {{ tasks = [\"gender\"], depth = \"vgg7\" }}\ngrid.pretrain = [\"none\", \"general\"]\n"
        );
        std::fs::write(dir.path().join("s.toml"), text).unwrap();
    };
    write("a1");
    let out = ablate(dir.path(), &["run", "s.toml"], &[("FAKE_VERSION", "a1")]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(status(dir.path())["stale"].as_array().unwrap().is_empty());
    write("a2");
    let st = status(dir.path());
    let stale = st["stale"].as_array().unwrap();
    assert_eq!(stale.len(), 3, "{st}");
    assert!(stale.iter().all(|s| {
        s["reason"]
            .as_str()
            .unwrap()
            .contains("trainer version a1 made it; the current one is a2")
    }));
    let out = ablate(dir.path(), &["run", "s.toml"], &[("FAKE_VERSION", "a2")]);
    assert!(stdout(&out).contains("3 succeeded now"), "{}", stdout(&out));
    assert!(status(dir.path())["stale"].as_array().unwrap().is_empty());
    let rows = results(dir.path());
    assert!(
        rows.iter()
            .all(|r| r.result.as_ref().unwrap()["trainer_version"] == "a2")
    );
}
