//! Tests for the synthetic datasets. This file holds correctness tests
//! (determinism, sizes, labels, objects, montages); `signal` checks that the
//! labels are visible and learnable in the pixels; `tools` holds ignored
//! helpers that write preview PNGs, measure throughput and report probes.
#![allow(clippy::unwrap_used)]

mod signal;
mod tools;

use super::traits::FacialHair;
use super::*;

#[test]
fn faces_render_deterministically() {
    let a = SyntheticFaces::new(5, 3, 11);
    let b = SyntheticFaces::new(5, 3, 11);
    for i in 0..a.len() {
        assert_eq!(a.render(i, 32), b.render(i, 32), "image {i}");
        assert_eq!(a.label(i), b.label(i));
    }
    assert_eq!(a.render(4, 64), a.render(4, 64));
    let other = SyntheticFaces::new(5, 3, 12);
    assert_ne!(a.render(0, 32), other.render(0, 32));
    assert_ne!(a.render(0, 32), a.render(1, 32));
}

#[test]
fn renders_do_not_depend_on_thread_count() {
    use rayon::prelude::*;
    let f = SyntheticFaces::new(6, 2, 77);
    let serial: Vec<Vec<u8>> = (0..f.len()).map(|i| f.render(i, 48)).collect();
    for threads in [1, 3] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        let parallel: Vec<Vec<u8>> = pool.install(|| {
            (0..f.len())
                .into_par_iter()
                .map(|i| f.render(i, 48))
                .collect()
        });
        assert_eq!(serial, parallel, "{threads} threads");
    }
}

/// FNV-1a over face and object renders. If this changes, rendering changed:
/// bump [`GENERATOR_VERSION`] and update the constant. If it fails only on a
/// new platform, the cross-machine determinism promise is broken there.
#[test]
fn golden_fingerprint() {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |px: &[u8]| {
        for &b in px {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    };
    let f = SyntheticFaces::new(8, 2, 2024);
    for i in 0..f.len() {
        eat(&f.render(i, 32));
    }
    let o = SyntheticObjects::new(100, 1, 2024);
    for i in (0..100).step_by(7) {
        eat(&o.render(i, 32));
    }
    assert_eq!(GENERATOR_VERSION, 1);
    assert_eq!(
        h, GOLDEN,
        "rendering changed: bump GENERATOR_VERSION, then update GOLDEN to {h:#018x}"
    );
}

const GOLDEN: u64 = 0x6137_fd47_07ea_7d37;

#[test]
fn faces_are_stable_when_the_set_grows() {
    let small = SyntheticFaces::new(3, 4, 5);
    let big = SyntheticFaces::new(9, 4, 5);
    for i in 0..small.len() {
        assert_eq!(small.label(i), big.label(i));
        assert_eq!(small.render(i, 16), big.render(i, 16));
    }
}

#[test]
fn faces_render_at_all_sizes() {
    let f = SyntheticFaces::new(4, 2, 3);
    for size in [16, 32, 64, 224] {
        assert_eq!(f.render(1, size).len(), (size * size * 3) as usize);
    }
    for size in 16..=256 {
        let px = f.render(size as usize % f.len(), size);
        assert_eq!(px.len(), (size * size * 3) as usize);
    }
}

#[test]
fn face_labels_are_valid_identity_major_and_balanced() {
    let f = SyntheticFaces::new(200, 3, 21);
    assert_eq!(f.len(), 600);
    assert!(!f.is_empty());
    assert!(SyntheticFaces::new(0, 3, 1).is_empty());
    let mut female = 0;
    let mut ages = Vec::new();
    for id in 0..200u32 {
        let first = f.label(id as usize * 3);
        for j in 0..3 {
            let l = f.label(id as usize * 3 + j);
            assert_eq!(l.identity, id);
            assert_eq!(l.gender, first.gender, "gender is an identity trait");
            assert!(l.age <= 90);
            assert!(
                l.age.abs_diff(first.age) <= 14,
                "ages of one person stay close"
            );
            ages.push(l.age);
        }
        female += usize::from(first.gender == Gender::Female);
    }
    assert!(
        (70..=130).contains(&female),
        "{female} of 200 identities female"
    );
    assert!(ages.iter().any(|&a| a < 10) && ages.iter().any(|&a| a > 75));
    let distinct: std::collections::BTreeSet<_> = ages.iter().collect();
    assert!(distinct.len() > 60, "ages are graded, not a few steps");
    assert_eq!(Gender::Male.code(), 0);
    assert_eq!(Gender::Female.code(), 1);
}

#[test]
fn facial_hair_only_on_adult_men() {
    let f = SyntheticFaces::new(300, 4, 8);
    let mut bearded = 0;
    for i in 0..f.len() {
        let (who, shot) = f.traits(i);
        if let Some((kind, density)) = shot.facial_hair {
            assert_eq!(who.gender, Gender::Male, "image {i}");
            assert!(shot.age >= 16, "image {i} age {}", shot.age);
            assert!(density > 0.0 && density <= 1.0);
            bearded += usize::from(kind == FacialHair::FullBeard);
        }
        if who.gender == Gender::Female {
            assert!(who.facial_hair.is_none());
        }
    }
    assert!(bearded > 0, "some adult men have full beards");
}

#[test]
fn objects_are_deterministic_class_major_and_distinct() {
    let o = SyntheticObjects::new(12, 3, 4);
    assert_eq!(o.len(), 36);
    assert!(!o.is_empty());
    for i in 0..o.len() {
        assert_eq!(o.label(i), (i / 3) as u32);
    }
    assert_eq!(
        o.render(5, 32),
        SyntheticObjects::new(12, 3, 4).render(5, 32)
    );
    assert_ne!(
        o.render(5, 32),
        SyntheticObjects::new(12, 3, 5).render(5, 32)
    );
    assert_eq!(o.render(0, 224).len(), 224 * 224 * 3);
    assert_eq!(o.class_name(3), "solid-star");
    assert_eq!(o.class_name(11), "striped-square");
    for i in 0..3 {
        assert_ne!(
            o.render(i, 32),
            o.render(i + 3, 32),
            "class 0 vs 1, image {i}"
        );
    }
    // Textures are visible: striped and checker shapes have far more edge
    // energy than solid ones of the same shape.
    let o = SyntheticObjects::new(40, 30, 1);
    let energy = |class: usize| -> f64 {
        (0..30)
            .map(|j| edge_energy(&o.render(class * 30 + j, 32), 32))
            .sum::<f64>()
            / 30.0
    };
    let solid = energy(0);
    assert!(
        energy(10) > 1.5 * solid,
        "striped {:.0} vs solid {solid:.0}",
        energy(10)
    );
    assert!(
        energy(30) > 1.5 * solid,
        "checker {:.0} vs solid {solid:.0}",
        energy(30)
    );
}

/// Mean squared horizontal + vertical pixel difference.
fn edge_energy(px: &[u8], size: usize) -> f64 {
    let at = |x: usize, y: usize, c: usize| f64::from(px[(y * size + x) * 3 + c]);
    let mut e = 0.0;
    for y in 0..size - 1 {
        for x in 0..size - 1 {
            for c in 0..3 {
                e += (at(x + 1, y, c) - at(x, y, c)).powi(2)
                    + (at(x, y + 1, c) - at(x, y, c)).powi(2);
            }
        }
    }
    e / (size * size) as f64
}

#[test]
fn object_class_names_are_unique() {
    for classes in [60, 61, 500, 10_000] {
        let o = SyntheticObjects::new(classes, 1, 0);
        let names: std::collections::HashSet<String> =
            (0..classes).map(|c| o.class_name(c)).collect();
        assert_eq!(names.len(), classes as usize, "{classes} classes");
        assert_eq!(o.render(classes as usize - 1, 16).len(), 16 * 16 * 3);
    }
}

#[test]
fn montage_is_a_png_of_the_expected_size() {
    let f = SyntheticFaces::new(3, 2, 1);
    let tiles: Vec<_> = (0..5)
        .map(|i| (f.render(i, 40), format!("img {i}")))
        .collect();
    let png = montage_png(&tiles, 40, 2).unwrap();
    let img = image::load_from_memory(&png).unwrap().to_rgb8();
    assert_eq!(img.width(), 2 + 2 * 42);
    let rows = 3;
    assert!(img.height() > rows * 42, "captions add height");
    assert!(matches!(
        montage_png(&tiles, 41, 2),
        Err(MontageError::TileLength { index: 0, .. })
    ));
    assert!(matches!(
        montage_png(&[], 40, 2),
        Err(MontageError::NoTiles)
    ));
    assert!(matches!(
        montage_png(&tiles, 40, 0),
        Err(MontageError::ZeroDimension { .. })
    ));
}
