//! A researcher's own study on a csv manifest: the same faces exported with
//! either gender convention (UTKFace 0 = male, IMDB-WIKI 1 = male) train to the
//! same result once each export declares its codes, and an export whose codes
//! are not declared is refused wherever it is read, before anything trains.

use std::path::Path;

use crate::support::{ablate_in, assert_invalid, stderr, stdout};

/// 48 faces whose colour carries the gender, so a net can learn it.
fn images(root: &Path) -> Vec<bool> {
    (0..48)
        .map(|i| {
            let male = i % 2 == 0;
            let path = root.join(format!("img/{i}.jpg"));
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            let tone = if male { 40 } else { 200 };
            image::RgbImage::from_fn(32, 32, |x, y| {
                image::Rgb([tone, (x * 7 + i * 3) as u8, (y * 5) as u8])
            })
            .save_with_format(&path, image::ImageFormat::Jpeg)
            .unwrap();
            male
        })
        .collect()
}

fn manifest(root: &Path, name: &str, genders: &[bool], male: &str, female: &str) {
    let mut text = String::from("path,age,gender\n");
    for (i, m) in genders.iter().enumerate() {
        let g = if *m { male } else { female };
        text.push_str(&format!("img/{i}.jpg,{},{g}\n", 20 + i));
    }
    std::fs::write(root.join(name), text).unwrap();
}

fn sweep(root: &Path, name: &str, csv: &str, declared: &str) {
    let text = format!(
        "[sweep]\nname = \"{name}\"\noutput = \"out-{name}\"\n\
         [data.faces]\nkind = \"csv\"\npath = \"{csv}\"\nage_column = \"age\"\ngender_column = \"gender\"\n{declared}\
         split = {{ train = 0.5, val = 0.25, test = 0.25, seed = 0 }}\n\
         [train]\ninput_size = 32\nepochs = 2\nbatch_size = 8\nthreads = 1\n\
         [[study]]\nname = \"g\"\nfixed = {{ tasks = [\"gender\"], width = 0.125 }}\ngrid.depth = [\"vgg7\"]\n"
    );
    std::fs::write(root.join(format!("{name}.toml")), text).unwrap();
}

/// The one result of sweep `name`.
fn result(root: &Path, name: &str) -> serde_json::Value {
    let db = root.join(format!("out-{name}/ablate.db"));
    crate::run::runtime().block_on(async {
        let store = ablate_store::Store::open_read_only(&db).await.unwrap();
        let rows = store.results(name).await.unwrap();
        store.close().await;
        rows[0].result.clone().unwrap()
    })
}

#[test]
fn both_gender_conventions_train_to_the_same_result_once_declared() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let genders = images(d);
    manifest(d, "utk.csv", &genders, "0", "1");
    manifest(d, "imdb.csv", &genders, "1", "0");
    sweep(
        d,
        "utk",
        "utk.csv",
        "gender_values = { male = [\"0\"], female = [\"1\"] }\n",
    );
    sweep(
        d,
        "imdb",
        "imdb.csv",
        "gender_values = { male = [1], female = [0] }\n",
    );
    for name in ["utk", "imdb"] {
        let out = ablate_in(d, &["run", &format!("{name}.toml")]);
        assert!(
            out.status.success(),
            "{name}: {}\n{}",
            stdout(&out),
            stderr(&out)
        );
    }
    let (a, b) = (result(d, "utk"), result(d, "imdb"));
    assert_eq!(
        a["data_digest"], b["data_digest"],
        "the same labels and pixels"
    );
    assert_eq!(
        a["test"], b["test"],
        "the same training gives the same result"
    );
    assert_eq!(a["best_epoch"], b["best_epoch"]);
}

#[test]
fn undeclared_codes_are_refused_by_run_inspect_and_estimate() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let genders = images(d);
    manifest(d, "imdb.csv", &genders, "1", "0");
    sweep(d, "bare", "imdb.csv", "");
    for args in [
        vec!["run", "bare.toml"],
        vec!["run", "bare.toml", "--dry-run"],
        vec!["data", "inspect", "bare.toml", "faces"],
        vec!["plan", "--estimate", "bare.toml"],
    ] {
        let what = args.join(" ");
        let out = ablate_in(d, &args);
        assert_invalid(&out, &what);
        let err = stderr(&out);
        assert!(
            err.contains("column \"gender\" holds gender codes (\"0\", \"1\")")
                && err.contains("IMDB-WIKI codes 1 = male")
                && err.contains("gender_values"),
            "{what}: {err}"
        );
    }
    assert!(!d.join("out-bare/trials").exists(), "nothing trained");
}
