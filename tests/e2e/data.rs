//! `ablate data inspect | prepare | preview` on fixtures the tests write.

use std::path::Path;

use crate::support::{ablate_in, assert_invalid, stderr, stdout};

fn jpeg(path: &Path, seed: u8) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    image::RgbImage::from_fn(40, 40, |x, y| image::Rgb([seed, x as u8 * 6, y as u8 * 6]))
        .save_with_format(path, image::ImageFormat::Jpeg)
        .unwrap();
}

fn utkface(root: &Path) {
    for (i, name) in [
        "20_0_0_1.jpg.chip.jpg",
        "35_1_2_2.jpg.chip.jpg",
        "61_1_3.jpg.chip.jpg",
        "8_0_1_4.jpg",
    ]
    .iter()
    .enumerate()
    {
        jpeg(&root.join(name), i as u8 * 50);
    }
    jpeg(&root.join("selfie.jpg"), 1);
    std::fs::write(root.join("44_0_0_5.jpg"), b"\xff\xd8\xff\xe0 truncated").unwrap();
}

#[test]
fn inspect_reports_counts_and_skips() {
    let dir = tempfile::tempdir().unwrap();
    utkface(&dir.path().join("utk"));
    let out = ablate_in(dir.path(), &["data", "inspect", "--kind", "utkface", "utk"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("images: 4 usable, 2 skipped"), "{text}");
    assert!(
        text.contains("gender: 2 male (50.0%), 2 female (50.0%)"),
        "{text}"
    );
    assert!(
        text.contains("name does not parse: 1") && text.contains("unreadable or corrupt image: 1"),
        "{text}"
    );
    assert!(text.contains("selfie.jpg: name does not parse"), "{text}");

    let strict = ablate_in(
        dir.path(),
        &["data", "inspect", "--kind", "utkface", "utk", "--strict"],
    );
    assert_invalid(&strict, "--strict with skipped files");
    assert!(stderr(&strict).contains("2 files skipped (--strict)"));

    let json = ablate_in(
        dir.path(),
        &["data", "inspect", "--kind", "utkface", "utk", "--json"],
    );
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(v["summary"]["images"], 4);
    assert_eq!(v["summary"]["skipped_by_reason"]["name does not parse"], 1);
}

#[test]
fn inspect_through_a_sweep_file_and_bad_arguments() {
    let dir = tempfile::tempdir().unwrap();
    utkface(&dir.path().join("data/utk"));
    let sweep = "[sweep]\nname = \"t\"\n[data.faces]\nkind = \"utkface\"\npath = \"../data/utk\"\nstrict = true\n[[study]]\nname = \"s\"\nfixed.tasks = [\"gender\"]\ngrid.depth = [\"vgg7\"]\n";
    std::fs::create_dir_all(dir.path().join("exp")).unwrap();
    std::fs::write(dir.path().join("exp/t.toml"), sweep).unwrap();
    let out = ablate_in(dir.path(), &["data", "inspect", "exp/t.toml", "faces"]);
    assert_invalid(&out, "strict dataset with skips");
    assert!(
        stdout(&out).contains("images: 4 usable, 2 skipped"),
        "paths resolve against the sweep file's folder: {}",
        stdout(&out)
    );

    let out = ablate_in(dir.path(), &["data", "inspect", "exp/t.toml", "nope"]);
    assert_invalid(&out, "unknown dataset name");
    assert!(
        stderr(&out).contains("has no dataset \"nope\"; its datasets are: faces"),
        "{}",
        stderr(&out)
    );
    let out = ablate_in(dir.path(), &["data", "inspect", "--kind", "morph", "x"]);
    assert_invalid(&out, "unknown kind");
    assert!(
        stderr(&out).contains("expected one of utkface, lfw"),
        "{}",
        stderr(&out)
    );
    let out = ablate_in(
        dir.path(),
        &["data", "inspect", "--kind", "lfw", "missing-folder"],
    );
    assert_invalid(&out, "missing folder");
    assert!(
        stderr(&out).contains("missing-folder does not exist"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn prepare_builds_then_reuses_caches() {
    let dir = tempfile::tempdir().unwrap();
    let sweep = "[sweep]\nname = \"p\"\noutput = \"out\"\n[data.faces]\nkind = \"synthetic-faces\"\nidentities = 6\nimages_per_identity = 3\n[train]\ninput_size = 32\n[[study]]\nname = \"s\"\nfixed.tasks = [\"gender\"]\ngrid.depth = [\"vgg7\"]\ngrid.input_size = [32, 40]\n";
    std::fs::write(dir.path().join("p.toml"), sweep).unwrap();
    let first = ablate_in(dir.path(), &["data", "prepare", "p.toml"]);
    assert!(first.status.success(), "{}", stderr(&first));
    let text = stdout(&first);
    assert!(
        text.contains("faces @ 32px: 18 images, 0 skipped")
            && text.contains("faces @ 40px: 18 images"),
        "{text}"
    );
    assert!(dir.path().join("out/cache/faces-32px.cache").is_file());
    assert!(dir.path().join("out/cache/faces-40px.cache").is_file());
    let second = stdout(&ablate_in(dir.path(), &["data", "prepare", "p.toml"]));
    assert_eq!(second.matches("up to date").count(), 2, "{second}");
}

#[test]
fn preview_writes_a_png_montage() {
    let dir = tempfile::tempdir().unwrap();
    for kind in ["synthetic-faces", "synthetic-objects"] {
        let out = ablate_in(
            dir.path(),
            &[
                "data", "preview", kind, "--out", "m.png", "--count", "9", "--size", "32",
            ],
        );
        assert!(out.status.success(), "{}", stderr(&out));
        let img = image::open(dir.path().join("m.png")).unwrap();
        assert!(
            img.width() >= 3 * 32 && img.height() >= 3 * 32,
            "{}x{}",
            img.width(),
            img.height()
        );
    }
    let bad = ablate_in(
        dir.path(),
        &["data", "preview", "utkface", "--out", "m.png"],
    );
    assert_invalid(&bad, "preview of a real dataset");
}

/// A sweep whose real dataset is absent fails before any trial starts, naming the
/// folder and where to get the data.
#[test]
fn a_missing_dataset_stops_the_run_before_any_trial() {
    let dir = tempfile::tempdir().unwrap();
    let text = "[sweep]\nname = \"m\"\noutput = \"out\"\n[data.utk]\nkind = \"utkface\"\npath = \"../nowhere/utkface-64\"\n[train]\ninput_size = 32\nepochs = 1\n[[study]]\nname = \"s\"\nfixed = { data = \"utk\", tasks = [\"gender\"], width = 0.125 }\ngrid.depth = [\"vgg7\"]\n";
    std::fs::write(dir.path().join("m.toml"), text).unwrap();
    let out = ablate_in(dir.path(), &["run", "m.toml"]);
    assert_invalid(&out, "a missing dataset");
    let err = stderr(&out);
    assert!(
        err.contains("../nowhere/utkface-64 does not exist")
            && err.contains("https://susanqq.github.io/UTKFace/"),
        "{err}"
    );
    assert!(!dir.path().join("out/trials").exists(), "no trial started");
}

/// A sweep whose caches would not fit on the disk is refused before anything is
/// built, with the numbers; caches already built need no space.
#[test]
fn a_sweep_whose_caches_do_not_fit_is_refused_with_the_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let text = "[sweep]\nname = \"d\"\noutput = \"out\"\n[data.faces]\nkind = \"synthetic-faces\"\nidentities = 20\nimages_per_identity = 4\n[train]\ninput_size = 32\nepochs = 1\nthreads = 1\n[[study]]\nname = \"s\"\nfixed = { tasks = [\"gender\"], width = 0.125 }\ngrid.depth = [\"vgg7\"]\n";
    std::fs::write(dir.path().join("d.toml"), text).unwrap();
    let small = [("ABLATE_TEST_FREE_BYTES", "100000")];
    let out = crate::support::ablate_env(dir.path(), &["run", "d.toml"], &small);
    assert!(!out.status.success());
    let err = stderr(&out);
    // 80 images of 32 x 32 x 3 bytes (+ 512 for labels): 0.3 MiB, twice that
    // while written.
    assert!(
        err.contains("do not fit on the disk")
            && err.contains("faces at 32px: 80 images, 0.3 MiB (0.3 MiB in all, 0.5 MiB while the largest is written), and 0.1 MiB is free")
            && err.contains("[sweep] output"),
        "{err}"
    );
    assert!(
        !dir.path().join("out/cache").exists()
            || std::fs::read_dir(dir.path().join("out/cache"))
                .unwrap()
                .next()
                .is_none(),
        "nothing built"
    );
    assert!(!dir.path().join("out/trials").exists(), "no trial started");
    let out = crate::support::ablate_env(dir.path(), &["run", "d.toml"], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    // Built now: the same small disk is enough for a rerun.
    let out = crate::support::ablate_env(dir.path(), &["run", "d.toml", "--rerun-failed"], &small);
    assert!(out.status.success(), "{}", stderr(&out));
}

/// `ablate data split` exports the parts the worker trained on: the counts equal
/// the result's, no image or person is in two parts, and a wrong file is named.
#[test]
fn split_exports_the_images_a_trial_used() {
    let dir = tempfile::tempdir().unwrap();
    let text = "[sweep]\nname = \"x\"\noutput = \"out\"\n[data.faces]\nkind = \"synthetic-faces\"\nidentities = 20\nimages_per_identity = 4\n\
                [train]\ninput_size = 32\nepochs = 1\nthreads = 1\n[[study]]\nname = \"s\"\nfixed = { depth = \"vgg7\", width = 0.125 }\ngrid.tasks = [[\"gender\"]]\n";
    std::fs::write(dir.path().join("x.toml"), text).unwrap();
    let out = ablate_in(dir.path(), &["run", "x.toml", "--cpu-slots", "1"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let trials = dir.path().join("out/trials");
    let trial = std::fs::read_dir(&trials)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let out = ablate_in(
        dir.path(),
        &[
            "data",
            "split",
            trial.join("trial.json").to_str().unwrap(),
            "--out",
            "split.csv",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let mut rows = csv::Reader::from_path(dir.path().join("split.csv")).unwrap();
    let mut count = std::collections::BTreeMap::<String, usize>::new();
    let mut part_of_person = std::collections::BTreeMap::<String, String>::new();
    let mut seen = std::collections::BTreeSet::new();
    for r in rows.records() {
        let r = r.unwrap();
        assert!(
            seen.insert(r[0].to_string()),
            "image {} listed twice",
            &r[0]
        );
        *count.entry(r[1].to_string()).or_default() += 1;
        let before = part_of_person.insert(r[5].to_string(), r[1].to_string());
        assert!(
            before.is_none_or(|p| p == r[1]),
            "person {} in two parts",
            &r[5]
        );
    }
    let result: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(trial.join("result.json")).unwrap()).unwrap();
    for part in ["train", "val", "test"] {
        assert_eq!(
            count.get(part).copied().unwrap_or(0) as u64,
            result["images"][part].as_u64().unwrap(),
            "{part}"
        );
    }
    let out = ablate_in(dir.path(), &["data", "split", "x.toml"]);
    assert_invalid(&out, "a sweep file given as a trial file");
    assert!(
        stderr(&out).contains("x.toml: not a trial file"),
        "{}",
        stderr(&out)
    );
}

/// The real-data study, copied where ../shared/data is absent, stops before any
/// trial and says which folder is missing and where to get the data.
#[test]
fn the_real_study_without_its_data_names_the_folder_and_the_source() {
    let dir = tempfile::tempdir().unwrap();
    let exp = dir.path().join("clone/experiments");
    std::fs::create_dir_all(&exp).unwrap();
    std::fs::copy(
        crate::support::repo().join("experiments/utkface-cpu.toml"),
        exp.join("utkface-cpu.toml"),
    )
    .unwrap();
    let out = ablate_in(&exp, &["run", "utkface-cpu.toml"]);
    assert_invalid(&out, "the real study without its data");
    let err = stderr(&out);
    // Both missing folders at once, and no cache built first.
    assert!(
        err.starts_with("error: 2 datasets are missing, and nothing was prepared or trained")
            && err.contains("../../shared/data/utkface-64 does not exist")
            && err.contains("https://susanqq.github.io/UTKFace/")
            && err.contains("../../shared/data/lfw-64 does not exist")
            && err.contains("https://vis-www.cs.umass.edu/lfw/"),
        "{err}"
    );
    let out = dir.path().join("clone/runs/utkface-cpu");
    assert!(
        !out.join("trials").exists() && !out.join("cache").exists(),
        "nothing prepared or started"
    );
}

/// Messages and defaults name public sources and layouts, never this
/// repository's development data.
#[test]
fn no_message_or_default_points_at_the_development_data() {
    let dir = tempfile::tempdir().unwrap();
    let text = "[sweep]\nname = \"s\"\n[data.utk]\nkind = \"utkface\"\n[data.people]\nkind = \"lfw\"\npath = \"nowhere/lfw\"\n[[study]]\nname = \"d\"\nfixed = { data = \"utk\", tasks = [\"gender\"] }\ngrid.depth = [\"vgg7\", \"vgg9\"]\n";
    std::fs::write(dir.path().join("s.toml"), text).unwrap();
    let no_path = ablate_in(dir.path(), &["plan", "--check", "s.toml"]);
    assert_invalid(&no_path, "utkface without path");
    std::fs::write(
        dir.path().join("s.toml"),
        text.replace(
            "kind = \"utkface\"\n",
            "kind = \"utkface\"\npath = \"nowhere/utk\"\n",
        ),
    )
    .unwrap();
    let missing = ablate_in(dir.path(), &["run", "s.toml"]);
    assert_invalid(&missing, "utkface folder missing");
    let inspect = ablate_in(dir.path(), &["data", "inspect", "s.toml", "people"]);
    assert_invalid(&inspect, "lfw folder missing");
    let bench = ablate_in(dir.path(), &["bench", "data"]);
    assert_invalid(&bench, "bench data without --path");
    for (what, out) in [
        ("plan", &no_path),
        ("run", &missing),
        ("inspect", &inspect),
        ("bench", &bench),
    ] {
        let err = stderr(out);
        assert!(
            !err.contains("shared") && !err.contains("this project"),
            "{what}: {err}"
        );
    }
    assert!(stderr(&missing).contains("https://susanqq.github.io/UTKFace/"));
    assert!(stderr(&inspect).contains("male_names.txt and female_names.txt"));
    assert!(stderr(&bench).contains("--path"), "{}", stderr(&bench));
}

/// `data inspect` on a csv manifest names the manifest and the folder its
/// image paths are relative to.
#[test]
fn inspect_of_a_csv_manifest_names_where_it_is() {
    let dir = tempfile::tempdir().unwrap();
    for i in 0..3u8 {
        jpeg(&dir.path().join(format!("img/{i}.jpg")), i * 60);
    }
    std::fs::write(
        dir.path().join("m.csv"),
        "path,age,gender\nimg/0.jpg,20,male\nimg/1.jpg,30,F\nimg/2.jpg,NaN,female\n",
    )
    .unwrap();
    let sweep = "[sweep]\nname = \"t\"\n[data.faces]\nkind = \"csv\"\npath = \"m.csv\"\nage_column = \"age\"\ngender_column = \"gender\"\n[[study]]\nname = \"s\"\nfixed.tasks = [\"gender\"]\ngrid.depth = [\"vgg7\"]\n";
    std::fs::write(dir.path().join("t.toml"), sweep).unwrap();
    let out = ablate_in(dir.path(), &["data", "inspect", "t.toml", "faces"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let first = stdout(&out).lines().next().unwrap_or_default().to_string();
    assert_eq!(first, "csv dataset at m.csv (image paths relative to .)");
    assert!(
        stdout(&out).contains("images: 3 usable, 0 skipped"),
        "a missing age keeps the image: {}",
        stdout(&out)
    );
}
