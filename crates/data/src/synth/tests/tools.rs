//! Ignored helpers, run on demand:
//! `cargo test -p ablate-data --release -- --ignored --nocapture`.

use super::super::traits;
use super::super::*;
use super::signal::linear_probe;

/// Writes `/tmp/faces.png`, `/tmp/faces32.png` (upscaled 2x), `/tmp/faces128.png`, `/tmp/ages.png` and
/// `/tmp/objects.png` for eyeballing.
#[test]
#[ignore = "writes preview PNGs to /tmp"]
fn write_previews() {
    let f = SyntheticFaces::new(400, 4, 7);
    let mut ids: Vec<u32> = (0..400).collect();
    ids.sort_by_key(|&id| f.label(id as usize * 4).age);
    let picked: Vec<u32> = (0..12).map(|k| ids[k * 399 / 11]).collect();
    let caption = |i: usize| {
        let l = f.label(i);
        let g = if l.gender == Gender::Male { "m" } else { "f" };
        format!("id{} {g} {}", l.identity, l.age)
    };
    let idx: Vec<usize> = picked
        .iter()
        .flat_map(|&id| (0..4).map(move |j| id as usize * 4 + j))
        .collect();
    let tiles: Vec<_> = idx.iter().map(|&i| (f.render(i, 64), caption(i))).collect();
    std::fs::write("/tmp/faces.png", montage_png(&tiles, 64, 8).unwrap()).unwrap();
    let big: Vec<_> = idx
        .iter()
        .step_by(2)
        .map(|&i| (f.render(i, 128), caption(i)))
        .collect();
    std::fs::write("/tmp/faces128.png", montage_png(&big, 128, 8).unwrap()).unwrap();
    let up = |px: &[u8]| {
        let mut out = vec![0u8; 64 * 64 * 3];
        for y in 0..64 {
            for x in 0..64 {
                let s = ((y / 2) * 32 + x / 2) * 3;
                out[(y * 64 + x) * 3..][..3].copy_from_slice(&px[s..s + 3]);
            }
        }
        out
    };
    let tiles: Vec<_> = idx
        .iter()
        .map(|&i| (up(&f.render(i, 32)), caption(i)))
        .collect();
    std::fs::write("/tmp/faces32.png", montage_png(&tiles, 64, 8).unwrap()).unwrap();

    let mut tiles = Vec::new();
    for id in 0..6u32 {
        let who = traits::identity(7, id);
        for age in [1u8, 6, 12, 18, 30, 45, 60, 75, 88] {
            let mut shot = traits::shot(7, id, 0, &who);
            shot.age = age;
            let g = if who.gender == Gender::Male { "m" } else { "f" };
            tiles.push((
                faces::render_face(7, id, 0, &who, &shot, 64),
                format!("{g} {age}"),
            ));
        }
    }
    std::fs::write("/tmp/ages.png", montage_png(&tiles, 64, 9).unwrap()).unwrap();

    let o = SyntheticObjects::new(60, 2, 3);
    let tiles: Vec<_> = (0..60)
        .map(|c| (o.render(c * 2, 64), o.class_name(c as u32)))
        .collect();
    std::fs::write("/tmp/objects.png", montage_png(&tiles, 64, 10).unwrap()).unwrap();
}

#[test]
#[ignore = "benchmark; run with --release -- --ignored --nocapture"]
fn bench_face_throughput() {
    let f = SyntheticFaces::new(100, 10, 1);
    for size in [32, 64, 224] {
        let start = std::time::Instant::now();
        let mut checksum = 0u64;
        for i in 0..f.len() {
            checksum += u64::from(f.render(i, size)[0]);
        }
        let secs = start.elapsed().as_secs_f64();
        println!(
            "faces {size}x{size}: {:.0} images/s single-threaded (checksum {checksum})",
            f.len() as f64 / secs
        );
    }
    let o = SyntheticObjects::new(60, 10, 1);
    let start = std::time::Instant::now();
    for i in 0..o.len() {
        std::hint::black_box(o.render(i, 64));
    }
    println!(
        "objects 64x64: {:.0} images/s",
        o.len() as f64 / start.elapsed().as_secs_f64()
    );
}

/// The probe at a larger scale, to report rather than to gate.
#[test]
#[ignore = "slow learnability probe; run with --release -- --ignored --nocapture"]
fn linear_probe_report() {
    for size in [32, 64] {
        let (acc, mae, mae0) = linear_probe(
            &SyntheticFaces::new(3000, 2, 1),
            &SyntheticFaces::new(500, 2, 2),
            size,
            15,
        );
        println!(
            "linear probe @{size}: gender acc {acc:.3}, age MAE {mae:.1} (mean predictor {mae0:.1})"
        );
    }
}
