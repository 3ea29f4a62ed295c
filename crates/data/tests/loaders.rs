//! Each loader on generated fixtures (with defects) and, where present, on the real
//! copies in ../shared/data.
#![allow(clippy::unwrap_used)]

mod fixtures;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ablate_data::{DataError, SkipReason, scan};
use ablate_spec::types::{CsvColumns, Source};

fn reasons(s: &ablate_data::Scan) -> BTreeMap<String, &SkipReason> {
    s.skipped
        .iter()
        .map(|k| (k.path.clone(), &k.reason))
        .collect()
}

fn src(kind: &str, root: &Path) -> Source {
    let path = root.to_string_lossy().into_owned();
    match kind {
        "utkface" => Source::Utkface { path },
        "fgnet" => Source::Fgnet { path },
        _ => Source::Lfw {
            path,
            min_images: 1,
        },
    }
}

#[test]
fn utkface_fixture() {
    let dir = tempfile::tempdir().unwrap();
    fixtures::utkface(dir.path());
    let s = scan(&src("utkface", dir.path()), Path::new("")).unwrap();
    assert_eq!(
        s.samples.len(),
        9,
        "8 good + the truncated one, which only decoding finds"
    );
    let r = reasons(&s);
    assert!(matches!(
        r["200_0_0_20170101.jpg.chip.jpg"],
        SkipReason::AgeOutOfRange(_)
    ));
    assert!(matches!(r["30_7_0_20170101.jpg"], SkipReason::BadGender(_)));
    assert!(matches!(r["portrait.jpg"], SkipReason::NameDoesNotParse(_)));
    assert!(matches!(r["notes.txt"], SkipReason::NotAnImage));
    assert_eq!(s.skipped.len(), 4);
    let no_race = s
        .samples
        .iter()
        .find(|x| x.path == "25_0_20170103.jpg.chip.jpg")
        .unwrap();
    assert_eq!((no_race.age, no_race.gender), (Some(25.0), Some(0)));
    assert!(s.samples.iter().all(|x| x.identity.is_none()));
    let bad = ablate_data::check_decodes(&dir.path().join("33_1_0_20170102.jpg.chip.jpg"));
    assert!(matches!(bad, Err(SkipReason::Unreadable(_))));
}

#[test]
fn lfw_fixture_genders_and_min_images() {
    let dir = tempfile::tempdir().unwrap();
    fixtures::lfw(dir.path());
    let s = scan(&src("lfw", dir.path()), Path::new("")).unwrap();
    assert_eq!(s.identities, vec!["Ann_Lee", "Bob_Stone", "Cy_Twain"]);
    assert_eq!(s.samples.len(), 7);
    let g: BTreeMap<&str, Option<u8>> = s
        .samples
        .iter()
        .map(|x| (x.path.as_str(), x.gender))
        .collect();
    assert_eq!(g["Ann_Lee/Ann_Lee_0001.jpg"], Some(1));
    assert_eq!(g["Ann_Lee/Ann_Lee_0004.jpg"], None, "in neither list");
    assert_eq!(g["Bob_Stone/Bob_Stone_0002.jpg"], Some(0));
    assert_eq!(g["Cy_Twain/Cy_Twain_0001.jpg"], None, "in both lists");
    assert!(matches!(
        reasons(&s)["stray.jpg"],
        SkipReason::NameDoesNotParse(_)
    ));
    let only = scan(
        &Source::Lfw {
            path: dir.path().to_string_lossy().into(),
            min_images: 2,
        },
        Path::new(""),
    )
    .unwrap();
    assert_eq!(only.identities, vec!["Ann_Lee", "Bob_Stone"]);
    assert_eq!((only.samples.len(), only.excluded), (6, 1));
}

#[test]
fn fgnet_fixture() {
    let dir = tempfile::tempdir().unwrap();
    fixtures::fgnet(dir.path());
    let s = scan(&src("fgnet", dir.path()), Path::new("")).unwrap();
    assert_eq!(s.identities, vec!["001", "002", "003"]);
    assert_eq!(s.samples.len(), 6);
    let x = s.samples.iter().find(|x| x.path == "002A05b.JPG").unwrap();
    assert_eq!((x.age, x.identity), (Some(5.0), Some(1)));
    assert!(matches!(
        reasons(&s)["001B02.JPG"],
        SkipReason::NameDoesNotParse(_)
    ));
}

#[test]
fn csv_fixture() {
    let dir = tempfile::tempdir().unwrap();
    fixtures::csv(dir.path());
    let columns = CsvColumns {
        path: "path".into(),
        age: Some("age".into()),
        age_std: Some("age_std".into()),
        gender: Some("gender".into()),
        identity: Some("person".into()),
        class: None,
        gender_values: None,
    };
    let source = Source::Csv {
        path: dir.path().join("manifest.csv").to_string_lossy().into(),
        root: None,
        columns: Box::new(columns.clone()),
    };
    let s = scan(&source, Path::new("")).unwrap();
    let by: BTreeMap<&str, &ablate_data::Sample> =
        s.samples.iter().map(|x| (x.path.as_str(), x)).collect();
    assert_eq!(by.len(), 4);
    assert_eq!(
        (
            by["img/0.jpg"].age,
            by["img/0.jpg"].age_std,
            by["img/0.jpg"].gender
        ),
        (Some(23.0), Some(3.5), Some(0))
    );
    assert_eq!(by["img/1.jpg"].gender, Some(1));
    assert_eq!(by["img/2.jpg"].age_std, None);
    assert_eq!(
        by["img/3.jpg"].age, None,
        "an empty cell is an absent label, not a skip"
    );
    assert_eq!(by["img/0.jpg"].identity, by["img/2.jpg"].identity);
    let r = reasons(&s);
    assert!(
        matches!(r["img/4.jpg"], SkipReason::BadRow(m) if m.contains("line 6") && m.contains("\"abc\""))
    );
    assert!(matches!(r["img/5.jpg"], SkipReason::BadRow(m) if m.contains("gender \"x\"")));
    assert!(matches!(r["img/missing.jpg"], SkipReason::Missing));
    assert!(matches!(r["img/0.txt"], SkipReason::NotAnImage));

    let wrong = CsvColumns {
        age: Some("years".into()),
        ..columns
    };
    let source = Source::Csv {
        path: dir.path().join("manifest.csv").to_string_lossy().into(),
        root: None,
        columns: Box::new(wrong),
    };
    let err = scan(&source, Path::new("")).unwrap_err().to_string();
    assert!(
        err.contains("manifest.csv:1: no column \"years\"")
            && err.contains("columns are: path, age"),
        "{err}"
    );
}

#[test]
fn missing_and_empty_folders_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let err = scan(&src("utkface", &dir.path().join("nope")), Path::new("")).unwrap_err();
    assert!(matches!(err, DataError::NotFound { .. }), "{err}");
    assert!(err.to_string().contains("does not exist"));
    fixtures::write(&dir.path().join("empty/readme.md"), "x");
    let err = scan(&src("fgnet", &dir.path().join("empty")), Path::new(""))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("no usable image (1 skipped, e.g. readme.md: not an image)")
            && err.contains("SSSAnn"),
        "{err}"
    );
}

fn shared(name: &str) -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data")
        .join(name);
    if p.is_dir() {
        Some(p)
    } else {
        eprintln!(
            "skipped: {} is absent (the real-data checks need ../shared/data)",
            p.display()
        );
        None
    }
}

#[test]
fn real_utkface_counts() {
    let Some(root) = shared("utkface-64") else {
        return;
    };
    let s = scan(&src("utkface", &root), Path::new("")).unwrap();
    assert_eq!(s.samples.len(), 23_707);
    assert!(
        s.skipped.is_empty(),
        "{:?}",
        &s.skipped[..s.skipped.len().min(3)]
    );
    let male = s.samples.iter().filter(|x| x.gender == Some(0)).count();
    assert_eq!(male, 12_390);
    assert_eq!(
        s.samples.len() - male,
        11_317,
        "11,314 with a race field + 3 without"
    );
    assert!(
        s.samples
            .iter()
            .all(|x| (1.0..=116.0).contains(&x.age.unwrap()))
    );
}

#[test]
fn real_lfw_counts() {
    let Some(root) = shared("lfw-64") else { return };
    let s = scan(&src("lfw", &root), Path::new("")).unwrap();
    assert_eq!(s.samples.len(), 13_233);
    assert_eq!(s.identities.len(), 5_749);
    let with_gender = s.samples.iter().filter(|x| x.gender.is_some()).count();
    assert_eq!(
        with_gender,
        13_233 - 5 - 4,
        "5 files in both lists, 4 in neither"
    );
    let ten = Source::Lfw {
        path: root.to_string_lossy().into(),
        min_images: 10,
    };
    assert_eq!(scan(&ten, Path::new("")).unwrap().identities.len(), 158);
}
