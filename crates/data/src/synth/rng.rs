//! Deterministic randomness and the little floating-point maths the renderers
//! need.
//!
//! The `rand` crate is avoided on purpose: its streams may change between
//! releases, which would silently change every cached dataset. SplitMix64 is
//! tiny, fixed forever and good enough for sampling drawing parameters.
//!
//! `f32::sin`, `f64::ln` and friends call the platform's libm, whose last bits
//! differ between glibc, musl, macOS and Windows. Everything that feeds pixel
//! positions therefore goes through the polynomial versions below, which only
//! use `+ - * /` and `sqrt` (all correctly rounded by IEEE 754).

use std::f64::consts::{LN_2, PI, SQRT_2};

const GOLDEN_GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

/// The SplitMix64 output finaliser: a bijective avalanche of one word.
pub(crate) const fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Hashes a short sequence of words into one seed. Order matters, so
/// `(seed, identity)` and `(identity, seed)` give unrelated streams.
pub(crate) fn hash_words(words: &[u64]) -> u64 {
    let mut h: u64 = 0x243F_6A88_85A3_08D3;
    for &w in words {
        h = mix64(h.wrapping_add(GOLDEN_GAMMA) ^ mix64(w.wrapping_add(GOLDEN_GAMMA)));
    }
    h
}

/// Stream tags so that each aspect of an image draws from its own stream:
/// adding a draw to one aspect must not shift the values of another.
pub(crate) mod stream {
    pub(crate) const IDENTITY: u64 = 1;
    pub(crate) const IMAGE: u64 = 2;
    pub(crate) const BACKGROUND: u64 = 3;
    pub(crate) const NOISE: u64 = 4;
    pub(crate) const OCCLUDER: u64 = 5;
    pub(crate) const MARKS: u64 = 6;
    pub(crate) const OBJECT: u64 = 7;
    pub(crate) const HAIR: u64 = 8;
    pub(crate) const LIGHT: u64 = 9;
}

/// SplitMix64 (Steele, Lea & Flood 2014), with the helpers the renderers use.
#[derive(Debug, Clone)]
pub(crate) struct Rng {
    state: u64,
}

impl Rng {
    pub(crate) fn from_words(words: &[u64]) -> Self {
        Self {
            state: hash_words(words),
        }
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(GOLDEN_GAMMA);
        mix64(self.state)
    }

    /// Uniform in `[0, 1)` with 24 bits, exactly representable in `f32`.
    pub(crate) fn unit(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 * (1.0 / 16_777_216.0)
    }

    /// Uniform in `[lo, hi)`.
    pub(crate) fn range(&mut self, lo: f32, hi: f32) -> f32 {
        lo + (hi - lo) * self.unit()
    }

    /// Uniform integer in `0..n`; `n` must be non-zero.
    pub(crate) fn below(&mut self, n: u32) -> u32 {
        // Multiply-shift keeps the bias below 2^-32, irrelevant here.
        (((self.next_u64() >> 32) * u64::from(n)) >> 32) as u32
    }

    pub(crate) fn chance(&mut self, p: f32) -> bool {
        self.unit() < p
    }

    /// Standard normal via Box-Muller (one of the pair is discarded, which
    /// keeps the stream position independent of call history).
    pub(crate) fn normal(&mut self) -> f32 {
        let u1 = 1.0 - f64::from(self.unit()); // (0, 1], so ln is finite
        let u2 = f64::from(self.unit());
        ((-2.0 * ln(u1)).sqrt() * cos(2.0 * PI * u2)) as f32
    }

    /// A normal sample clipped to `mean ± limit * sd`, so that rare draws
    /// cannot produce absurd geometry.
    pub(crate) fn normal_clipped(&mut self, mean: f32, sd: f32, limit: f32) -> f32 {
        mean + sd * self.normal().clamp(-limit, limit)
    }

    /// One element of a non-empty slice, uniformly.
    pub(crate) fn choice<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        let n = u32::try_from(items.len()).unwrap_or(u32::MAX);
        &items[self.below(n) as usize]
    }

    /// An index drawn with probability proportional to `weights`.
    pub(crate) fn weighted(&mut self, weights: &[f32]) -> usize {
        let total: f32 = weights.iter().sum();
        let mut x = self.unit() * total;
        for (i, &w) in weights.iter().enumerate() {
            if x < w {
                return i;
            }
            x -= w;
        }
        weights.len().saturating_sub(1)
    }
}

/// Natural log for `x > 0`, accurate to ~1e-15 relative, platform independent.
pub(crate) fn ln(x: f64) -> f64 {
    let bits = x.to_bits();
    let mut exp = ((bits >> 52) & 0x7FF) as i64 - 1023;
    let mut m = f64::from_bits((bits & 0x000F_FFFF_FFFF_FFFF) | 0x3FF0_0000_0000_0000);
    if m > SQRT_2 {
        m *= 0.5;
        exp += 1;
    }
    // ln(m) = 2 atanh(s) with |s| < 0.172, so the odd series converges fast.
    let s = (m - 1.0) / (m + 1.0);
    let s2 = s * s;
    let mut term = s;
    let mut sum = 0.0;
    let mut k = 1.0;
    while k < 30.0 {
        sum += term / k;
        term *= s2;
        k += 2.0;
    }
    2.0 * sum + exp as f64 * LN_2
}

/// Sine, accurate to ~1e-15 absolute, platform independent.
pub(crate) fn sin(x: f64) -> f64 {
    let tau = 2.0 * PI;
    let mut r = x - tau * (x / tau).round();
    // Fold [-pi, pi] onto [-pi/2, pi/2] where the Taylor series is short.
    if r > PI / 2.0 {
        r = PI - r;
    } else if r < -PI / 2.0 {
        r = -PI - r;
    }
    let r2 = r * r;
    let mut term = r;
    let mut sum = r;
    let mut n = 1.0;
    while n < 23.0 {
        term *= -r2 / ((n + 1.0) * (n + 2.0));
        sum += term;
        n += 2.0;
    }
    sum
}

/// Cosine via [`sin`].
pub(crate) fn cos(x: f64) -> f64 {
    sin(x + PI / 2.0)
}

/// `(sin, cos)` of an angle in degrees, as `f32`.
pub(crate) fn sin_cos_deg(deg: f32) -> (f32, f32) {
    let r = f64::from(deg) * PI / 180.0;
    (sin(r) as f32, cos(r) as f32)
}

pub(crate) fn lerp(a: f32, b: f32, t: f32) -> f32 {
    a + (b - a) * t
}

/// Hermite smoothstep: 0 below `lo`, 1 above `hi`, smooth in between. Most
/// age effects use it so that they fade in continuously over years.
pub(crate) fn smoothstep(lo: f32, hi: f32, x: f32) -> f32 {
    let t = ((x - lo) / (hi - lo)).clamp(0.0, 1.0);
    t * t * (3.0 - 2.0 * t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maths_matches_std_closely() {
        for i in 1..2000 {
            let x = f64::from(i) * 0.0005;
            assert!((ln(x) - x.ln()).abs() < 1e-12, "ln({x})");
            let a = f64::from(i) * 0.01 - 10.0;
            assert!((sin(a) - a.sin()).abs() < 1e-12, "sin({a})");
            assert!((cos(a) - a.cos()).abs() < 1e-12, "cos({a})");
        }
    }

    #[test]
    fn streams_are_reproducible_and_distinct() {
        let mut a = Rng::from_words(&[1, 2]);
        let mut b = Rng::from_words(&[1, 2]);
        let mut c = Rng::from_words(&[2, 1]);
        let xs: Vec<u64> = (0..8).map(|_| a.next_u64()).collect();
        let ys: Vec<u64> = (0..8).map(|_| b.next_u64()).collect();
        let zs: Vec<u64> = (0..8).map(|_| c.next_u64()).collect();
        assert_eq!(xs, ys);
        assert_ne!(xs, zs);
    }

    #[test]
    fn samplers_stay_in_range_with_sane_moments() {
        let mut r = Rng::from_words(&[7]);
        let n = 20_000;
        let mut sum = 0.0f64;
        let mut sum2 = 0.0f64;
        for _ in 0..n {
            let u = r.range(-2.0, 3.0);
            assert!((-2.0..3.0).contains(&u));
            assert!(r.below(5) < 5);
            let z = f64::from(r.normal());
            sum += z;
            sum2 += z * z;
        }
        let mean = sum / f64::from(n);
        let var = sum2 / f64::from(n) - mean * mean;
        assert!(mean.abs() < 0.05, "mean {mean}");
        assert!((var - 1.0).abs() < 0.05, "var {var}");
    }
}
