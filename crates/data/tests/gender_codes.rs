//! A csv gender column of codes is read only as its section declares: the same
//! faces coded both ways (UTKFace 0 = male, IMDB-WIKI 1 = male) give the same
//! labels once declared, and bare codes without a declaration are refused,
//! naming the column, the codes and both conventions. A missing cell drops one
//! label, not the image.

#![allow(clippy::unwrap_used)]

mod fixtures;

use std::path::Path;

use ablate_data::scan;
use ablate_spec::types::{CsvColumns, GenderValues, Source};

/// Six images; genders male, female, female, missing (NaN), male, male; the
/// gender column coded with `male`/`female` for the codes.
fn manifest(root: &Path, name: &str, male: &str, female: &str) -> Source {
    for i in 0..6 {
        fixtures::jpeg(&root.join(format!("img/{i}.jpg")), 32, i * 40);
    }
    let genders = [male, female, female, "NaN", male, male];
    let mut text = String::from("path,age,gender\n");
    for (i, g) in genders.iter().enumerate() {
        text.push_str(&format!("img/{i}.jpg,{},{g}\n", 20 + i));
    }
    fixtures::write(&root.join(name), &text);
    Source::Csv {
        path: root.join(name).to_string_lossy().into(),
        root: None,
        columns: Box::new(CsvColumns {
            path: "path".into(),
            age: Some("age".into()),
            age_std: None,
            gender: Some("gender".into()),
            identity: None,
            class: None,
            gender_values: None,
        }),
    }
}

fn declare(source: Source, male: &str, female: &str) -> Source {
    let Source::Csv {
        path,
        root,
        mut columns,
    } = source
    else {
        unreachable!()
    };
    columns.gender_values = Some(GenderValues {
        male: vec![male.into()],
        female: vec![female.into()],
    });
    Source::Csv {
        path,
        root,
        columns,
    }
}

fn labels(source: &Source) -> Vec<(Option<f32>, Option<u8>)> {
    let mut s = scan(source, Path::new("")).unwrap().samples;
    s.sort_by(|a, b| a.path.cmp(&b.path));
    s.iter().map(|x| (x.age, x.gender)).collect()
}

#[test]
fn both_conventions_give_the_same_labels_once_declared() {
    let dir = tempfile::tempdir().unwrap();
    let utk = declare(manifest(dir.path(), "utk.csv", "0", "1"), "0", "1");
    let imdb = declare(manifest(dir.path(), "imdb.csv", "1", "0"), "1", "0");
    let words = manifest(dir.path(), "words.csv", "Male", "f");
    let want = labels(&words);
    assert_eq!(labels(&utk), want);
    assert_eq!(labels(&imdb), want);
    assert_eq!(want[0], (Some(20.0), Some(0)), "male is 0");
    assert_eq!(want[1].1, Some(1), "female is 1");
    assert_eq!(
        want[3],
        (Some(23.0), None),
        "a missing gender drops that label only: the image keeps its age"
    );
}

#[test]
fn bare_codes_without_a_declaration_are_refused_naming_both_conventions() {
    let dir = tempfile::tempdir().unwrap();
    let err = scan(&manifest(dir.path(), "m.csv", "1", "0"), Path::new("")).unwrap_err();
    assert!(err.is_invalid_input());
    let text = err.to_string();
    for part in [
        "m.csv:2:",
        "column \"gender\"",
        "(\"0\", \"1\")",
        "UTKFace codes 0 = male",
        "IMDB-WIKI codes 1 = male",
        "gender_values = { male = [\"1\"], female = [\"0\"] }",
    ] {
        assert!(text.contains(part), "{part:?} not in: {text}");
    }
}

#[test]
fn a_value_outside_the_declaration_skips_its_row_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let source = declare(manifest(dir.path(), "m.csv", "1", "2"), "1", "0");
    let s = scan(&source, Path::new("")).unwrap();
    assert_eq!(s.samples.len(), 4, "two rows coded 2 are skipped");
    let why = s.skipped[0].reason.to_string();
    assert!(
        why.contains("gender \"2\" is none of the declared values (male: 1; female: 0)"),
        "{why}"
    );
}
