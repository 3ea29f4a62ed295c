//! A stand-in scan for a dataset that is not on this machine yet, built from the
//! size its `[data.NAME] expected` declares, so `ablate plan --estimate` can
//! price a sweep before its data is downloaded. Only the estimate uses it: a run
//! always scans the real files.
//!
//! It has the declared number of images, each with every label its kind of
//! source provides (a csv source: the columns it names): what can be counted
//! without the files. People and classes take turns over the images, so splits by
//! person see the declared number of people; ages take turns over 0-100, the
//! paper's age range, which sizes the age heads as the paper's were.

use ablate_spec::types::{DatasetSpec, Expected, Source};

use crate::sample::{Sample, Scan};

/// Which labels a source's samples carry: age, gender, identity, class.
fn labels(source: &Source) -> (bool, bool, bool, bool) {
    match source {
        Source::SyntheticFaces { .. } => (true, true, true, false),
        Source::SyntheticObjects { .. } => (false, false, false, true),
        Source::Utkface { .. } => (true, true, false, false),
        Source::Lfw { .. } => (false, true, true, false),
        Source::Fgnet { .. } => (true, false, true, false),
        Source::Csv { columns, .. } => (
            columns.age.is_some(),
            columns.gender.is_some(),
            columns.identity.is_some(),
            columns.class.is_some(),
        ),
    }
}

/// The stand-in scan of `spec` with the size `e` declares (at most `max_images`).
/// Identities or classes its labels need but `e` does not give count as one, which
/// the caller should refuse first (`declared_gaps`).
pub fn declared_scan(spec: &DatasetSpec, e: &Expected) -> Scan {
    let (age, gender, identity, class) = labels(&spec.source);
    let n = spec.max_images.map_or(e.images, |m| m.min(e.images)) as usize;
    let people = e.identities.unwrap_or(1).max(1) as usize;
    let classes = e.classes.unwrap_or(1).max(1) as usize;
    let samples = (0..n)
        .map(|i| Sample {
            path: format!("#{i}"),
            age: age.then_some((i % 101) as f32),
            age_std: None,
            gender: gender.then_some((i % 2) as u8),
            identity: identity.then_some((i % people) as u32),
            class: class.then_some((i % classes) as u32),
        })
        .collect();
    let names = |on: bool, count: usize, prefix: &str| -> Vec<String> {
        if on {
            (0..count).map(|k| format!("{prefix}{k}")).collect()
        } else {
            Vec::new()
        }
    };
    Scan {
        samples,
        skipped: Vec::new(),
        excluded: 0,
        exclusion_rule: None,
        identities: names(identity, people, "person-"),
        classes: names(class, classes, "class-"),
        stamps: Vec::new(),
    }
}

/// The counts `e` leaves out that `spec`'s labels need (`identities`, `classes`).
pub fn declared_gaps(spec: &DatasetSpec, e: &Expected) -> Vec<&'static str> {
    let (_, _, identity, class) = labels(&spec.source);
    let mut gaps = Vec::new();
    if identity && e.identities.is_none() {
        gaps.push("identities");
    }
    if class && e.classes.is_none() {
        gaps.push("classes");
    }
    gaps
}

#[cfg(test)]
mod tests {
    use super::*;
    use ablate_spec::types::{CsvColumns, Split};

    fn csv(identity: bool) -> DatasetSpec {
        DatasetSpec {
            source: Source::Csv {
                path: "m.csv".into(),
                root: None,
                columns: Box::new(CsvColumns {
                    path: "path".into(),
                    age: (!identity).then(|| "age".into()),
                    age_std: None,
                    gender: (!identity).then(|| "gender".into()),
                    identity: identity.then(|| "identity".into()),
                    class: None,
                    gender_values: None,
                }),
            },
            split: Split::Fractions {
                train: 0.8,
                val: 0.1,
                test: 0.1,
                seed: 0,
            },
            strict: false,
            max_images: None,
        }
    }

    #[test]
    fn a_declared_set_has_its_size_and_only_its_sources_labels() {
        let e = Expected {
            images: 1000,
            identities: Some(40),
            classes: None,
        };
        let faces = declared_scan(&csv(false), &e);
        assert_eq!(faces.samples.len(), 1000);
        assert!(
            faces
                .samples
                .iter()
                .all(|s| s.age.is_some() && s.gender.is_some())
        );
        assert!(faces.samples.iter().all(|s| s.identity.is_none()));
        let ages: Vec<f32> = faces.samples.iter().filter_map(|s| s.age).collect();
        assert_eq!(ages.iter().copied().fold(f32::MIN, f32::max), 100.0);
        let people = declared_scan(&csv(true), &e);
        assert_eq!(people.identities.len(), 40);
        let mut seen: Vec<u32> = people.samples.iter().filter_map(|s| s.identity).collect();
        seen.sort_unstable();
        seen.dedup();
        assert_eq!(seen.len(), 40);
        let mut capped = csv(true);
        capped.max_images = Some(300);
        assert_eq!(declared_scan(&capped, &e).samples.len(), 300);
    }

    #[test]
    fn counts_the_labels_need_are_named_when_left_out() {
        let e = Expected {
            images: 10,
            identities: None,
            classes: None,
        };
        assert_eq!(declared_gaps(&csv(true), &e), vec!["identities"]);
        assert!(declared_gaps(&csv(false), &e).is_empty());
    }
}
