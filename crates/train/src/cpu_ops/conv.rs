//! Stride-1 convolution on plain NCHW slices: its geometry, the choice of
//! algorithm (Winograd for 3x3 kernels, see `winograd`), and the general path:
//! forward, input gradient and weight gradient, each an im2col of a band of output
//! rows followed by one gemm.
//!
//! The band keeps the im2col matrix around L2 size, so gemm packs it while it is
//! still hot instead of streaming a whole image's copy through memory. Images are
//! split across the thread budget with one single-threaded gemm per band; only a
//! batch smaller than the budget lets gemm split a product itself.

use rayon::prelude::*;

use super::gemm::{Mat, sgemm};
use super::{conv_batched, par, winograd, winograd_conv};

/// im2col floats per band; about 0.5 MiB, a quarter of this machine's L2.
const BAND_FLOATS: usize = 128 * 1024;

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

/// The kernel of `g.transposed()` in the layout of an OIHW kernel (which is also
/// the im2col gemm's right operand, `K x cout` column-major):
/// `wt[c][(o, ky, kx)] = w[o, c, kh-1-ky, kw-1-kx]`. Blocks of input channels in
/// parallel, so each `o` reads one contiguous run of `w`: done serially, kernel
/// tap by kernel tap, it was a quarter of a 512-channel 4x4 input gradient.
fn input_grad_weights(g: &Geom, w: &[f32]) -> Vec<f32> {
    const BLOCK: usize = 16;
    let (taps, cin, cout) = (g.kh * g.kw, g.cin, g.cout);
    let mut wt = vec![0.0; cout * taps * cin];
    if taps == 0 || cout == 0 {
        return wt;
    }
    wt.par_chunks_mut(BLOCK * cout * taps)
        .enumerate()
        .for_each(|(bi, block)| {
            let c0 = bi * BLOCK;
            let cb = block.len() / (cout * taps);
            for o in 0..cout {
                let src = &w[(o * cin + c0) * taps..][..cb * taps];
                for (ci, k) in src.chunks_exact(taps).enumerate() {
                    let dst = &mut block[(ci * cout + o) * taps..][..taps];
                    // kh-1-ky, kw-1-kx: the taps of a row-major kernel reversed.
                    for (d, s) in dst.iter_mut().zip(k.iter().rev()) {
                        *d = *s;
                    }
                }
            }
        });
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
fn forward_image(g: &Geom, img: &[f32], wt: &[f32], out: &mut [f32], col: &mut [f32], nt: usize) {
    let (k, ohw, band) = (g.k(), g.oh * g.ow, g.band_rows());
    let mut y0 = 0;
    while y0 < g.oh {
        let y1 = (y0 + band).min(g.oh);
        let p = (y1 - y0) * g.ow;
        im2col(g, img, y0, y1, col);
        sgemm(
            (&mut out[y0 * g.ow..], Mat::col_major(p, g.cout, ohw)),
            (col, Mat::col_major(p, k, p)),
            (wt, Mat::col_major(k, g.cout, k)),
            false,
            nt,
        );
        y0 = y1;
    }
}

/// A kernel rearranged for the algorithm that will run it.
pub(crate) enum Prepared {
    /// OIHW, i.e. `K x cout` column-major, for im2col + gemm.
    Im2col(Vec<f32>),
    /// `U[xi]`, for Winograd F(2x2, 3x3) (`winograd_conv::kernels`).
    Winograd(Vec<f32>),
}

/// Winograd for 3x3 kernels, except on the small planes `conv_batched` takes.
fn winograd_pays(g: &Geom) -> bool {
    winograd::applies(g) && !conv_batched::applies(g)
}

/// The kernel of the forward convolution `g`, OIHW `w`.
pub(crate) fn prepare_forward(g: &Geom, w: &[f32]) -> Prepared {
    if winograd_pays(g) {
        let k = |o: usize, c: usize| std::array::from_fn(|i| w[(o * g.cin + c) * 9 + i]);
        Prepared::Winograd(winograd_conv::kernels(g, k))
    } else {
        Prepared::Im2col(w.to_vec())
    }
}

/// The geometry and kernel of the input gradient of forward convolution `g`.
pub(crate) fn prepare_input_grad(g: &Geom, w: &[f32]) -> (Geom, Prepared) {
    let t = g.transposed();
    let kernel = if winograd_pays(&t) {
        // Output channel c of the transposed conv reads input channel o with the
        // kernel w[o][c] rotated by 180 degrees, i.e. its 9 taps reversed.
        let k = |c: usize, o: usize| std::array::from_fn(|i| w[(o * g.cin + c) * 9 + 8 - i]);
        Prepared::Winograd(winograd_conv::kernels(&t, k))
    } else {
        Prepared::Im2col(input_grad_weights(g, w))
    };
    (t, kernel)
}

/// The convolution of every image into a per-thread scratch image, then
/// `emit(image, conv_out, dst_part)` while that is still in cache: `dst` holds the
/// batch's final outputs (one equal part per image), which `emit` writes (adding
/// bias, pooling...). Its results come back in image order.
pub(crate) fn forward<T, F>(g: &Geom, inp: &[f32], k: &Prepared, dst: &mut [f32], emit: F) -> Vec<T>
where
    T: Send,
    F: Fn(usize, &mut [f32], &mut [f32]) -> T + Sync,
{
    match k {
        Prepared::Im2col(wt) => forward_im2col(g, inp, wt, dst, Some(&emit)),
        Prepared::Winograd(u) => winograd_conv::forward(g, inp, u, dst, Some(&emit)),
    }
}

/// The plain convolution of every image, written straight into `dst`.
pub(crate) fn forward_into(g: &Geom, inp: &[f32], k: &Prepared, dst: &mut [f32]) {
    type Direct = fn(usize, &mut [f32], &mut [f32]);
    match k {
        Prepared::Im2col(wt) => forward_im2col(g, inp, wt, dst, None::<&Direct>),
        Prepared::Winograd(u) => winograd_conv::forward(g, inp, u, dst, None::<&Direct>),
    };
}

/// The weight gradient (OIHW) of convolution `g` given its input and dY.
pub(crate) fn weight_grad(g: &Geom, inp: &[f32], dout: &[f32]) -> Vec<f32> {
    if conv_batched::applies(g) {
        par::sum_images(g.batch, g.cout * g.k(), |b0, n, nt| {
            conv_batched::weight_grad_images(g, (inp, dout), (b0, n), nt)
        })
    } else if winograd::applies(g) {
        winograd_conv::weight_grad(g, inp, dout)
    } else {
        weight_grad_im2col(g, inp, dout)
    }
}

/// im2col driver of `forward`; `emit: None` writes outputs straight into `dst`.
fn forward_im2col<T, F>(
    g: &Geom,
    inp: &[f32],
    wt: &[f32],
    dst: &mut [f32],
    emit: Option<&F>,
) -> Vec<T>
where
    T: Send,
    F: Fn(usize, &mut [f32], &mut [f32]) -> T + Sync,
{
    let il = g.in_len();
    if conv_batched::applies(g) {
        return par::map_images(g.batch, dst, |b0, n, dst, nt| {
            conv_batched::forward_images(g, (inp, wt), (b0, n), dst, nt, emit)
        });
    }
    par::map_images(g.batch, dst, |b0, n, dst, nt| {
        let per = dst.len() / n.max(1);
        let mut col = par::take(g.k() * g.band_rows() * g.ow);
        let mut out = par::take(if emit.is_some() { g.out_len() } else { 0 });
        let mut res = Vec::with_capacity(n);
        for (b, d) in (b0..b0 + n).zip(dst.chunks_mut(per.max(1))) {
            let img = &inp[b * il..(b + 1) * il];
            match emit {
                Some(emit) => {
                    forward_image(g, img, wt, &mut out, &mut col, nt);
                    res.push(emit(b, &mut out, d));
                }
                None => forward_image(g, img, wt, d, &mut col, nt),
            }
        }
        res
    })
}

/// `dW[o, c, ky, kx] = sum_b sum_p dY[b, o, p] * im2col(X_b)[(c, ky, kx), p]`,
/// returned OIHW. Each thread sums its images into its own matrix; the partial
/// sums are added in a fixed order so the result does not depend on scheduling.
fn weight_grad_im2col(g: &Geom, inp: &[f32], dout: &[f32]) -> Vec<f32> {
    let (k, il, ol, ohw) = (g.k(), g.in_len(), g.out_len(), g.oh * g.ow);
    let band = g.band_rows();
    par::sum_images(g.batch, g.cout * k, |b0, n, nt| {
        let mut acc = vec![0.0f32; g.cout * k];
        let mut col = par::take(k * band * g.ow);
        for b in b0..b0 + n {
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
                    nt,
                );
                y0 = y1;
            }
        }
        acc
    })
}
