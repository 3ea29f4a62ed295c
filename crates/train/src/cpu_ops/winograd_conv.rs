//! Drivers for the Winograd convolution: chunks of tile rows through transform,
//! 16 gemms and inverse transform, images split over the thread budget as in the
//! im2col path.
//!
//! A chunk is either a run of tile rows inside one image (large images) or a run
//! of whole images (small ones, so the gemms stay tall): it never holds part of
//! an image together with another, so each image's output is complete, and can be
//! handed to the epilogue, at the end of the chunk that finishes it.

use super::conv::Geom;
use super::gemm::{Mat, sgemm};
use super::par;
use super::simd::vectorized;
use super::winograd::{CHUNK_FLOATS, grad_tiles, input_tiles, output_tiles, tiles};
use super::winograd_blocked as blocked;

/// How a group of images is cut into chunks.
#[derive(Debug, Clone, Copy)]
struct Plan {
    /// Tile rows per image, tiles per tile row.
    th: usize,
    tw: usize,
    /// Tile rows per chunk: a multiple of `th`, or at most `th`.
    rows: usize,
}

impl Plan {
    fn new(g: &Geom) -> Self {
        let (th, tw) = tiles(g);
        let want = (CHUNK_FLOATS / (16 * tw * (g.cin + g.cout)).max(1)).max(1);
        let rows = if want >= th { want / th * th } else { want };
        Plan { th, tw, rows }
    }

    /// Images whose outputs a chunk may hold at once.
    fn images(&self) -> usize {
        self.rows.div_ceil(self.th).max(1)
    }

    /// The chunks of `n` images: global tile-row ranges `(r0, r1)`.
    fn chunks(&self, n: usize) -> impl Iterator<Item = (usize, usize)> + '_ {
        let end = n * self.th;
        let mut r0 = 0;
        std::iter::from_fn(move || {
            if r0 >= end {
                return None;
            }
            let next_image = (r0 / self.th + 1) * self.th;
            let r1 = if self.rows >= self.th {
                r0 + self.rows
            } else {
                (r0 + self.rows).min(next_image)
            };
            let r = (r0, r1.min(end));
            r0 = r.1;
            Some(r)
        })
    }

    /// Per-image segments `(image, ty0, ty1, first tile in chunk)` of a chunk.
    fn segments(
        &self,
        (r0, r1): (usize, usize),
    ) -> impl Iterator<Item = (usize, usize, usize, usize)> + '_ {
        let th = self.th;
        (r0 / th..r1.div_ceil(th)).map(move |b| {
            let (a, z) = (r0.max(b * th), r1.min((b + 1) * th));
            (b, a - b * th, z - b * th, (a - r0) * self.tw)
        })
    }
}

/// `f(channel, plane, tile rows, first tile in chunk)` for every plane of every
/// image segment of `chunk`, `data` holding `per` floats per image in planes of
/// `hw`. One instruction-set dispatch for the chunk: on small planes a per-plane
/// one was a visible cost (`f` is `#[inline(always)]` at the call sites).
#[inline(always)]
fn each_plane(
    p: &Plan,
    chunk: (usize, usize),
    data: &[f32],
    (per, hw): (usize, usize),
    mut f: impl FnMut(usize, &[f32], (usize, usize), usize),
) {
    vectorized(
        #[inline(always)]
        || {
            for (b, ty0, ty1, t0) in p.segments(chunk) {
                let planes = data[b * per..(b + 1) * per].chunks_exact(hw);
                for (c, plane) in planes.enumerate() {
                    f(c, plane, (ty0, ty1), t0);
                }
            }
        },
    );
}

/// Where the tile-domain matrices of a convolution sit: `V` (its input's
/// tiles) and `M` / `dY^` (its output's), each tile-major where `winograd_blocked`
/// handles its channel count, channel-major otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Layouts {
    input: bool,
    output: bool,
}

impl Layouts {
    fn new(g: &Geom) -> Self {
        // gemm computes a product of at most 16x16 outputs whose operands have
        // the inner dimension unit-stride (the weight gradient's, channel-major)
        // as dot products, summed in another order than its main kernel: tile-
        // major operands there would round differently. Such layers (8->16,
        // 16->16 channels) keep the channel-major layouts, so every trial's
        // numbers stay what they were; they are the cheapest layers anyway.
        let small = g.cin * g.cout <= 16 * 16;
        Layouts {
            input: blocked::applies(g.cin) && !small,
            output: blocked::applies(g.cout) && !small,
        }
    }

    /// `V[xi]` of a chunk of `tc` tiles as the `tc x cin` matrix.
    fn v(self, g: &Geom, tc: usize) -> Mat {
        if self.input {
            Mat::row_major(tc, g.cin, g.cin)
        } else {
            Mat::col_major(tc, g.cin, tc)
        }
    }

    /// `U[xi]` as the `cin x cout` matrix: `[c][o]` beside a tile-major `M`, since
    /// gemm then computes `M^T = U^T V^T` and packs a unit-stride `U^T` for free.
    fn u(self, g: &Geom) -> Mat {
        if self.output {
            Mat::row_major(g.cin, g.cout, g.cout)
        } else {
            Mat::col_major(g.cin, g.cout, g.cin)
        }
    }

    /// `M[xi]` or `dY^[xi]` as the `tc x cout` matrix.
    fn m(self, g: &Geom, tc: usize) -> Mat {
        if self.output {
            Mat::row_major(tc, g.cout, g.cout)
        } else {
            Mat::col_major(tc, g.cout, tc)
        }
    }
}

/// `U = G k G^T` of the 3x3 kernels `kernel(o, c)` of `g`, laid out as
/// `Layouts::u` says.
pub(crate) fn kernels(g: &Geom, kernel: impl Fn(usize, usize) -> [f32; 9] + Sync) -> Vec<f32> {
    kernels_in(g, kernel, Layouts::new(g))
}

fn kernels_in(
    g: &Geom,
    kernel: impl Fn(usize, usize) -> [f32; 9] + Sync,
    lay: Layouts,
) -> Vec<f32> {
    if lay.output {
        super::winograd::kernel_transform(g.cin, g.cout, |c, o| kernel(o, c))
    } else {
        super::winograd::kernel_transform(g.cout, g.cin, kernel)
    }
}

/// `V[xi]` for one chunk of `images`.
fn transform_inputs(
    g: &Geom,
    p: &Plan,
    images: &[f32],
    chunk: (usize, usize),
    v: &mut [f32],
    (sc, lay): (&mut Vec<f32>, Layouts),
) {
    let (hw, il) = (g.h * g.w, g.in_len());
    let tc = (chunk.1 - chunk.0) * p.tw;
    if lay.input {
        vectorized(
            #[inline(always)]
            || {
                for (b, ty0, ty1, t0) in p.segments(chunk) {
                    let image = &images[b * il..(b + 1) * il];
                    blocked::input_tiles(g, image, (ty0, ty1), v, (t0, g.cin * tc), sc);
                }
            },
        );
        return;
    }
    each_plane(
        p,
        chunk,
        images,
        (il, hw),
        #[inline(always)]
        |c, plane, rows, t0| input_tiles(g, plane, rows, &mut v[c * tc + t0..], g.cin * tc, sc),
    );
}

/// `dY^[xi]` for one chunk of `douts`, like `transform_inputs`.
fn transform_grads(
    g: &Geom,
    p: &Plan,
    douts: &[f32],
    chunk: (usize, usize),
    yh: &mut [f32],
    (sc, lay): (&mut Vec<f32>, Layouts),
) {
    let (ohw, ol) = (g.oh * g.ow, g.out_len());
    let tc = (chunk.1 - chunk.0) * p.tw;
    if lay.output {
        vectorized(
            #[inline(always)]
            || {
                for (b, ty0, ty1, t0) in p.segments(chunk) {
                    let image = &douts[b * ol..(b + 1) * ol];
                    blocked::grad_tiles(g, image, (ty0, ty1), yh, (t0, g.cout * tc), sc);
                }
            },
        );
        return;
    }
    each_plane(
        p,
        chunk,
        douts,
        (ol, ohw),
        #[inline(always)]
        |c, plane, rows, t0| {
            let yh = &mut yh[c * tc + t0..];
            grad_tiles(g, plane, rows, yh, g.cout * tc, sc);
        },
    );
}

/// Forward convolution of `n` images starting at `b0`, outputs into `dst`.
fn forward_images<T>(
    g: &Geom,
    (inp, u): (&[f32], &[f32]),
    (b0, n): (usize, usize),
    dst: &mut [f32],
    (nt, lay): (usize, Layouts),
    emit: Option<&(impl Fn(usize, &mut [f32], &mut [f32]) -> T + Sync)>,
) -> Vec<T> {
    let p = Plan::new(g);
    let (ol, ohw, il) = (g.out_len(), g.oh * g.ow, g.in_len());
    let images = &inp[b0 * il..(b0 + n) * il];
    let per = dst.len() / n.max(1);
    let tmax = p.rows * p.tw;
    let mut v = par::take(16 * g.cin * tmax);
    let mut m = par::take(16 * g.cout * tmax);
    let mut out = par::take(if emit.is_some() { p.images() * ol } else { 0 });
    let mut sc = Vec::new();
    let mut res = Vec::with_capacity(n);
    for chunk in p.chunks(n) {
        let tc = (chunk.1 - chunk.0) * p.tw;
        transform_inputs(g, &p, images, chunk, &mut v, (&mut sc, lay));
        for xi in 0..16 {
            sgemm(
                (&mut m[xi * g.cout * tc..], lay.m(g, tc)),
                (&v[xi * g.cin * tc..], lay.v(g, tc)),
                (&u[xi * g.cin * g.cout..], lay.u(g)),
                false,
                nt,
            );
        }
        let first = chunk.0 / p.th;
        for (b, ty0, ty1, t0) in p.segments(chunk) {
            let d = &mut dst[b * per..(b + 1) * per];
            let o = match emit {
                Some(_) => &mut out[(b - first) * ol..(b - first + 1) * ol],
                None => &mut *d,
            };
            vectorized(
                #[inline(always)]
                || {
                    if lay.output {
                        let at = (t0, g.cout * tc);
                        blocked::output_tiles(g, &m, at, (ty0, ty1), o, &mut sc);
                        return;
                    }
                    for (c, plane) in o.chunks_exact_mut(ohw).enumerate() {
                        let m = &m[c * tc + t0..];
                        output_tiles(g, m, g.cout * tc, (ty0, ty1), plane, &mut sc);
                    }
                },
            );
            if let (Some(emit), true) = (emit, ty1 == p.th) {
                let o = &mut out[(b - first) * ol..(b - first + 1) * ol];
                res.push(emit(b0 + b, o, d));
            }
        }
    }
    res
}

/// Winograd forward over the batch into `dst`; see `conv::forward` (`emit: None`
/// writes outputs straight into `dst`).
pub(crate) fn forward<T, F>(
    g: &Geom,
    inp: &[f32],
    u: &[f32],
    dst: &mut [f32],
    emit: Option<&F>,
) -> Vec<T>
where
    T: Send,
    F: Fn(usize, &mut [f32], &mut [f32]) -> T + Sync,
{
    forward_in(g, (inp, u), dst, emit, Layouts::new(g))
}

fn forward_in<T, F>(
    g: &Geom,
    (inp, u): (&[f32], &[f32]),
    dst: &mut [f32],
    emit: Option<&F>,
    lay: Layouts,
) -> Vec<T>
where
    T: Send,
    F: Fn(usize, &mut [f32], &mut [f32]) -> T + Sync,
{
    par::map_images(g.batch, dst, |b0, n, d, nt| {
        forward_images(g, (inp, u), (b0, n), d, (nt, lay), emit)
    })
}

/// The weight gradient (OIHW) of a convolution `winograd::applies` to:
/// `dU[xi][o][c] = sum_t (A dY A^T)[xi][o][t] * V[xi][c][t]`, then `G^T dU G`.
pub(crate) fn weight_grad(g: &Geom, inp: &[f32], dout: &[f32]) -> Vec<f32> {
    weight_grad_in(g, inp, dout, Layouts::new(g))
}

fn weight_grad_in(g: &Geom, inp: &[f32], dout: &[f32], lay: Layouts) -> Vec<f32> {
    let (il, ol) = (g.in_len(), g.out_len());
    let du = par::sum_images(g.batch, 16 * g.cout * g.cin, |b0, n, nt| {
        let p = Plan::new(g);
        let images = &inp[b0 * il..(b0 + n) * il];
        let douts = &dout[b0 * ol..(b0 + n) * ol];
        let tmax = p.rows * p.tw;
        let mut v = par::take(16 * g.cin * tmax);
        let mut yh = par::take(16 * g.cout * tmax);
        let mut du = vec![0.0f32; 16 * g.cout * g.cin];
        let mut sc = Vec::new();
        for chunk in p.chunks(n) {
            let tc = (chunk.1 - chunk.0) * p.tw;
            transform_inputs(g, &p, images, chunk, &mut v, (&mut sc, lay));
            transform_grads(g, &p, douts, chunk, &mut yh, (&mut sc, lay));
            // dU[xi] (cin x cout) = V[xi]^T dY^[xi].
            let vt = lay.v(g, tc);
            let vt = Mat {
                rows: vt.cols,
                cols: vt.rows,
                rs: vt.cs,
                cs: vt.rs,
            };
            for xi in 0..16 {
                sgemm(
                    (
                        &mut du[xi * g.cout * g.cin..],
                        Mat::col_major(g.cin, g.cout, g.cin),
                    ),
                    (&v[xi * g.cin * tc..], vt),
                    (&yh[xi * g.cout * tc..], lay.m(g, tc)),
                    true,
                    nt,
                );
            }
        }
        du
    });
    super::winograd::kernel_grad(g.cout, g.cin, &du)
}

#[cfg(test)]
#[path = "winograd_conv_tests.rs"]
mod tests;
