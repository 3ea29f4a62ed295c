//! Copies between 16 strided rows (16 channel planes' rows, NCHW) and one
//! interleaved row of 16-lane vectors (`[x][lane]`), the staging that lets
//! `winograd_blocked` run its transforms with the lanes over channels.
//!
//! The portable copy moves one float at a time, each store 64 bytes from the last;
//! on AVX-512 the copy is 16 loads (or stores), a 16x16 transpose in registers (64
//! shuffles) and 16 stores (or loads). Both move the same floats, so results do
//! not depend on which one ran.
//!
//! The `unsafe` is the masked loads and stores; the safe wrappers check every
//! offset they will reach first.

/// Rows per copy: the vector width.
const LANES: usize = 16;

/// `dst[x * 16 + l] = src[l * stride + x]` for `x < len`, `l < 16`.
pub(crate) fn to_lanes(src: &[f32], stride: usize, len: usize, dst: &mut [f32]) {
    if len == 0 {
        return;
    }
    assert!(
        src.len() >= (LANES - 1) * stride + len,
        "to_lanes: source too short"
    );
    assert!(dst.len() >= len * LANES, "to_lanes: destination too short");
    #[cfg(target_arch = "x86_64")]
    if avx512() {
        // SAFETY: AVX-512F is present (checked); lane `l` of load `x0` reads
        // `src[l * stride + x0 + i]` for `i < min(16, len - x0)` only (the mask), inside
        // `src` by the first assertion; stores write `dst[x * 16..x * 16 + 16]` for
        // `x < len`, inside `dst` by the second.
        #[allow(unsafe_code)]
        unsafe {
            x86::to_lanes(src.as_ptr(), stride, len, dst.as_mut_ptr());
        }
        return;
    }
    for (l, row) in (0..LANES).map(|l| (l, &src[l * stride..l * stride + len])) {
        for (d, s) in dst.iter_mut().skip(l).step_by(LANES).zip(row) {
            *d = *s;
        }
    }
}

/// `dst[l * stride + x] = src[x * 16 + l]` for `x < len`, `l < 16`.
pub(crate) fn from_lanes(src: &[f32], len: usize, dst: &mut [f32], stride: usize) {
    if len == 0 {
        return;
    }
    assert!(src.len() >= len * LANES, "from_lanes: source too short");
    assert!(
        dst.len() >= (LANES - 1) * stride + len,
        "from_lanes: destination too short"
    );
    #[cfg(target_arch = "x86_64")]
    if avx512() {
        // SAFETY: as in `to_lanes`, with the roles of the two slices swapped:
        // loads read `src[x * 16..x * 16 + 16]` for `x < len`, masked stores write
        // `dst[l * stride + x]` for `x < len` only.
        #[allow(unsafe_code)]
        unsafe {
            x86::from_lanes(src.as_ptr(), len, dst.as_mut_ptr(), stride);
        }
        return;
    }
    for l in 0..LANES {
        let row = &mut dst[l * stride..l * stride + len];
        for (d, s) in row.iter_mut().zip(src.iter().skip(l).step_by(LANES)) {
            *d = *s;
        }
    }
}

#[cfg(target_arch = "x86_64")]
fn avx512() -> bool {
    std::arch::is_x86_feature_detected!("avx512f")
}

#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
mod x86 {
    use std::arch::x86_64::*;

    use super::LANES;

    fn mask(n: usize) -> __mmask16 {
        if n >= LANES {
            u16::MAX
        } else {
            (1u16 << n) - 1
        }
    }

    /// `out[j]` lane `i` = `r[i]` lane `j`.
    #[target_feature(enable = "avx512f")]
    fn transpose(r: [__m512; 16]) -> [__m512; 16] {
        // Pairs of rows interleaved within each 128-bit lane...
        // (Loops, not `array::from_fn`, which may be left out of line without
        // this function's target features.)
        let mut t = [_mm512_setzero_ps(); 16];
        for m in 0..8 {
            t[2 * m] = _mm512_unpacklo_ps(r[2 * m], r[2 * m + 1]);
            t[2 * m + 1] = _mm512_unpackhi_ps(r[2 * m], r[2 * m + 1]);
        }
        // ...then u[4k + j], 128-bit lane q: rows 4k..4k+4 at column 4q + j...
        let mut u = [_mm512_setzero_ps(); 16];
        for k in 0..4 {
            for h in 0..2 {
                let (a, b) = (t[4 * k + h], t[4 * k + 2 + h]);
                u[4 * k + 2 * h] = _mm512_shuffle_ps::<0x44>(a, b);
                u[4 * k + 2 * h + 1] = _mm512_shuffle_ps::<0xEE>(a, b);
            }
        }
        // ...then a 4x4 transpose of 128-bit lanes for each j.
        let mut out = [_mm512_setzero_ps(); 16];
        for j in 0..4 {
            let a = _mm512_shuffle_f32x4::<0x88>(u[j], u[4 + j]);
            let b = _mm512_shuffle_f32x4::<0xDD>(u[j], u[4 + j]);
            let c = _mm512_shuffle_f32x4::<0x88>(u[8 + j], u[12 + j]);
            let d = _mm512_shuffle_f32x4::<0xDD>(u[8 + j], u[12 + j]);
            out[j] = _mm512_shuffle_f32x4::<0x88>(a, c);
            out[4 + j] = _mm512_shuffle_f32x4::<0x88>(b, d);
            out[8 + j] = _mm512_shuffle_f32x4::<0xDD>(a, c);
            out[12 + j] = _mm512_shuffle_f32x4::<0xDD>(b, d);
        }
        out
    }

    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn to_lanes(src: *const f32, stride: usize, len: usize, dst: *mut f32) {
        for x0 in (0..len).step_by(LANES) {
            let n = (len - x0).min(LANES);
            let k = mask(n);
            let mut r = [_mm512_setzero_ps(); 16];
            for (l, r) in r.iter_mut().enumerate() {
                *r = unsafe { _mm512_maskz_loadu_ps(k, src.add(l * stride + x0)) };
            }
            let t = transpose(r);
            for (x, v) in t.iter().enumerate().take(n) {
                unsafe { _mm512_storeu_ps(dst.add((x0 + x) * LANES), *v) };
            }
        }
    }

    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn from_lanes(src: *const f32, len: usize, dst: *mut f32, stride: usize) {
        for x0 in (0..len).step_by(LANES) {
            let n = (len - x0).min(LANES);
            let mut r = [_mm512_setzero_ps(); 16];
            for (x, r) in r.iter_mut().enumerate().take(n) {
                *r = unsafe { _mm512_loadu_ps(src.add((x0 + x) * LANES)) };
            }
            let t = transpose(r);
            for (l, v) in t.iter().enumerate() {
                unsafe { _mm512_mask_storeu_ps(dst.add(l * stride + x0), mask(n), *v) };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_match_their_definition_for_every_length() {
        for (len, stride) in [
            (1, 1),
            (3, 36),
            (6, 6),
            (12, 144),
            (16, 20),
            (17, 17),
            (24, 576),
            (40, 41),
        ] {
            let src: Vec<f32> = (0..15 * stride + len).map(|i| i as f32 + 0.5).collect();
            let mut lanes = vec![-1.0; len * LANES + 3];
            to_lanes(&src, stride, len, &mut lanes);
            for x in 0..len {
                for l in 0..LANES {
                    assert_eq!(
                        lanes[x * LANES + l],
                        src[l * stride + x],
                        "len {len} x {x} l {l}"
                    );
                }
            }
            assert!(
                lanes[len * LANES..].iter().all(|&v| v == -1.0),
                "wrote past the row"
            );
            let mut back = vec![-1.0; 15 * stride + len];
            from_lanes(&lanes, len, &mut back, stride);
            for (i, (&b, &s)) in back.iter().zip(&src).enumerate() {
                let inside = i % stride < len || stride == len;
                assert_eq!(
                    b,
                    if inside { s } else { -1.0 },
                    "len {len} stride {stride} at {i}"
                );
            }
        }
    }
}
