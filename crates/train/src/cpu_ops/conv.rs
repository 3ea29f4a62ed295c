//! Stride-1 convolution kernels on plain NCHW slices: forward, input gradient and
//! weight gradient, each an im2col of a band of output rows followed by one gemm.
//!
//! The band keeps the im2col matrix around L2 size, so gemm packs it while it is
//! still hot instead of streaming a whole image's copy (288 x 4096 floats for a
//! 32-channel 64x64 layer) through memory. Images are split across the thread budget
//! with one single-threaded gemm per band; only a batch smaller than the budget lets
//! gemm split a product itself.

use rayon::prelude::*;

use super::gemm::{Mat, sgemm, threads};

/// im2col floats per band; about 0.5 MiB, a quarter of this machine's L2.
const BAND_FLOATS: usize = 1048576;

/// One stride-1 convolution: `out[b, o, y, x] = sum_{c, ky, kx} w[o, c, ky, kx] *
/// inp[b, c, y + ky - ph, x + kx - pw]`, zero outside the input. Negative padding
/// crops, which the input gradient of a kernel smaller than `2 * pad + 1` needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Geom {
    pub batch: usize,
    pub cin: usize,
    pub h: usize,
    pub w: usize,
    pub cout: usize,
    pub kh: usize,
    pub kw: usize,
    pub ph: isize,
    pub pw: isize,
    pub oh: usize,
    pub ow: usize,
}

impl Geom {
    /// A convolution with symmetric padding `pad`, as candle's conv2d defines it.
    pub fn new(
        (batch, cin, h, w): (usize, usize, usize, usize),
        (cout, kh, kw): (usize, usize, usize),
        pad: usize,
    ) -> Option<Self> {
        let oh = (h + 2 * pad).checked_sub(kh)? + 1;
        let ow = (w + 2 * pad).checked_sub(kw)? + 1;
        let p = pad as isize;
        Some(Geom {
            batch,
            cin,
            h,
            w,
            cout,
            kh,
            kw,
            ph: p,
            pw: p,
            oh,
            ow,
        })
    }

    /// Rows of the im2col matrix (the gemm's inner dimension).
    pub fn k(&self) -> usize {
        self.cin * self.kh * self.kw
    }

    pub fn in_len(&self) -> usize {
        self.cin * self.h * self.w
    }

    pub fn out_len(&self) -> usize {
        self.cout * self.oh * self.ow
    }

    /// The input gradient as a forward convolution: dY convolved with the kernel
    /// flipped in space and transposed in channels, padded by `k - 1 - pad`.
    pub fn transposed(&self) -> Self {
        Geom {
            batch: self.batch,
            cin: self.cout,
            h: self.oh,
            w: self.ow,
            cout: self.cin,
            kh: self.kh,
            kw: self.kw,
            ph: self.kh as isize - 1 - self.ph,
            pw: self.kw as isize - 1 - self.pw,
            oh: self.h,
            ow: self.w,
        }
    }

    /// Output rows per band: as many as fit `BAND_FLOATS`, at least one.
    fn band_rows(&self) -> usize {
        (BAND_FLOATS / (self.k() * self.ow).max(1)).clamp(1, self.oh.max(1))
    }
}

/// The forward weight matrix: OIHW `w` as `K x cout`, row-major (gemm's preferred
/// right-hand layout, so it is not re-packed from a transpose on every band).
pub(crate) fn forward_weights(g: &Geom, w: &[f32]) -> Vec<f32> {
    let k = g.k();
    let mut wt = vec![0.0; k * g.cout];
    for (o, row) in w.chunks_exact(k).enumerate() {
        for (kk, &v) in row.iter().enumerate() {
            wt[kk * g.cout + o] = v;
        }
    }
    wt
}

/// The weight matrix of `g.transposed()`: `wt[(o, ky, kx)][c] = w[o, c, kh-1-ky, kw-1-kx]`.
pub(crate) fn input_grad_weights(g: &Geom, w: &[f32]) -> Vec<f32> {
    let (kh, kw, cin) = (g.kh, g.kw, g.cin);
    let mut wt = vec![0.0; g.cout * kh * kw * cin];
    for o in 0..g.cout {
        for c in 0..cin {
            for ky in 0..kh {
                for kx in 0..kw {
                    let src = ((o * cin + c) * kh + (kh - 1 - ky)) * kw + (kw - 1 - kx);
                    wt[((o * kh + ky) * kw + kx) * cin + c] = w[src];
                }
            }
        }
    }
    wt
}

/// im2col of output rows `y0..y1` of one image, laid out `[kk][p]` with
/// `p = (y - y0) * ow + x`: each row is a shifted copy of an input row.
fn im2col(g: &Geom, img: &[f32], y0: usize, y1: usize, col: &mut [f32]) {
    let (ow, hw) = (g.ow, g.h * g.w);
    let len = (y1 - y0) * ow;
    let mut rows = col[..g.k() * len].chunks_exact_mut(len);
    for plane in img.chunks_exact(hw) {
        for ky in 0..g.kh {
            for kx in 0..g.kw {
                let Some(row) = rows.next() else { return };
                let off = kx as isize - g.pw;
                let lo = (-off).clamp(0, ow as isize) as usize;
                let hi = (g.w as isize - off).clamp(lo as isize, ow as isize) as usize;
                for (y, dst) in (y0..y1).zip(row.chunks_exact_mut(ow)) {
                    let sy = y as isize + ky as isize - g.ph;
                    if sy < 0 || sy >= g.h as isize || lo == hi {
                        dst.fill(0.0);
                        continue;
                    }
                    let src = &plane[sy as usize * g.w..(sy as usize + 1) * g.w];
                    let s0 = (lo as isize + off) as usize;
                    dst[..lo].fill(0.0);
                    dst[lo..hi].copy_from_slice(&src[s0..s0 + (hi - lo)]);
                    dst[hi..].fill(0.0);
                }
            }
        }
    }
}

/// One image of the forward convolution into `out` (`cout x oh x ow`).
fn forward_image(
    g: &Geom,
    img: &[f32],
    wt: &[f32],
    out: &mut [f32],
    col: &mut Vec<f32>,
    nt: usize,
) {
    let (k, ohw, band) = (g.k(), g.oh * g.ow, g.band_rows());
    col.resize(k * band * g.ow, 0.0);
    let mut y0 = 0;
    while y0 < g.oh {
        let y1 = (y0 + band).min(g.oh);
        let p = (y1 - y0) * g.ow;
        im2col(g, img, y0, y1, col);
        sgemm(
            (&mut out[y0 * g.ow..], Mat::col_major(p, g.cout, ohw)),
            (col, Mat::col_major(p, k, p)),
            (wt, Mat::row_major(k, g.cout, g.cout)),
            false,
            nt,
        );
        y0 = y1;
    }
}

/// The convolution of every image, `after(image, out)` run on each image's output
/// while it is still in cache; its results come back in image order. `wt` comes
/// from `forward_weights` (or `input_grad_weights` with a transposed geometry).
pub(crate) fn forward<T, F>(g: &Geom, inp: &[f32], wt: &[f32], out: &mut [f32], after: F) -> Vec<T>
where
    T: Send,
    F: Fn(usize, &mut [f32]) -> T + Sync,
{
    let (il, ol) = (g.in_len(), g.out_len());
    let nt = threads();
    if ol == 0 || g.batch < nt {
        let mut col = Vec::new();
        let mut res = Vec::with_capacity(g.batch);
        for b in 0..g.batch {
            let o = &mut out[b * ol..(b + 1) * ol];
            forward_image(g, &inp[b * il..(b + 1) * il], wt, o, &mut col, nt);
            res.push(after(b, o));
        }
        return res;
    }
    let group = g.batch.div_ceil(nt);
    let parts: Vec<Vec<T>> = out
        .par_chunks_mut(group * ol)
        .enumerate()
        .map(|(gi, chunk)| {
            let mut col = Vec::new();
            let mut res = Vec::with_capacity(group);
            for (i, o) in chunk.chunks_exact_mut(ol).enumerate() {
                let b = gi * group + i;
                forward_image(g, &inp[b * il..(b + 1) * il], wt, o, &mut col, 1);
                res.push(after(b, o));
            }
            res
        })
        .collect();
    parts.into_iter().flatten().collect()
}

/// `dW[o, c, ky, kx] = sum_b sum_p dY[b, o, p] * im2col(X_b)[(c, ky, kx), p]`,
/// returned OIHW. Each thread sums its images into its own matrix; the partial
/// sums are added in a fixed order so the result does not depend on scheduling.
pub(crate) fn weight_grad(g: &Geom, inp: &[f32], dout: &[f32]) -> Vec<f32> {
    let (k, il, ol, ohw) = (g.k(), g.in_len(), g.out_len(), g.oh * g.ow);
    let nt = threads();
    let group = g.batch.div_ceil(nt).max(1);
    let inner = if g.batch < nt { nt } else { 1 };
    let partial = |gi: usize| {
        let mut acc = vec![0.0f32; g.cout * k];
        let mut col = Vec::new();
        let band = g.band_rows();
        col.resize(k * band * g.ow, 0.0);
        for b in gi * group..((gi + 1) * group).min(g.batch) {
            let img = &inp[b * il..(b + 1) * il];
            let dy = &dout[b * ol..(b + 1) * ol];
            let mut y0 = 0;
            while y0 < g.oh {
                let y1 = (y0 + band).min(g.oh);
                let p = (y1 - y0) * g.ow;
                im2col(g, img, y0, y1, &mut col);
                sgemm(
                    (&mut acc, Mat::col_major(k, g.cout, k)),
                    (&col, Mat::row_major(k, p, p)),
                    (&dy[y0 * g.ow..], Mat::col_major(p, g.cout, ohw)),
                    true,
                    inner,
                );
                y0 = y1;
            }
        }
        acc
    };
    let groups = g.batch.div_ceil(group);
    let parts: Vec<Vec<f32>> = if inner > 1 {
        (0..groups).map(partial).collect()
    } else {
        (0..groups).into_par_iter().map(partial).collect()
    };
    let mut parts = parts.into_iter();
    let mut total = parts.next().unwrap_or_else(|| vec![0.0; g.cout * k]);
    for p in parts {
        total.iter_mut().zip(&p).for_each(|(t, v)| *t += v);
    }
    total
}
