//! The convolution's epilogue and its gradient: bias add and ReLU, fused into the
//! forward pass while the output is in cache, and the mask-and-sum that undoes them.
//!
//! ReLU's gradient follows candle (`z >= 0` passes, so an exact zero does). The
//! fused op only keeps `relu(z)`, which cannot tell `z == 0` from `z < 0`, so the
//! forward pass records the `z >= 0` mask as one bit per element (1/32 of the
//! activation's memory).

use candle_core::{CpuStorage, CustomOp1, CustomOp2, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

use super::f32_slice;
use super::gemm::threads;

/// Adds `bias[o]` to channel `o` of one image's output and applies ReLU when
/// `relu`; returns that image's `z >= 0` bits (empty without ReLU).
pub(crate) fn bias_relu(
    out: &mut [f32],
    plane: usize,
    bias: Option<&[f32]>,
    relu: bool,
) -> Vec<u64> {
    if !relu {
        if let Some(bias) = bias {
            for (o, p) in out.chunks_exact_mut(plane).enumerate() {
                let b = bias[o];
                p.iter_mut().for_each(|v| *v += b);
            }
        }
        return Vec::new();
    }
    let mut bits = vec![0u64; out.len().div_ceil(64)];
    for (o, p) in out.chunks_exact_mut(plane).enumerate() {
        let b = bias.map_or(0.0, |b| b[o]);
        p.iter_mut().for_each(|v| *v += b);
        let base = o * plane;
        for (i, v) in p.iter_mut().enumerate() {
            let e = base + i;
            bits[e / 64] |= u64::from(*v >= 0.0) << (e % 64);
            *v = v.max(0.0);
        }
    }
    bits
}

/// The gradient at the convolution's raw output: `grad` masked by each image's
/// bits (when `bits` is given), and, when `want_bias`, its sum per channel.
pub(crate) fn masked_grad(
    grad: &[f32],
    (cout, plane): (usize, usize),
    bits: Option<&[Vec<u64>]>,
    want_bias: bool,
) -> (Vec<f32>, Option<Vec<f32>>) {
    let per = cout * plane;
    let mut dz = match bits {
        Some(_) => vec![0.0f32; grad.len()],
        None => grad.to_vec(),
    };
    if per == 0 {
        return (dz, want_bias.then(|| vec![0.0; cout]));
    }
    let work = |b: usize, dz: &mut [f32]| -> Vec<f32> {
        if let Some(bits) = bits {
            let (g, words) = (&grad[b * per..(b + 1) * per], &bits[b]);
            for (w, (d, g)) in dz.chunks_mut(64).zip(g.chunks(64)).enumerate() {
                let word = words[w];
                for (i, (d, &g)) in d.iter_mut().zip(g).enumerate() {
                    *d = if word >> i & 1 == 1 { g } else { 0.0 };
                }
            }
        }
        if want_bias {
            dz.chunks_exact(plane).map(|p| p.iter().sum()).collect()
        } else {
            Vec::new()
        }
    };
    let batch = grad.len() / per;
    let group = batch.div_ceil(threads()).max(1);
    let sums: Vec<Vec<f32>> = dz
        .par_chunks_mut(group * per)
        .enumerate()
        .flat_map_iter(|(gi, chunk)| {
            let w = &work;
            chunk
                .chunks_exact_mut(per)
                .enumerate()
                .map(move |(i, d)| w(gi * group + i, d))
                .collect::<Vec<_>>()
        })
        .collect();
    let db = want_bias.then(|| {
        let mut db = vec![0.0f32; cout];
        for s in &sums {
            db.iter_mut().zip(s).for_each(|(t, v)| *t += v);
        }
        db
    });
    (dz, db)
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
        let mut y = vec![0.0f32; x.len()];
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
        let mut d = vec![0.0f32; g.len()];
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
            for ((o, &a), &b) in o.iter_mut().zip(a).zip(b) {
                f(o, a, b);
            }
        });
}
