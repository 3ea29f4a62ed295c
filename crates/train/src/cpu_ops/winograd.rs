//! Winograd F(2x2, 3x3) for 3x3 stride-1 convolutions: forward (and so the input
//! gradient, which is a forward convolution of dY) and the weight gradient.
//!
//! Each 2x2 output tile costs 16 multiply-adds per channel pair instead of 36, so
//! the gemm work drops 2.25x; the price is the transforms into and out of the 4x4
//! tile domain, which are additions only. gemm (its AVX-512 kernels) runs these
//! shapes at 150-190 GFLOP/s per core, so fewer multiplications are the way left to
//! go faster. F(2x2, 3x3) only adds and halves, so its rounding error stays at a
//! few ulps. F(4x4, 3x3), about 1e-6 of the output's scale, was built and measured
//! no faster: at these channel counts its gemms are thin and memory-bound, and its
//! larger transforms cost what the multiplications save (README, "CPU speed").
//!
//! Layouts, per chunk of whole tile rows: `V[xi][c][t]` (input tiles), `U[xi][o][c]`
//! (kernels), `M[xi][o][t]` (products), with `xi` the 16 tile-domain positions, `t`
//! the tile within the chunk (tile row major). The 16 products are gemms with the
//! tile index unit-stride, as gemm packs best. The transforms work on whole tile
//! rows so their inner loops run along contiguous arrays.

use rayon::prelude::*;

use super::conv::Geom;
use super::gemm::threads;
use super::simd::vectorized;

/// Tiles per chunk aim for `V` and `M` together near this many floats (~1 MiB).
pub(crate) const CHUNK_FLOATS: usize = 256 * 1024;

/// Whether `g` is a convolution this module handles and is worth it for: with a
/// handful of channels (the nets' 3-channel first layer) the 16 products are too
/// thin for gemm and the transforms dominate, so im2col is faster.
pub(crate) fn applies(g: &Geom) -> bool {
    g.kh == 3 && g.kw == 3 && g.cin >= 4 && g.cout >= 4
}

/// Tile grid of `g`'s output: 2x2 tiles, the last row/column may stick out.
pub(crate) fn tiles(g: &Geom) -> (usize, usize) {
    (g.oh.div_ceil(2), g.ow.div_ceil(2))
}

/// Kernels per block of the kernel transforms: each of the 9 taps and 16
/// transformed values is a `[f32; LANES]` row, so the arithmetic runs on whole
/// vectors while the gathers and scatters stay in L1.
const LANES: usize = 16;

/// `U[xi][o][c] = (G k G^T)[xi]` for `kernel(o, c)`, a 3x3 kernel row-major.
/// Runs once per layer and pass on the thread budget, in blocks of `LANES`
/// consecutive `(o, c)` pairs so the combinations vectorize: kernel by kernel, at
/// 16 scattered stores each, it was a fifth of a small-plane convolution.
pub(crate) fn kernel_transform(
    cout: usize,
    cin: usize,
    kernel: impl Fn(usize, usize) -> [f32; 9] + Sync,
) -> Vec<f32> {
    let plane = cout * cin;
    let mut u = vec![0.0f32; 16 * plane];
    if plane == 0 {
        return u;
    }
    // Ranges of j = o * cin + c, one task each; a task owns its range of every
    // one of the 16 planes.
    let per = plane.div_ceil(4 * threads()).next_multiple_of(LANES);
    let mut tasks: Vec<(usize, Vec<&mut [f32]>)> = (0..plane.div_ceil(per))
        .map(|r| (r * per, Vec::with_capacity(16)))
        .collect();
    for p in u.chunks_mut(plane) {
        for (task, part) in tasks.iter_mut().zip(p.chunks_mut(per)) {
            task.1.push(part);
        }
    }
    tasks.into_par_iter().for_each(|(j0, mut planes)| {
        let n = planes[0].len();
        vectorized(
            #[inline(always)]
            || {
                for b in (0..n).step_by(LANES) {
                    let len = LANES.min(n - b);
                    let mut k = [[0.0f32; LANES]; 9];
                    for l in 0..len {
                        let j = j0 + b + l;
                        let taps = kernel(j / cin, j % cin);
                        for (row, t) in k.iter_mut().zip(taps) {
                            row[l] = t;
                        }
                    }
                    let out = kernel_block(&k);
                    for (dst, row) in planes.iter_mut().zip(&out) {
                        dst[b..b + len].copy_from_slice(&row[..len]);
                    }
                }
            },
        );
    });
    u
}

/// One value per lane.
#[inline(always)]
fn lanes(f: impl Fn(usize) -> f32) -> [f32; LANES] {
    std::array::from_fn(f)
}

/// `G k G^T` for a block of kernels, `k[tap][lane]`.
#[inline(always)]
fn kernel_block(k: &[[f32; LANES]; 9]) -> [[f32; LANES]; 16] {
    // G k: rows k0, (k0+k1+k2)/2, (k0-k1+k2)/2, k2 (k0..k2 the kernel's rows).
    let mut gk = [[[0.0f32; LANES]; 3]; 4];
    for j in 0..3 {
        let (a, b, d) = (&k[j], &k[3 + j], &k[6 + j]);
        gk[0][j] = *a;
        gk[1][j] = lanes(|l| 0.5 * (a[l] + b[l] + d[l]));
        gk[2][j] = lanes(|l| 0.5 * (a[l] - b[l] + d[l]));
        gk[3][j] = *d;
    }
    let mut u = [[0.0f32; LANES]; 16];
    for (i, r) in gk.iter().enumerate() {
        let (a, b, d) = (&r[0], &r[1], &r[2]);
        u[i * 4] = *a;
        u[i * 4 + 1] = lanes(|l| 0.5 * (a[l] + b[l] + d[l]));
        u[i * 4 + 2] = lanes(|l| 0.5 * (a[l] - b[l] + d[l]));
        u[i * 4 + 3] = *d;
    }
    u
}

/// `dW[o][c] = G^T dU[o][c] G` for `dU` laid out `[xi][o][c]`; returns OIHW.
/// Blocked like `kernel_transform`, for the same reason.
pub(crate) fn kernel_grad(cout: usize, cin: usize, du: &[f32]) -> Vec<f32> {
    let plane = cout * cin;
    let mut dw = vec![0.0f32; plane * 9];
    if plane == 0 {
        return dw;
    }
    let per = plane.div_ceil(4 * threads()).next_multiple_of(LANES);
    dw.par_chunks_mut(per * 9).enumerate().for_each(|(t, dw)| {
        let j0 = t * per;
        vectorized(
            #[inline(always)]
            || {
                for (b, dst) in dw.chunks_mut(LANES * 9).enumerate() {
                    let (at, len) = (j0 + b * LANES, dst.len() / 9);
                    let mut m = [[0.0f32; LANES]; 16];
                    for (xi, row) in m.iter_mut().enumerate() {
                        let src = &du[xi * plane + at..xi * plane + at + len];
                        row[..len].copy_from_slice(src);
                    }
                    let k = kernel_grad_block(&m);
                    for (l, taps) in dst.chunks_exact_mut(9).enumerate() {
                        for (t, row) in taps.iter_mut().zip(&k) {
                            *t = row[l];
                        }
                    }
                }
            },
        );
    });
    dw
}

/// `G^T m G` for a block of transformed gradients, `m[xi][lane]`.
#[inline(always)]
fn kernel_grad_block(m: &[[f32; LANES]; 16]) -> [[f32; LANES]; 9] {
    // G^T X: rows x0 + (x1+x2)/2, (x1-x2)/2, (x1+x2)/2 + x3, per column j.
    let mut r = [[[0.0f32; LANES]; 4]; 3];
    for j in 0..4 {
        let (x0, x1, x2, x3) = (&m[j], &m[4 + j], &m[8 + j], &m[12 + j]);
        r[0][j] = lanes(|l| x0[l] + 0.5 * (x1[l] + x2[l]));
        r[1][j] = lanes(|l| 0.5 * (x1[l] - x2[l]));
        r[2][j] = lanes(|l| 0.5 * (x1[l] + x2[l]) + x3[l]);
    }
    let mut k = [[0.0f32; LANES]; 9];
    for (i, x) in r.iter().enumerate() {
        let (x0, x1, x2, x3) = (&x[0], &x[1], &x[2], &x[3]);
        k[i * 3] = lanes(|l| x0[l] + 0.5 * (x1[l] + x2[l]));
        k[i * 3 + 1] = lanes(|l| 0.5 * (x1[l] - x2[l]));
        k[i * 3 + 2] = lanes(|l| 0.5 * (x1[l] + x2[l]) + x3[l]);
    }
    k
}

/// `B^T d B` for tile rows `ty0..ty1` of one input plane: tile `(ty, tx)` goes to
/// `v[xi * stride + (ty - ty0) * tw + tx]`.
///
/// Each input row is column-transformed once; the results are stored with even
/// and odd rows in separate blocks, so that combining rows for every tile row of
/// the segment is one long loop per output (tile rows sit `tw` apart in both).
/// Per-row loops would be as short as `tw`, 4 at the nets' last stage.
#[inline(always)]
pub(crate) fn input_tiles(
    g: &Geom,
    plane: &[f32],
    (ty0, ty1): (usize, usize),
    v: &mut [f32],
    stride: usize,
    sc: &mut Vec<f32>,
) {
    let (_, tw) = tiles(g);
    let (nt, half) = (ty1 - ty0, tw + 1);
    let block = (nt + 1) * tw;
    // Everything below is overwritten before it is read.
    sc.resize(2 * half + 8 * block, 0.0);
    let (eo, cols) = sc.split_at_mut(2 * half);
    let (ev, od) = eo.split_at_mut(half);
    // ev[k], od[k]: input columns 2k - pw and 2k + 1 - pw (0 outside the row).
    // Inside, they are a plain deinterleave; `get` handles the few outside.
    let (w, pw) = (g.w as isize, g.pw);
    let k_lo = (pw + 1).div_euclid(2).clamp(0, half as isize) as usize;
    let k_hi = ((w + pw - 2).div_euclid(2) + 1).clamp(k_lo as isize, half as isize) as usize;
    for r in 0..2 * nt + 2 {
        // cols[j] = [even rows | odd rows], each row `tw` long.
        let at = (r % 2) * block + (r / 2) * tw;
        let y = (2 * ty0 + r) as isize - g.ph;
        let (c0, c) = cols.split_at_mut(2 * block);
        let (c1, c) = c.split_at_mut(2 * block);
        let (c2, c3) = c.split_at_mut(2 * block);
        let (c0, c1) = (&mut c0[at..at + tw], &mut c1[at..at + tw]);
        let (c2, c3) = (&mut c2[at..at + tw], &mut c3[at..at + tw]);
        if y < 0 || y >= g.h as isize {
            for c in [c0, c1, c2, c3] {
                c.fill(0.0);
            }
            continue;
        }
        let src = &plane[y as usize * g.w..(y as usize + 1) * g.w];
        let get = |x: isize| {
            if (0..w).contains(&x) {
                src[x as usize]
            } else {
                0.0
            }
        };
        for k in (0..k_lo).chain(k_hi..half) {
            let x = 2 * k as isize - pw;
            (ev[k], od[k]) = (get(x), get(x + 1));
        }
        let inner = &src[(2 * k_lo as isize - pw).max(0) as usize..];
        let pairs = ev[k_lo..k_hi].iter_mut().zip(&mut od[k_lo..k_hi]);
        for ((e, o), p) in pairs.zip(inner.chunks_exact(2)) {
            (*e, *o) = (p[0], p[1]);
        }
        let (e0, e1, o0, o1) = (&ev[..tw], &ev[1..], &od[..tw], &od[1..]);
        zip2(c0, e0, e1, |a, b| a - b);
        zip2(c1, o0, e1, |a, b| a + b);
        zip2(c2, e1, o0, |a, b| a - b);
        zip2(c3, o0, o1, |a, b| a - b);
    }
    let n = nt * tw;
    for j in 0..4 {
        let c = &cols[j * 2 * block..(j + 1) * 2 * block];
        let (e, o) = c.split_at(block);
        let (e0, e1, o0, o1) = (&e[..n], &e[tw..tw + n], &o[..n], &o[tw..tw + n]);
        let at = |i: usize| (i * 4 + j) * stride;
        zip2(&mut v[at(0)..at(0) + n], e0, e1, |a, b| a - b);
        zip2(&mut v[at(1)..at(1) + n], o0, e1, |a, b| a + b);
        zip2(&mut v[at(2)..at(2) + n], e1, o0, |a, b| a - b);
        zip2(&mut v[at(3)..at(3) + n], o0, o1, |a, b| a - b);
    }
}

/// `d[t] = f(a[t], b[t])`: a loop the compiler vectorizes.
#[inline(always)]
fn zip2(d: &mut [f32], a: &[f32], b: &[f32], f: impl Fn(f32, f32) -> f32) {
    d.iter_mut()
        .zip(a.iter().zip(b))
        .for_each(|(d, (&a, &b))| *d = f(a, b));
}

/// `d[t] = f(a[t], b[t], c[t])`.
#[inline(always)]
fn zip3(d: &mut [f32], a: &[f32], b: &[f32], c: &[f32], f: impl Fn(f32, f32, f32) -> f32) {
    d.iter_mut()
        .zip(a.iter().zip(b).zip(c))
        .for_each(|(d, ((&a, &b), &c))| *d = f(a, b, c));
}

/// `A^T m A` for tile rows `ty0..ty1` of one output plane, from
/// `m[xi * stride + (ty - ty0) * tw + tx]`: rows combined over the whole segment
/// at once, then columns per output row.
#[inline(always)]
pub(crate) fn output_tiles(
    g: &Geom,
    m: &[f32],
    stride: usize,
    (ty0, ty1): (usize, usize),
    out: &mut [f32],
    sc: &mut Vec<f32>,
) {
    let (_, tw) = tiles(g);
    let n = (ty1 - ty0) * tw;
    sc.resize(8 * n, 0.0);
    let at = |xi: usize| &m[xi * stride..xi * stride + n];
    // s[dy][j] = (A^T m)[dy][j]: s0 = m0j + m1j + m2j, s1 = m1j - m2j - m3j.
    let (s0, s1) = sc.split_at_mut(4 * n);
    for j in 0..4 {
        let (m0, m1, m2, m3) = (at(j), at(4 + j), at(8 + j), at(12 + j));
        zip3(&mut s0[j * n..(j + 1) * n], m0, m1, m2, |a, b, c| a + b + c);
        zip3(&mut s1[j * n..(j + 1) * n], m1, m2, m3, |a, b, c| a - b - c);
    }
    for t in 0..ty1 - ty0 {
        for (dy, s) in sc.chunks_exact(4 * n).enumerate() {
            let y = 2 * (ty0 + t) + dy;
            if y >= g.oh {
                break;
            }
            let row = &mut out[y * g.ow..(y + 1) * g.ow];
            let col = |j: usize| &s[j * n + t * tw..j * n + (t + 1) * tw];
            let (a, b, c, d) = (col(0), col(1), col(2), col(3));
            let mut pairs = row.chunks_exact_mut(2);
            for (p, (((a, b), c), d)) in (&mut pairs).zip(a.iter().zip(b).zip(c).zip(d)) {
                p[0] = a + b + c;
                p[1] = b - c - d;
            }
            if let [last] = pairs.into_remainder() {
                *last = a[tw - 1] + b[tw - 1] + c[tw - 1];
            }
        }
    }
}

/// `A dy A^T` for tile rows `ty0..ty1` of one dY plane (outside the output counts
/// as 0), written like `input_tiles` writes `V`: the weight gradient's view of dY.
#[inline(always)]
pub(crate) fn grad_tiles(
    g: &Geom,
    plane: &[f32],
    (ty0, ty1): (usize, usize),
    yh: &mut [f32],
    stride: usize,
    sc: &mut Vec<f32>,
) {
    let (_, tw) = tiles(g);
    let n = (ty1 - ty0) * tw;
    sc.resize(6 * n, 0.0);
    // eo = [even, odd] columns of each tile row's top row, then of its bottom row.
    let (eo, ab) = sc.split_at_mut(4 * n);
    for t in 0..ty1 - ty0 {
        for dy in 0..2 {
            let (e, o) = eo[2 * dy * n..(2 * dy + 2) * n].split_at_mut(n);
            let (e, o) = (&mut e[t * tw..(t + 1) * tw], &mut o[t * tw..(t + 1) * tw]);
            let y = 2 * (ty0 + t) + dy;
            if y >= g.oh {
                e.fill(0.0);
                o.fill(0.0);
                continue;
            }
            let row = &plane[y * g.ow..(y + 1) * g.ow];
            let mut pairs = row.chunks_exact(2);
            for ((e, o), p) in e.iter_mut().zip(o.iter_mut()).zip(&mut pairs) {
                (*e, *o) = (p[0], p[1]);
            }
            if let [last] = pairs.remainder() {
                (e[tw - 1], o[tw - 1]) = (*last, 0.0);
            }
        }
    }
    let (e0, o0, e1, o1) = (&eo[..n], &eo[n..2 * n], &eo[2 * n..3 * n], &eo[3 * n..]);
    let (a, b) = ab.split_at_mut(n);
    // Rows of A dy: (e0, o0), (e0+e1, o0+o1), (e0-e1, o0-o1), (-e1, -o1); then
    // each row (a, b) becomes (a, a+b, a-b, -b).
    for i in 0..4 {
        match i {
            0 => {
                a.copy_from_slice(e0);
                b.copy_from_slice(o0);
            }
            1 => {
                zip2(a, e0, e1, |x, y| x + y);
                zip2(b, o0, o1, |x, y| x + y);
            }
            2 => {
                zip2(a, e0, e1, |x, y| x - y);
                zip2(b, o0, o1, |x, y| x - y);
            }
            _ => {
                zip2(a, e1, e1, |x, _| -x);
                zip2(b, o1, o1, |x, _| -x);
            }
        }
        let at = |j: usize| (i * 4 + j) * stride;
        yh[at(0)..at(0) + n].copy_from_slice(a);
        zip2(&mut yh[at(1)..at(1) + n], a, b, |x, y| x + y);
        zip2(&mut yh[at(2)..at(2) + n], a, b, |x, y| x - y);
        zip2(&mut yh[at(3)..at(3) + n], b, b, |x, _| -x);
    }
}
