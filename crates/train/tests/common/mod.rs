//! Helpers shared by the fast-op tests: seeded inputs and the 1e-4 comparison
//! against candle's reference ops.
#![allow(dead_code)] // each test binary uses its own subset of these

use candle_core::{Device, Tensor, Var};

/// Deterministic values in [-1, 1) from a seed (xorshift), so a failing case replays.
pub fn values(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 40) as f32 / (1u64 << 23) as f32 - 1.0
        })
        .collect()
}

pub fn var(dims: &[usize], seed: u64) -> Var {
    let n = dims.iter().product();
    Var::from_vec(values(n, seed), dims, &Device::Cpu).expect("var")
}

pub fn flat(t: &Tensor) -> Vec<f32> {
    t.flatten_all().and_then(|t| t.to_vec1()).expect("to_vec1")
}

/// Norm-relative error below 1e-4 and every element within 1e-4 of the reference
/// (scaled by its largest magnitude, at least 1), with a message naming `what`.
pub fn assert_close(what: &str, got: &Tensor, want: &Tensor) {
    assert_close_scaled(what, got, want, 1.0);
}

/// `assert_close` with the element scale floored at `floor` instead of 1 (a
/// smaller floor holds references of small magnitude to their own scale).
pub fn assert_close_scaled(what: &str, got: &Tensor, want: &Tensor, floor: f32) {
    assert_eq!(got.dims(), want.dims(), "{what}: shape");
    let (a, b) = (flat(got), flat(want));
    let diff: f64 = a
        .iter()
        .zip(&b)
        .map(|(x, y)| f64::from(x - y).powi(2))
        .sum();
    let norm: f64 = b.iter().map(|y| f64::from(*y).powi(2)).sum();
    // Floored like the elements' scale: a reference that is a sum cancelling to
    // near zero (a one-channel bias gradient) has rounding of its terms' size.
    let floor_norm = f64::from(floor) * (b.len() as f64).sqrt();
    let rel = diff.sqrt() / norm.sqrt().max(floor_norm).max(1e-6);
    assert!(rel < 1e-4, "{what}: relative error {rel:e}");
    let scale = b.iter().fold(floor, |m, y| m.max(y.abs()));
    for (i, (x, y)) in a.iter().zip(&b).enumerate() {
        assert!((x - y).abs() <= 1e-4 * scale, "{what}[{i}]: {x} vs {y}");
    }
}
