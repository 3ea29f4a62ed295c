//! The Winograd transforms with the vector lanes over 16 channels instead of along
//! a tile row, for layers whose channel counts are multiples of 16 (every 3x3
//! layer of the nets but a 3-channel first one).
//!
//! Why: the planes are narrow (24, 12 and 6 pixels at 48 px input, so 12, 6 and 3
//! tiles a row), and along a tile row the portable forms in `winograd` ran mostly
//! 4-wide with scalar remainders: about 0.6 ns per transformed value, and the
//! three transforms a third of a training step (`perf`, the real study's vgg9 at
//! width 0.25). AVX-512 gathers over 16 tiles were tried: only a fifth faster on
//! this EPYC, whose gathers are slow. With lanes over channels every window value
//! is a whole vector, stride-2 windows are just which vector to load, and padding
//! is zeros in a small staging block, so nothing depends on the width.
//!
//! The price is the staging: each band of input (or dY) rows is copied into
//! `[row][column][16 channels]`, and outputs are copied back the same way
//! (`transpose`: 16x16 register transposes on AVX-512), a quarter of the values
//! the transforms write.
//!
//! Layouts: the tile-domain matrices are tile-major, `V[xi][t][c]`, `M[xi][t][o]`
//! and `dY^[xi][t][o]` (`winograd_conv` gives gemm the matching strides). The
//! arithmetic is the portable form's, operation for operation and in its order,
//! so the values are bit-identical to it (tested below; against candle in
//! `tests/cpu_ops.rs`).

use super::conv::Geom;
use super::transpose;
use super::winograd::tiles;

/// Channels per vector.
pub(crate) const LANES: usize = 16;

type Lanes = [f32; LANES];

/// Whether the blocked forms handle a tile-domain matrix with `channels` channels.
pub(crate) fn applies(channels: usize) -> bool {
    channels.is_multiple_of(LANES) && channels > 0
}

// Plain loops, not `array::from_fn`: that one was left out of line, outside the
// vector-instruction context (`simd.rs`), and ran 4-wide.
#[inline(always)]
fn zip(a: &Lanes, b: &Lanes, f: impl Fn(f32, f32) -> f32) -> Lanes {
    let mut out = [0.0; LANES];
    for ((o, &a), &b) in out.iter_mut().zip(a).zip(b) {
        *o = f(a, b);
    }
    out
}

#[inline(always)]
fn add(a: &Lanes, b: &Lanes) -> Lanes {
    zip(a, b, |a, b| a + b)
}

#[inline(always)]
fn sub(a: &Lanes, b: &Lanes) -> Lanes {
    zip(a, b, |a, b| a - b)
}

#[inline(always)]
fn neg(a: &Lanes) -> Lanes {
    zip(a, a, |a, _| -a)
}

#[inline(always)]
fn lanes(s: &[f32]) -> &Lanes {
    s[..LANES].try_into().expect("a block holds whole vectors")
}

/// Rows `y0..` and columns `x0..` (`rows x cols`, either may start or end outside
/// the plane) of planes `c0..c0 + 16` of `planes` (`h x w` each) into `sc`, laid
/// out `[row][column][lane]`, zero outside the planes.
#[inline(always)]
fn stage(
    planes: &[f32],
    (h, w): (usize, usize),
    c0: usize,
    (y0, rows): (isize, usize),
    (x0, cols): (isize, usize),
    sc: &mut Vec<f32>,
) {
    sc.resize(rows * cols * LANES, 0.0);
    let (xa, xb) = (
        x0.clamp(0, w as isize),
        (x0 + cols as isize).clamp(0, w as isize),
    );
    let (skip, len) = ((xa - x0) as usize, (xb - xa).max(0) as usize);
    let hw = h * w;
    for r in 0..rows {
        let y = y0 + r as isize;
        let row = &mut sc[r * cols * LANES..(r + 1) * cols * LANES];
        if !(0..h as isize).contains(&y) || len == 0 {
            row.fill(0.0);
            continue;
        }
        row[..skip * LANES].fill(0.0);
        row[(skip + len) * LANES..].fill(0.0);
        let at = c0 * hw + y as usize * w + xa as usize;
        transpose::to_lanes(&planes[at..], hw, len, &mut row[skip * LANES..]);
    }
}

/// `V[xi * xs + t * cin + c] = (B^T d B)[xi]` for tile rows `ty0..ty1` of
/// `image` (its `cin` planes), the segment's first tile being `t0`.
#[inline(always)]
pub(crate) fn input_tiles(
    g: &Geom,
    image: &[f32],
    (ty0, ty1): (usize, usize),
    v: &mut [f32],
    (t0, xs): (usize, usize),
    sc: &mut Vec<f32>,
) {
    let (_, tw) = tiles(g);
    let nt = ty1 - ty0;
    let (rows, cols) = (2 * nt + 2, 2 * tw + 2);
    let (y0, x0) = ((2 * ty0) as isize - g.ph, -g.pw);
    for c0 in (0..g.cin).step_by(LANES) {
        stage(image, (g.h, g.w), c0, (y0, rows), (x0, cols), sc);
        for lt in 0..nt {
            for tx in 0..tw {
                let d =
                    |r: usize, s: usize| lanes(&sc[((2 * lt + r) * cols + 2 * tx + s) * LANES..]);
                // Columns within each input row first, then rows, as `winograd`.
                let mut c = [[[0.0; LANES]; 4]; 4];
                for (r, c) in c.iter_mut().enumerate() {
                    let (d0, d1, d2, d3) = (d(r, 0), d(r, 1), d(r, 2), d(r, 3));
                    *c = [sub(d0, d2), add(d1, d2), sub(d2, d1), sub(d1, d3)];
                }
                let at = (t0 + lt * tw + tx) * g.cin + c0;
                // Column j of all four rows at once.
                #[allow(clippy::needless_range_loop)]
                for j in 0..4 {
                    let out = [
                        sub(&c[0][j], &c[2][j]),
                        add(&c[1][j], &c[2][j]),
                        sub(&c[2][j], &c[1][j]),
                        sub(&c[1][j], &c[3][j]),
                    ];
                    for (i, o) in out.iter().enumerate() {
                        let k = (i * 4 + j) * xs + at;
                        v[k..k + LANES].copy_from_slice(o);
                    }
                }
            }
        }
    }
}

/// `dY^[xi * xs + t * cout + o] = (A dy A^T)[xi]` for tile rows `ty0..ty1` of
/// `image`'s `cout` dY planes (outside the output counts as 0).
#[inline(always)]
pub(crate) fn grad_tiles(
    g: &Geom,
    image: &[f32],
    (ty0, ty1): (usize, usize),
    yh: &mut [f32],
    (t0, xs): (usize, usize),
    sc: &mut Vec<f32>,
) {
    let (_, tw) = tiles(g);
    let nt = ty1 - ty0;
    let (rows, cols) = (2 * nt, 2 * tw);
    for o0 in (0..g.cout).step_by(LANES) {
        stage(
            image,
            (g.oh, g.ow),
            o0,
            ((2 * ty0) as isize, rows),
            (0, cols),
            sc,
        );
        for lt in 0..nt {
            for tx in 0..tw {
                let d =
                    |r: usize, s: usize| lanes(&sc[((2 * lt + r) * cols + 2 * tx + s) * LANES..]);
                let (e0, o0_, e1, o1) = (d(0, 0), d(0, 1), d(1, 0), d(1, 1));
                // Rows of A dy, then each row (a, b) becomes (a, a+b, a-b, -b).
                let rows = [
                    (*e0, *o0_),
                    (add(e0, e1), add(o0_, o1)),
                    (sub(e0, e1), sub(o0_, o1)),
                    (neg(e1), neg(o1)),
                ];
                let at = (t0 + lt * tw + tx) * g.cout + o0;
                for (i, (a, b)) in rows.iter().enumerate() {
                    let out = [*a, add(a, b), sub(a, b), neg(b)];
                    for (j, o) in out.iter().enumerate() {
                        let k = (i * 4 + j) * xs + at;
                        yh[k..k + LANES].copy_from_slice(o);
                    }
                }
            }
        }
    }
}

/// `A^T m A` for tile rows `ty0..ty1` of `out` (one image's `cout` planes), from
/// `m[xi * xs + t * cout + o]`; values past the output's edge are dropped.
#[inline(always)]
pub(crate) fn output_tiles(
    g: &Geom,
    m: &[f32],
    (t0, xs): (usize, usize),
    (ty0, ty1): (usize, usize),
    out: &mut [f32],
    sc: &mut Vec<f32>,
) {
    let (_, tw) = tiles(g);
    let nt = ty1 - ty0;
    let (rows, cols) = (2 * nt, 2 * tw);
    let ohw = g.oh * g.ow;
    for o0 in (0..g.cout).step_by(LANES) {
        // Every value is written below before it is read.
        sc.resize(rows * cols * LANES, 0.0);
        for lt in 0..nt {
            for tx in 0..tw {
                let at = (t0 + lt * tw + tx) * g.cout + o0;
                let m = |xi: usize| lanes(&m[xi * xs + at..]);
                // s[dy][j] = (A^T m)[dy][j]: s0 = m0j + m1j + m2j, s1 = m1j - m2j - m3j.
                let (mut s0, mut s1) = ([[0.0; LANES]; 4], [[0.0; LANES]; 4]);
                for j in 0..4 {
                    s0[j] = add(&add(m(j), m(4 + j)), m(8 + j));
                    s1[j] = sub(&sub(m(4 + j), m(8 + j)), m(12 + j));
                }
                for (dy, s) in [s0, s1].iter().enumerate() {
                    let row = (2 * lt + dy) * cols + 2 * tx;
                    let p0 = add(&add(&s[0], &s[1]), &s[2]);
                    let p1 = sub(&sub(&s[1], &s[2]), &s[3]);
                    sc[row * LANES..(row + 1) * LANES].copy_from_slice(&p0);
                    sc[(row + 1) * LANES..(row + 2) * LANES].copy_from_slice(&p1);
                }
            }
        }
        for y in 2 * ty0..(2 * ty1).min(g.oh) {
            let src = &sc[(y - 2 * ty0) * cols * LANES..];
            transpose::from_lanes(src, g.ow, &mut out[o0 * ohw + y * g.ow..], ohw);
        }
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::super::winograd;
    use super::*;

    /// Values with both signs, exact zeros of both signs and a wide range, from a
    /// fixed xorshift stream (also `winograd_conv`'s test data).
    pub(in super::super) fn values(n: usize, seed: u64) -> Vec<f32> {
        let mut s = seed | 1;
        (0..n)
            .map(|i| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                match i % 11 {
                    0 => 0.0,
                    1 => -0.0,
                    _ => {
                        ((s >> 40) as f32 / (1u64 << 24) as f32 - 0.5)
                            * 10f32.powi((s % 7) as i32 - 3)
                    }
                }
            })
            .collect()
    }

    /// Forward and transposed geometries with even, odd and tiny planes, and the
    /// segments a chunk may hand over: whole images and runs of tile rows.
    fn cases() -> Vec<(Geom, (usize, usize))> {
        let mut out = Vec::new();
        for (h, w) in [(6, 6), (7, 5), (12, 12), (13, 11), (24, 24), (3, 9)] {
            for (cin, cout) in [(16, 32), (32, 16)] {
                let g = Geom::new((1, cin, h, w), (cout, 3, 3), 1).expect("a valid geometry");
                for g in [g, g.transposed()] {
                    let (th, _) = tiles(&g);
                    out.push((g, (0, th)));
                    if th > 2 {
                        out.push((g, (1, th - 1)));
                    }
                }
            }
        }
        out
    }

    fn same(a: f32, b: f32) -> bool {
        a.to_bits() == b.to_bits()
    }

    #[test]
    fn input_tiles_are_the_portable_forms_bit_for_bit() {
        for (i, (g, (ty0, ty1))) in cases().into_iter().enumerate() {
            let (_, tw) = tiles(&g);
            let (n, t0, extra) = ((ty1 - ty0) * tw, 3, 5);
            let tc = n + t0 + extra;
            let image = values(g.in_len(), i as u64 + 1);
            let (mut portable, mut sc) = (vec![f32::NAN; 16 * g.cin * tc], Vec::new());
            for (c, plane) in image.chunks_exact(g.h * g.w).enumerate() {
                let v = &mut portable[c * tc + t0..];
                winograd::input_tiles(&g, plane, (ty0, ty1), v, g.cin * tc, &mut sc);
            }
            let mut ours = vec![f32::NAN; 16 * g.cin * tc];
            input_tiles(&g, &image, (ty0, ty1), &mut ours, (t0, g.cin * tc), &mut sc);
            for (xi, c, t) in itertools(16, g.cin, n) {
                let p = portable[xi * g.cin * tc + c * tc + t0 + t];
                let b = ours[xi * g.cin * tc + (t0 + t) * g.cin + c];
                assert!(
                    same(p, b),
                    "{g:?} rows {ty0}..{ty1}: xi {xi} c {c} t {t}: {p} vs {b}"
                );
            }
        }
    }

    #[test]
    fn grad_tiles_are_the_portable_forms_bit_for_bit() {
        for (i, (g, (ty0, ty1))) in cases().into_iter().enumerate() {
            let (_, tw) = tiles(&g);
            let (n, t0) = ((ty1 - ty0) * tw, 2);
            let tc = n + t0 + 1;
            let dy = values(g.out_len(), 100 + i as u64);
            let (mut portable, mut sc) = (vec![f32::NAN; 16 * g.cout * tc], Vec::new());
            for (o, plane) in dy.chunks_exact(g.oh * g.ow).enumerate() {
                let y = &mut portable[o * tc + t0..];
                winograd::grad_tiles(&g, plane, (ty0, ty1), y, g.cout * tc, &mut sc);
            }
            let mut ours = vec![f32::NAN; 16 * g.cout * tc];
            grad_tiles(&g, &dy, (ty0, ty1), &mut ours, (t0, g.cout * tc), &mut sc);
            for (xi, o, t) in itertools(16, g.cout, n) {
                let p = portable[xi * g.cout * tc + o * tc + t0 + t];
                let b = ours[xi * g.cout * tc + (t0 + t) * g.cout + o];
                assert!(
                    same(p, b),
                    "{g:?} rows {ty0}..{ty1}: xi {xi} o {o} t {t}: {p} vs {b}"
                );
            }
        }
    }

    #[test]
    fn output_tiles_are_the_portable_forms_bit_for_bit() {
        for (i, (g, (ty0, ty1))) in cases().into_iter().enumerate() {
            let (_, tw) = tiles(&g);
            let (n, t0) = ((ty1 - ty0) * tw, 4);
            let tc = n + t0;
            // The same products in both layouts.
            let channel_major = values(16 * g.cout * tc, 200 + i as u64);
            let mut tile_major = vec![f32::NAN; channel_major.len()];
            for (xi, o, t) in itertools(16, g.cout, tc) {
                let v = channel_major[xi * g.cout * tc + o * tc + t];
                tile_major[xi * g.cout * tc + t * g.cout + o] = v;
            }
            let ohw = g.oh * g.ow;
            let (mut portable, mut sc) = (vec![f32::NAN; g.out_len()], Vec::new());
            for (o, plane) in portable.chunks_exact_mut(ohw).enumerate() {
                let m = &channel_major[o * tc + t0..];
                winograd::output_tiles(&g, m, g.cout * tc, (ty0, ty1), plane, &mut sc);
            }
            let mut ours = vec![f32::NAN; g.out_len()];
            output_tiles(
                &g,
                &tile_major,
                (t0, g.cout * tc),
                (ty0, ty1),
                &mut ours,
                &mut sc,
            );
            for (k, (p, b)) in portable.iter().zip(&ours).enumerate() {
                let y = k % ohw / g.ow;
                let written = (2 * ty0..2 * ty1).contains(&y);
                assert!(
                    same(*p, *b) && (written != p.is_nan()),
                    "{g:?} rows {ty0}..{ty1}: output {k}: {p} vs {b}"
                );
            }
        }
    }

    /// Every `(a, b, c)` below `(na, nb, nc)`.
    fn itertools(na: usize, nb: usize, nc: usize) -> impl Iterator<Item = (usize, usize, usize)> {
        (0..na).flat_map(move |a| (0..nb).flat_map(move |b| (0..nc).map(move |c| (a, b, c))))
    }
}
