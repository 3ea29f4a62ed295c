//! im2col convolution for small planes, several images per gemm: the nets' last
//! stage (4x4 and smaller, 128-512 channels).
//!
//! Why: per image, such a layer is a gemm 16 rows tall against a 1152 x 128 (or
//! larger) kernel, which gemm packs again for every image; F(2x2) Winograd there
//! is 4 tiles per image, so its transforms (loops a tile or two long) eat most of
//! the multiplications it saves, and its weight gradient sums 16 thin products.
//! Stacking the im2col rows of a group of images makes one gemm hundreds of rows
//! tall. Against Winograd, 2 threads, batch 64 (`ablate bench train --per-op`):
//! about 5% faster at 128 channels, and at 512 the forward 25 -> 21 ms and the
//! weight gradient 46 -> 31 ms. At 8x8 Winograd stays ahead.
//!
//! Layouts: `col[kk][(b, p)]` for the group's images `b` and pixels `p`, and the
//! product `y[o][(b, p)]`, which the image loop scatters back to NCHW.

use super::conv::Geom;
use super::gemm::{Mat, sgemm};
use super::par;

/// im2col floats per group of images: about 2 MiB, this machine's L2 per core.
const GROUP_FLOATS: usize = 512 * 1024;

/// Whether `g` goes through this module: planes of at most 16 pixels, with
/// enough rows in the im2col matrix that one image alone would make a thin gemm.
pub(crate) fn applies(g: &Geom) -> bool {
    g.oh * g.ow <= 16 && g.k() >= 64
}

/// Images per gemm: as many as fit `GROUP_FLOATS`, at least one.
fn images_per_gemm(g: &Geom) -> usize {
    (GROUP_FLOATS / (g.k() * g.oh * g.ow).max(1)).max(1)
}

/// im2col of images `b0..b0 + n` into `col`, image `i` at column `i * ohw`
/// (rows `n * ohw` long). Each input plane is first copied into a zero-bordered
/// window `pad` of the `(oh + kh - 1) x (ow + kw - 1)` pixels the kernel reads;
/// then every im2col row is a gather from it through one index table, with no
/// bounds logic per im2col element: rows of a few pixels made memcpy and memset
/// calls, or per-element branches, most of the time.
fn im2col_group(
    g: &Geom,
    inp: &[f32],
    (b0, n): (usize, usize),
    col: &mut [f32],
    pad: &mut Vec<f32>,
) {
    let (il, ohw, hw) = (g.in_len(), g.oh * g.ow, g.h * g.w);
    let (ph, pw) = (g.oh + g.kh - 1, g.ow + g.kw - 1);
    pad.resize(ph * pw, 0.0);
    let idx: Vec<usize> = (0..ohw).map(|p| (p / g.ow) * pw + p % g.ow).collect();
    let ld = n * ohw;
    for i in 0..n {
        let img = &inp[(b0 + i) * il..(b0 + i + 1) * il];
        for (c, plane) in img.chunks_exact(hw).enumerate() {
            for (r, row) in pad.chunks_exact_mut(pw).enumerate() {
                let y = r as isize - g.ph;
                for (s, v) in row.iter_mut().enumerate() {
                    let x = s as isize - g.pw;
                    let inside = (0..g.h as isize).contains(&y) && (0..g.w as isize).contains(&x);
                    *v = if inside {
                        plane[y as usize * g.w + x as usize]
                    } else {
                        0.0
                    };
                }
            }
            for ky in 0..g.kh {
                for kx in 0..g.kw {
                    let kk = (c * g.kh + ky) * g.kw + kx;
                    let win = &pad[ky * pw + kx..];
                    let dst = &mut col[kk * ld + i * ohw..][..ohw];
                    for (d, &j) in dst.iter_mut().zip(&idx) {
                        *d = win[j];
                    }
                }
            }
        }
    }
}

/// The forward convolution of images `b0..b0 + n` into `dst` (their outputs, in
/// order), through `emit` as in `conv::forward` when given.
pub(crate) fn forward_images<T>(
    g: &Geom,
    (inp, wt): (&[f32], &[f32]),
    (b0, n): (usize, usize),
    dst: &mut [f32],
    nt: usize,
    emit: Option<&(impl Fn(usize, &mut [f32], &mut [f32]) -> T + Sync)>,
) -> Vec<T> {
    let (k, ohw, ol) = (g.k(), g.oh * g.ow, g.out_len());
    let per = dst.len() / n.max(1);
    let group = images_per_gemm(g).min(n.max(1));
    let mut col = par::take(k * group * ohw);
    let mut y = par::take(g.cout * group * ohw);
    let mut pad = Vec::new();
    let mut out = par::take(if emit.is_some() { ol } else { 0 });
    let mut res = Vec::with_capacity(n);
    let mut i0 = 0;
    while i0 < n {
        let m = group.min(n - i0);
        let rows = m * ohw;
        im2col_group(g, inp, (b0 + i0, m), &mut col, &mut pad);
        sgemm(
            (&mut y, Mat::col_major(rows, g.cout, rows)),
            (&col, Mat::col_major(rows, k, rows)),
            (wt, Mat::col_major(k, g.cout, k)),
            false,
            nt,
        );
        for i in 0..m {
            let d = &mut dst[(i0 + i) * per..(i0 + i + 1) * per];
            let o = if emit.is_some() { &mut *out } else { &mut *d };
            for (oc, plane) in o.chunks_exact_mut(ohw).enumerate() {
                plane.copy_from_slice(&y[oc * rows + i * ohw..][..ohw]);
            }
            if let Some(emit) = emit {
                res.push(emit(b0 + i0 + i, &mut out, d));
            }
        }
        i0 += m;
    }
    res
}

/// `dW` (as `K x cout`, i.e. OIHW) summed over images `b0..b0 + n`:
/// `dW[kk][o] = sum_(b, p) col[kk][(b, p)] * dY[b][o][p]`, one gemm per group.
pub(crate) fn weight_grad_images(
    g: &Geom,
    (inp, dout): (&[f32], &[f32]),
    (b0, n): (usize, usize),
    nt: usize,
) -> Vec<f32> {
    let (k, ohw, ol) = (g.k(), g.oh * g.ow, g.out_len());
    let group = images_per_gemm(g).min(n.max(1));
    let mut acc = vec![0.0f32; g.cout * k];
    let mut col = par::take(k * group * ohw);
    let mut dy = par::take(g.cout * group * ohw);
    let mut pad = Vec::new();
    let mut i0 = 0;
    while i0 < n {
        let m = group.min(n - i0);
        let rows = m * ohw;
        im2col_group(g, inp, (b0 + i0, m), &mut col, &mut pad);
        // dY of the group as `[o][(b, p)]`, the layout of the im2col columns.
        for i in 0..m {
            let src = &dout[(b0 + i0 + i) * ol..(b0 + i0 + i + 1) * ol];
            for (oc, plane) in src.chunks_exact(ohw).enumerate() {
                dy[oc * rows + i * ohw..][..ohw].copy_from_slice(plane);
            }
        }
        sgemm(
            (&mut acc, Mat::col_major(k, g.cout, k)),
            (&col, Mat::row_major(k, rows, rows)),
            (&dy, Mat::col_major(rows, g.cout, rows)),
            true,
            nt,
        );
        i0 += m;
    }
    acc
}
