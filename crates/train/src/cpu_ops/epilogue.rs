//! The convolution's epilogue: bias, ReLU and optionally the 2x2 max-pool, applied
//! to each image's output while it is in cache; and the one pass that turns the
//! gradient arriving at the block's output back into the gradient at the
//! convolution's raw output (`dz`) and the bias gradient.
//!
//! ReLU's gradient follows candle (`z >= 0` passes, so an exact zero does), which
//! `relu(z)` alone cannot tell from `z < 0`: the forward pass records the mask, one
//! bit per element (planes start on a fresh word). A fused pool records, per 2x2
//! window, one byte: which elements tie for the maximum (low nibble) and which have
//! `z >= 0` (high nibble); that is all either pool gradient needs.
//!
//! Where ReLU is not fused (after BatchNorm, in the FC layers), `ReluOp` runs it
//! with a one-pass gradient instead of candle's five passes (zeros, compare, cast,
//! multiply, add).

use candle_core::{CpuStorage, CustomOp1, CustomOp2, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

use super::gemm::threads;
use super::pool::PoolGrad;
use super::simd::vectorized;
use super::{f32_slice, par};

/// What the forward pass saved for the backward pass, per image.
#[derive(Debug)]
pub(crate) enum Saved {
    /// No ReLU: the gradient passes unchanged.
    Nothing,
    /// ReLU's `z >= 0` bits.
    Bits(Vec<Vec<u64>>),
    /// Pool windows: tie nibble | ReLU nibble << 4.
    Windows(Vec<Vec<u8>>),
}

fn words(plane: usize) -> usize {
    plane.div_ceil(64)
}

/// `dst = relu?(conv + bias)` for one image; returns its ReLU bits (empty without ReLU).
pub(crate) fn bias_relu(
    conv: &[f32],
    dst: &mut [f32],
    plane: usize,
    bias: Option<&[f32]>,
    relu: bool,
) -> Vec<u64> {
    vectorized(
        #[inline(always)]
        || bias_relu_body(conv, dst, plane, bias, relu),
    )
}

#[inline(always)]
fn bias_relu_body(
    conv: &[f32],
    dst: &mut [f32],
    plane: usize,
    bias: Option<&[f32]>,
    relu: bool,
) -> Vec<u64> {
    if plane == 0 {
        return Vec::new();
    }
    let wpp = words(plane);
    let mut bits = vec![0u64; if relu { wpp * (conv.len() / plane) } else { 0 }];
    for (o, (src, d)) in conv
        .chunks_exact(plane)
        .zip(dst.chunks_exact_mut(plane))
        .enumerate()
    {
        let b = bias.map_or(0.0, |b| b[o]);
        if !relu {
            d.iter_mut().zip(src).for_each(|(d, s)| *d = s + b);
            continue;
        }
        for ((s, d), word) in src
            .chunks(64)
            .zip(d.chunks_mut(64))
            .zip(&mut bits[o * wpp..(o + 1) * wpp])
        {
            *word = relu_word(s, d, b);
        }
    }
    bits
}

/// `d = relu(s + b)` for up to 64 elements; returns their `s + b >= 0` bits.
#[inline(always)]
fn relu_word(s: &[f32], d: &mut [f32], b: f32) -> u64 {
    let mut w = 0u64;
    if s.len() == 64 && d.len() == 64 {
        // Fixed-size groups of 8: the compare-and-pack then compiles to vector
        // compares and mask moves rather than 64 dependent shifts.
        for (q, (s, d)) in s.chunks_exact(8).zip(d.chunks_exact_mut(8)).enumerate() {
            let mut byte = 0u64;
            for k in 0..8 {
                let z = s[k] + b;
                byte |= u64::from(z >= 0.0) << k;
                d[k] = z.max(0.0);
            }
            w |= byte << (8 * q);
        }
        return w;
    }
    for (i, (s, d)) in s.iter().zip(d.iter_mut()).enumerate() {
        let z = s + b;
        w |= u64::from(z >= 0.0) << i;
        *d = z.max(0.0);
    }
    w
}

/// `dst = max_pool2x2(relu(conv + bias))` for one image of `(h, w)` planes (both
/// even); returns its window bytes.
pub(crate) fn bias_relu_pool(
    conv: &[f32],
    dst: &mut [f32],
    hw: (usize, usize),
    bias: Option<&[f32]>,
) -> Vec<u8> {
    vectorized(
        #[inline(always)]
        || bias_relu_pool_body(conv, dst, hw, bias),
    )
}

#[inline(always)]
fn bias_relu_pool_body(
    conv: &[f32],
    dst: &mut [f32],
    (h, w): (usize, usize),
    bias: Option<&[f32]>,
) -> Vec<u8> {
    let (oh, ow) = (h / 2, w / 2);
    let mut flags = vec![0u8; dst.len()];
    if h * w == 0 {
        return flags;
    }
    let planes = conv
        .chunks_exact(h * w)
        .zip(dst.chunks_exact_mut(oh * ow))
        .zip(flags.chunks_exact_mut(oh * ow));
    for (o, ((src, d), f)) in planes.enumerate() {
        let b = bias.map_or(0.0, |b| b[o]);
        for i in 0..oh {
            let (r0, r1) = (
                &src[2 * i * w..(2 * i + 1) * w],
                &src[(2 * i + 1) * w..(2 * i + 2) * w],
            );
            let (d, f) = (&mut d[i * ow..(i + 1) * ow], &mut f[i * ow..(i + 1) * ow]);
            for (j, (d, f)) in d.iter_mut().zip(f.iter_mut()).enumerate() {
                let z = [
                    r0[2 * j] + b,
                    r0[2 * j + 1] + b,
                    r1[2 * j] + b,
                    r1[2 * j + 1] + b,
                ];
                let y = z.map(|z| z.max(0.0));
                // candle's order and strict `>`, so -0.0 and ties come out the same.
                let m = y[1..].iter().fold(y[0], |m, &v| if v > m { v } else { m });
                let mut bits = 0u8;
                for k in 0..4 {
                    bits |= u8::from(y[k] == m) << k | u8::from(z[k] >= 0.0) << (k + 4);
                }
                (*d, *f) = (m, bits);
            }
        }
    }
    flags
}

/// The gradient at the raw convolution output from `grad` (the block output's
/// gradient, `(c, oh', ow')` per image) and what the forward pass saved, into `dz`
/// (overwriting all of it); the conv output is `(c, h, w)` per image. With
/// `want_bias`, returns the bias gradient.
pub(crate) fn raw_grad(
    grad: &[f32],
    saved: &Saved,
    (batch, c, h, w): (usize, usize, usize, usize),
    mode: PoolGrad,
    want_bias: bool,
    dz: &mut [f32],
) -> Option<Vec<f32>> {
    let per = c * h * w;
    if per == 0 || batch == 0 {
        return want_bias.then(|| vec![0.0; c]);
    }
    let gper = grad.len() / batch;
    let work = |b: usize, dz: &mut [f32]| -> Vec<f32> {
        let g = &grad[b * gper..(b + 1) * gper];
        vectorized(
            #[inline(always)]
            || {
                match saved {
                    Saved::Nothing => dz.copy_from_slice(g),
                    Saved::Bits(bits) => unmask(g, &bits[b], h * w, dz),
                    Saved::Windows(flags) => unpool(g, &flags[b], (h, w), mode, dz),
                }
                if want_bias {
                    dz.chunks_exact(h * w).map(lane_sum).collect()
                } else {
                    Vec::new()
                }
            },
        )
    };
    let group = batch.div_ceil(threads()).max(1);
    let sums: Vec<Vec<f32>> = dz
        .par_chunks_mut(group * per)
        .enumerate()
        .map(|(gi, chunk)| {
            let parts = chunk.chunks_exact_mut(per).enumerate();
            parts
                .map(|(i, d)| work(gi * group + i, d))
                .collect::<Vec<_>>()
        })
        .collect::<Vec<_>>()
        .into_iter()
        .flatten()
        .collect();
    want_bias.then(|| {
        let mut db = vec![0.0f32; c];
        for s in &sums {
            db.iter_mut().zip(s).for_each(|(t, v)| *t += v);
        }
        db
    })
}

/// The bias gradient when the block's output is the convolution's raw output (no
/// ReLU or pool to undo), so `grad` serves as `dz` without a copy: the same sums in
/// the same order as `raw_grad`'s.
pub(crate) fn bias_grad(grad: &[f32], (batch, c, hw): (usize, usize, usize)) -> Vec<f32> {
    let per = c * hw;
    if per == 0 || batch == 0 {
        return vec![0.0; c];
    }
    let group = batch.div_ceil(threads()).max(1);
    let sums: Vec<Vec<f32>> = grad
        .par_chunks(group * per)
        .flat_map_iter(|chunk| {
            chunk.chunks_exact(per).map(|img| {
                vectorized(
                    #[inline(always)]
                    || img.chunks_exact(hw).map(lane_sum).collect::<Vec<f32>>(),
                )
            })
        })
        .collect();
    let mut db = vec![0.0f32; c];
    for s in &sums {
        db.iter_mut().zip(s).for_each(|(t, v)| *t += v);
    }
    db
}

/// The sum of `v` in 8 lanes: a plain `iter().sum()` is one serial chain of
/// additions (f32 addition is not associative, so it does not vectorize).
#[inline(always)]
fn lane_sum(v: &[f32]) -> f32 {
    let mut lanes = [0f32; 8];
    let mut chunks = v.chunks_exact(8);
    for c in &mut chunks {
        lanes.iter_mut().zip(c).for_each(|(l, x)| *l += x);
    }
    lanes.iter().sum::<f32>() + chunks.remainder().iter().sum::<f32>()
}

/// Bit masks of the 16 nibbles, one `u32` per bit: a ReLU word's nibble selects
/// which of 4 gradients pass with a bitwise `and`, which vectorizes (a per-bit
/// branch does not).
const NIBBLES: [[u32; 4]; 16] = {
    let mut t = [[0u32; 4]; 16];
    let mut n = 0;
    while n < 16 {
        let mut k = 0;
        while k < 4 {
            if n >> k & 1 == 1 {
                t[n][k] = u32::MAX;
            }
            k += 1;
        }
        n += 1;
    }
    t
};

/// `dz = g` where the ReLU bit is set, else 0, for one image.
#[inline(always)]
fn unmask(g: &[f32], bits: &[u64], plane: usize, dz: &mut [f32]) {
    let wpp = words(plane);
    let planes = g
        .chunks(plane)
        .zip(dz.chunks_mut(plane))
        .zip(bits.chunks(wpp));
    for ((g, d), bits) in planes {
        for ((g, d), &word) in g.chunks(64).zip(d.chunks_mut(64)).zip(bits) {
            if g.len() < 64 {
                for (i, (g, d)) in g.iter().zip(d.iter_mut()).enumerate() {
                    *d = if word >> i & 1 == 1 { *g } else { 0.0 };
                }
                continue;
            }
            for (q, (g, d)) in g.chunks_exact(4).zip(d.chunks_exact_mut(4)).enumerate() {
                let m = &NIBBLES[(word >> (4 * q) & 15) as usize];
                for ((d, g), m) in d.iter_mut().zip(g).zip(m) {
                    *d = f32::from_bits(g.to_bits() & m);
                }
            }
        }
    }
}

/// One image's pool-and-ReLU gradient: each window's gradient to its maxima
/// (`PoolGrad` decides which, and how much), where the ReLU bit is set.
#[inline(always)]
fn unpool(g: &[f32], flags: &[u8], (h, w): (usize, usize), mode: PoolGrad, dz: &mut [f32]) {
    let (oh, ow) = (h / 2, w / 2);
    let table = match mode {
        PoolGrad::CandleCompat => &COMPAT,
        PoolGrad::Argmax => &ARGMAX,
    };
    let planes = g.chunks(oh * ow).zip(flags.chunks(oh * ow));
    for ((g, f), d) in planes.zip(dz.chunks_mut(h * w)) {
        for i in 0..oh {
            let (r0, r1) = d[2 * i * w..(2 * i + 2) * w].split_at_mut(w);
            let (g, f) = (&g[i * ow..(i + 1) * ow], &f[i * ow..(i + 1) * ow]);
            let (r0, r1) = (r0.chunks_exact_mut(2), r1.chunks_exact_mut(2));
            for (((r0, r1), &gv), &f) in r0.zip(r1).zip(g).zip(f) {
                let (scale, m) = &table[usize::from(f)];
                let s = (gv * scale).to_bits();
                r0[0] = f32::from_bits(s & m[0]);
                r0[1] = f32::from_bits(s & m[1]);
                r1[0] = f32::from_bits(s & m[2]);
                r1[1] = f32::from_bits(s & m[3]);
            }
        }
    }
}

/// Per window byte (tie nibble | ReLU nibble << 4): the factor on the window's
/// gradient and which of its 4 elements receive it (all bits set or none).
type WindowTable = [(f32, [u32; 4]); 256];

/// candle: `dy * ties / 4` to every tied maximum (where ReLU passes).
static COMPAT: WindowTable = window_table(false);
/// PyTorch: all of `dy` to the first maximum (where ReLU passes).
static ARGMAX: WindowTable = window_table(true);

const fn window_table(first_only: bool) -> WindowTable {
    let mut t = [(0.0f32, [0u32; 4]); 256];
    let mut f = 0;
    while f < 256 {
        let ties: usize = f & 15;
        let mut keep = ties & (f >> 4);
        if first_only {
            // The lowest tie bit (there is always one: the maximum ties itself).
            keep &= ties & ties.wrapping_neg();
        }
        let mut k = 0;
        while k < 4 {
            if keep >> k & 1 == 1 {
                t[f].1[k] = u32::MAX;
            }
            k += 1;
        }
        t[f].0 = if first_only {
            1.0
        } else {
            ties.count_ones() as f32 * 0.25
        };
        f += 1;
    }
    t
}

/// `max(x, 0)` whose gradient is one pass (`dy` where `x >= 0`, as candle's ReLU),
/// not candle's five (zeros, compare, cast, multiply, add).
#[derive(Debug)]
pub(crate) struct ReluOp;

impl CustomOp1 for ReluOp {
    fn name(&self) -> &'static str {
        "fast-relu"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = f32_slice(s, l)?;
        let mut y = par::zeroed(x.len());
        par_zip(&mut y, x, x, |y, x, _| *y = x.max(0.0));
        Ok((CpuStorage::F32(y), l.shape().clone()))
    }

    fn bwd(&self, arg: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        Ok(Some(grad.contiguous()?.apply_op2_no_bwd(arg, &ReluGradOp)?))
    }
}

struct ReluGradOp;

impl CustomOp2 for ReluGradOp {
    fn name(&self) -> &'static str {
        "fast-relu-grad"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (g, x) = (f32_slice(s1, l1)?, f32_slice(s2, l2)?);
        if g.len() != x.len() {
            candle_core::bail!("relu gradient: shapes differ");
        }
        let mut d = par::zeroed(g.len());
        par_zip(&mut d, g, x, |d, g, x| *d = if x >= 0.0 { g } else { 0.0 });
        Ok((CpuStorage::F32(d), l1.shape().clone()))
    }
}

/// `f(out[i], a[i], b[i])` for every i, in one contiguous block per thread.
fn par_zip<F>(out: &mut [f32], a: &[f32], b: &[f32], f: F)
where
    F: Fn(&mut f32, f32, f32) + Sync,
{
    let block = out.len().div_ceil(threads()).max(4096);
    out.par_chunks_mut(block)
        .zip(a.par_chunks(block).zip(b.par_chunks(block)))
        .for_each(|(o, (a, b))| {
            vectorized(
                #[inline(always)]
                || {
                    for ((o, &a), &b) in o.iter_mut().zip(a).zip(b) {
                        f(o, a, b);
                    }
                },
            );
        });
}
