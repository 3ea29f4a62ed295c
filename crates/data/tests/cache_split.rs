//! Caches (build, reuse, rebuild, atomicity, corruption) and split properties.
#![allow(clippy::unwrap_used)]

mod fixtures;

use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use ablate_data::{Cache, DataError, Sample, prepare, split};
use ablate_spec::types::{DatasetSpec, Source, Split};
use proptest::prelude::*;

fn spec(source: Source) -> DatasetSpec {
    DatasetSpec {
        source,
        split: Split::Fractions {
            train: 0.7,
            val: 0.15,
            test: 0.15,
            seed: 0,
        },
        strict: false,
        max_images: None,
    }
}

fn utk(root: &Path) -> DatasetSpec {
    spec(Source::Utkface {
        path: root.to_string_lossy().into(),
    })
}

#[test]
fn cache_round_trip_reuse_and_rebuild() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("utk");
    fixtures::utkface(&data);
    let out = dir.path().join("cache/utk-32px.cache");
    let first = prepare(&utk(&data), Path::new(""), 32, &out, &|_, _| {}).unwrap();
    assert!(!first.reused);
    assert_eq!(
        (first.images, first.skipped),
        (8, 5),
        "the truncated JPEG is skipped at decode time"
    );
    let cache = Cache::load(&out).unwrap();
    assert_eq!((cache.len(), cache.size()), (8, 32));
    assert_eq!(cache.image(7).len(), 32 * 32 * 3);
    assert_eq!(cache.pixels().len(), 8 * 32 * 32 * 3);
    let direct = ablate_data::load_square(&data.join(&cache.samples[0].path), 32).unwrap();
    assert_eq!(
        cache.image(0),
        &direct[..],
        "cached pixels are the decoded ones"
    );
    assert!(
        cache
            .meta
            .skipped
            .iter()
            .any(|s| s.path.starts_with("33_1_0"))
    );
    let leftovers: Vec<_> = std::fs::read_dir(out.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(leftovers.len(), 1, "no temporary file left: {leftovers:?}");

    assert!(
        prepare(&utk(&data), Path::new(""), 32, &out, &|_, _| {})
            .unwrap()
            .reused,
        "unchanged folder: reused"
    );
    assert!(
        !prepare(
            &utk(&data),
            Path::new(""),
            24,
            &dir.path().join("c24"),
            &|_, _| {}
        )
        .unwrap()
        .reused
    );
    fixtures::jpeg(&data.join("60_1_0_20170109.jpg.chip.jpg"), 48, 77);
    let again = prepare(&utk(&data), Path::new(""), 32, &out, &|_, _| {}).unwrap();
    assert!(!again.reused, "an added file changes the fingerprint");
    assert_eq!(again.images, 9);
}

#[test]
fn strict_and_corrupt_caches() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("utk");
    fixtures::utkface(&data);
    let strict = DatasetSpec {
        strict: true,
        ..utk(&data)
    };
    let err = prepare(
        &strict,
        Path::new(""),
        32,
        &dir.path().join("s.cache"),
        &|_, _| {},
    )
    .unwrap_err();
    assert!(matches!(err, DataError::Strict { skipped: 4, .. }), "{err}");
    assert!(!dir.path().join("s.cache").exists());

    let bad = dir.path().join("bad.cache");
    std::fs::write(&bad, b"ABLCACHE garbage").unwrap();
    assert!(matches!(Cache::load(&bad), Err(DataError::BadCache { .. })));
    let out = dir.path().join("ok.cache");
    prepare(&utk(&data), Path::new(""), 16, &out, &|_, _| {}).unwrap();
    let bytes = std::fs::read(&out).unwrap();
    std::fs::write(&out, &bytes[..bytes.len() - 10]).unwrap();
    let err = Cache::load(&out).unwrap_err().to_string();
    assert!(
        err.contains("unusable") && err.contains("ablate data prepare"),
        "{err}"
    );
    assert!(
        !prepare(&utk(&data), Path::new(""), 16, &out, &|_, _| {})
            .unwrap()
            .reused,
        "a truncated cache is rebuilt, not reused"
    );
    assert!(Cache::load(&out).is_ok());
}

#[test]
fn max_images_takes_a_stable_subset() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("utk");
    fixtures::utkface(&data);
    let capped = DatasetSpec {
        max_images: Some(5),
        ..utk(&data)
    };
    let a = ablate_data::scan_dataset(&capped, Path::new("")).unwrap();
    let b = ablate_data::scan_dataset(&capped, Path::new("")).unwrap();
    assert_eq!(a.samples.len(), 5);
    assert_eq!(a.samples, b.samples);
    assert_eq!(a.excluded, 4);
}

fn samples(n: usize, people: Option<u32>) -> Vec<Sample> {
    (0..n)
        .map(|i| Sample {
            path: format!("f{i}.jpg"),
            age: Some(((i * 37) % 90) as f32),
            age_std: None,
            gender: Some((i % 2) as u8),
            identity: people.map(|p| (i as u32).wrapping_mul(2_654_435_761) % p),
            class: None,
        })
        .collect()
}

fn check_partition(s: &[Sample], p: &ablate_data::Parts) {
    let all: Vec<usize> = p
        .train
        .iter()
        .chain(&p.val)
        .chain(&p.test)
        .copied()
        .collect();
    assert_eq!(
        all.iter().collect::<BTreeSet<_>>().len(),
        s.len(),
        "every image in exactly one part"
    );
    assert_eq!(all.len(), s.len());
    let mut owner = HashMap::new();
    for (name, part) in [("train", &p.train), ("val", &p.val), ("test", &p.test)] {
        for i in part {
            if let Some(id) = s[*i].identity {
                assert_eq!(
                    *owner.entry(id).or_insert(name),
                    name,
                    "person {id} in two parts"
                );
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn fractions_partition_and_follow_the_fractions(n in 60usize..600, people in proptest::option::of(20u32..80), seed in 0u64..1000) {
        let s = samples(n, people);
        let sp = Split::Fractions { train: 0.7, val: 0.15, test: 0.15, seed };
        let p = split(&s, &sp, None).unwrap();
        check_partition(&s, &p);
        prop_assert_eq!(&p, &split(&s, &sp, None).unwrap(), "deterministic");
        if people.is_none() {
            let share = p.train.len() as f64 / n as f64;
            prop_assert!((share - 0.7).abs() < 0.1, "train share {share}");
        }
    }

    #[test]
    fn kfold_test_parts_cover_everything_once(n in 40usize..300, people in proptest::option::of(10u32..40), k in 2u32..6, seed in 0u64..100) {
        let s = samples(n, people);
        let sp = Split::Kfold { folds: k, val: 0.1, seed };
        let mut seen = BTreeSet::new();
        for f in 0..k {
            let p = split(&s, &sp, Some(f)).unwrap();
            check_partition(&s, &p);
            for i in &p.test {
                prop_assert!(seen.insert(*i), "image {i} tested in two folds");
            }
        }
        prop_assert_eq!(seen.len(), n);
    }
}

#[test]
fn leave_one_person_out_tests_one_person() {
    let s = samples(200, Some(10));
    let sp = Split::LeaveOnePersonOut {
        subjects: 10,
        val: 0.1,
        seed: 0,
    };
    for f in 0..10 {
        let p = split(&s, &sp, Some(f)).unwrap();
        check_partition(&s, &p);
        assert!(p.test.iter().all(|i| s[*i].identity == Some(f)));
        assert_eq!(
            p.test.len(),
            s.iter().filter(|x| x.identity == Some(f)).count()
        );
    }
    assert!(matches!(
        split(&s, &sp, Some(10)),
        Err(DataError::NoSuchFold { fold: 10, .. })
    ));
}

#[test]
fn tiny_sets_fail_clearly() {
    let s = samples(2, None);
    let err = split(
        &s,
        &Split::Fractions {
            train: 0.7,
            val: 0.15,
            test: 0.15,
            seed: 0,
        },
        None,
    )
    .unwrap_err();
    assert!(err.to_string().contains("part empty"), "{err}");
}

#[test]
fn real_utkface_split_is_stratified() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/utkface-64");
    if !root.is_dir() {
        eprintln!("skipped: {} is absent", root.display());
        return;
    }
    let s = ablate_data::scan(
        &Source::Utkface {
            path: root.to_string_lossy().into(),
        },
        Path::new(""),
    )
    .unwrap()
    .samples;
    let p = split(
        &s,
        &Split::Fractions {
            train: 0.7,
            val: 0.1,
            test: 0.2,
            seed: 0,
        },
        None,
    )
    .unwrap();
    check_partition(&s, &p);
    let mean = |part: &[usize]| {
        part.iter()
            .map(|i| f64::from(s[*i].age.unwrap()))
            .sum::<f64>()
            / part.len() as f64
    };
    assert!(
        (mean(&p.train) - mean(&p.test)).abs() < 1.0,
        "age strata keep part means close: {} vs {}",
        mean(&p.train),
        mean(&p.test)
    );
    assert!(((p.test.len() as f64 / s.len() as f64) - 0.2).abs() < 0.01);
}

/// `max_images` keeps each generated image with its own labels: the subset's pixels
/// for `#i` are the full set's pixels for `#i`, for faces and for objects.
#[test]
fn a_max_images_subset_keeps_pixels_with_their_labels() {
    let dir = tempfile::tempdir().unwrap();
    let sources = [
        Source::SyntheticFaces {
            identities: 12,
            images_per_identity: 4,
            seed: 3,
        },
        Source::SyntheticObjects {
            classes: 4,
            images_per_class: 10,
            seed: 3,
        },
    ];
    for (k, source) in sources.into_iter().enumerate() {
        let full = spec(source.clone());
        let part = DatasetSpec {
            max_images: Some(17),
            ..spec(source)
        };
        let a = dir.path().join(format!("full-{k}.cache"));
        let b = dir.path().join(format!("part-{k}.cache"));
        prepare(&full, Path::new(""), 32, &a, &|_, _| {}).unwrap();
        prepare(&part, Path::new(""), 32, &b, &|_, _| {}).unwrap();
        let (full, part) = (Cache::load(&a).unwrap(), Cache::load(&b).unwrap());
        assert_eq!(part.len(), 17);
        let at: HashMap<&str, usize> = (full.samples.iter().enumerate())
            .map(|(i, s)| (s.path.as_str(), i))
            .collect();
        let mut moved = 0;
        for (j, s) in part.samples.iter().enumerate() {
            let i = at[s.path.as_str()];
            assert_eq!(*s, full.samples[i], "labels of {}", s.path);
            assert!(
                part.image(j) == full.image(i),
                "pixels of {} (subset position {j})",
                s.path
            );
            moved += usize::from(i != j);
        }
        assert!(
            moved > 0,
            "the subset must leave some images at a new position"
        );
    }
}
