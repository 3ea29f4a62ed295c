//! BatchNorm over channel 1 of an `(N, C, ...)` f32 tensor, optionally followed by
//! ReLU, as one custom op: two passes forward (statistics, normalise) and two back
//! (sums, input gradient), where candle's BatchNorm builds a dozen broadcast,
//! transpose and reduction nodes whose backward passes are several times slower
//! than the convolutions around them.
//!
//! It computes what candle_nn's `BatchNorm` (with `remove_mean`, as the nets
//! configure it) computes: batch statistics in training (biased variance for the
//! output, unbiased for the running variance, both running statistics updated with
//! `momentum`), running statistics in evaluation. Statistics are summed in f32
//! blocks of 256 and then in f64.
//! The ReLU mask is recomputed in the backward pass with the forward pass's exact
//! arithmetic, so an exact zero passes the gradient as in candle.

use std::sync::{Arc, OnceLock};

use candle_core::{CpuStorage, CustomOp3, Layout, Result, Shape, Tensor, Var};
use rayon::prelude::*;

use super::gemm::threads;
use super::par::{self, for_parts};
use super::simd::vectorized;
use super::{check_cpu_f32, f32_slice, storage_f32};

/// A BatchNorm layer's tensors and settings (`candle_nn::BatchNorm`'s parts).
#[derive(Debug, Clone, Copy)]
pub struct BnParams<'a> {
    pub weight: &'a Tensor,
    pub bias: &'a Tensor,
    /// Variables: training updates them in place.
    pub running_mean: &'a Tensor,
    pub running_var: &'a Tensor,
    pub eps: f64,
    pub momentum: f64,
}

/// Per-channel statistics: the mean subtracted and `1 / sqrt(var + eps)`.
#[derive(Debug, Clone)]
struct Stats {
    mean: Vec<f32>,
    inv_std: Vec<f32>,
    /// The batch's biased variance (training only), for the running variance.
    var: Vec<f64>,
}

#[derive(Debug)]
struct BnOp {
    relu: bool,
    eps: f64,
    /// Given (evaluation) or filled by the forward pass (training).
    stats: Arc<OnceLock<Stats>>,
    fixed: bool,
}

/// `(N, C, rest)` of a layout: channel `c` of sample `n` is `rest` contiguous floats.
fn dims3(l: &Layout) -> Result<(usize, usize, usize)> {
    let d = l.dims();
    if d.len() < 2 {
        candle_core::bail!("batch_norm: expected (N, C, ...), got {d:?}");
    }
    Ok((d[0], d[1], d[2..].iter().product()))
}

/// `f(c, &[sample planes of channel c])` for every channel, channels split over threads.
fn per_channel<T: Send>(
    x: &[f32],
    (n, c, r): (usize, usize, usize),
    f: impl Fn(usize, &mut dyn Iterator<Item = &[f32]>) -> T + Sync,
) -> Vec<T> {
    let min = c.div_ceil(threads()).max(1);
    (0..c)
        .into_par_iter()
        .with_min_len(min)
        .map(|ch| {
            let mut planes = (0..n).map(|s| &x[(s * c + ch) * r..(s * c + ch + 1) * r]);
            // One dispatch per channel, not per (tiny) plane; `f` is inline(always).
            vectorized(
                #[inline(always)]
                || f(ch, &mut planes),
            )
        })
        .collect()
}

/// `(sum of a(i), sum of b(i))` for `i < len`: f32 partial sums in 8 lanes
/// (which vectorize) over blocks of 256, added up in f64.
#[inline(always)]
fn sums2(len: usize, term: impl Fn(usize) -> (f32, f32)) -> (f64, f64) {
    let (mut s, mut q, mut i) = (0f64, 0f64, 0);
    while i < len {
        let end = (i + 256).min(len);
        let (mut a, mut b) = ([0f32; 8], [0f32; 8]);
        while i + 8 <= end {
            for k in 0..8 {
                let (u, v) = term(i + k);
                a[k] += u;
                b[k] += v;
            }
            i += 8;
        }
        while i < end {
            let (u, v) = term(i);
            a[0] += u;
            b[0] += v;
            i += 1;
        }
        s += a.iter().map(|&v| f64::from(v)).sum::<f64>();
        q += b.iter().map(|&v| f64::from(v)).sum::<f64>();
    }
    (s, q)
}

/// `(x - mean) * scale + shift`: one expression, so the backward pass can
/// recompute the forward value bit for bit.
#[inline(always)]
fn affine(x: f32, mean: f32, scale: f32, shift: f32) -> f32 {
    (x - mean) * scale + shift
}

impl CustomOp3 for BnOp {
    fn name(&self) -> &'static str {
        "fast-batch-norm"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (n, c, r) = dims3(l1)?;
        let (x, gamma, beta) = (f32_slice(s1, l1)?, f32_slice(s2, l2)?, f32_slice(s3, l3)?);
        if gamma.len() != c || beta.len() != c {
            candle_core::bail!("batch_norm: weight and bias must have {c} elements");
        }
        if !self.fixed {
            let count = (n * r) as f64;
            let sums = per_channel(
                x,
                (n, c, r),
                #[inline(always)]
                |_, planes| {
                    // Shifted by the channel's first value, so E[x^2] - E[x]^2 does not
                    // cancel catastrophically when the mean is large.
                    let (mut shift, mut s, mut q) = (None, 0f64, 0f64);
                    for p in planes {
                        let k = *shift.get_or_insert_with(|| p.first().copied().unwrap_or(0.0));
                        let (ps, pq) = sums2(p.len(), |i| {
                            let d = p[i] - k;
                            (d, d * d)
                        });
                        (s, q) = (s + ps, q + pq);
                    }
                    (f64::from(shift.unwrap_or(0.0)), s / count, q / count)
                },
            );
            let mean: Vec<f64> = sums.iter().map(|(k, s, _)| k + s).collect();
            let var: Vec<f64> = sums.iter().map(|(_, s, q)| (q - s * s).max(0.0)).collect();
            let stats = Stats {
                mean: mean.iter().map(|&m| m as f32).collect(),
                inv_std: var
                    .iter()
                    .map(|v| (1.0 / (v + self.eps).sqrt()) as f32)
                    .collect(),
                var,
            };
            let _ = self.stats.set(stats);
        }
        let st = self
            .stats
            .get()
            .ok_or_else(|| candle_core::Error::Msg("batch_norm: no statistics".into()))?;
        let mut y = par::zeroed(x.len());
        for_parts(
            &mut y,
            r,
            #[inline(always)]
            |i, y| {
                let ch = i % c;
                let (m, s, b) = (st.mean[ch], gamma[ch] * st.inv_std[ch], beta[ch]);
                let x = &x[i * r..(i + 1) * r];
                if self.relu {
                    y.iter_mut()
                        .zip(x)
                        .for_each(|(y, &x)| *y = affine(x, m, s, b).max(0.0));
                } else {
                    y.iter_mut()
                        .zip(x)
                        .for_each(|(y, &x)| *y = affine(x, m, s, b));
                }
            },
        );
        Ok((CpuStorage::F32(y), l1.shape().clone()))
    }

    fn bwd(
        &self,
        x: &Tensor,
        gamma: &Tensor,
        beta: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let st = self
            .stats
            .get()
            .ok_or_else(|| candle_core::Error::Msg("batch_norm backward before forward".into()))?;
        let (xc, gc) = (x.contiguous()?, grad.contiguous()?);
        let (gmc, btc) = (gamma.contiguous()?, beta.contiguous()?);
        let ((xs, xl), (gs, gl)) = (xc.storage_and_layout(), gc.storage_and_layout());
        let ((ws, wl), (bs, bl)) = (gmc.storage_and_layout(), btc.storage_and_layout());
        let (xv, gv) = (storage_f32(&xs, xl)?, storage_f32(&gs, gl)?);
        let (wv, bv) = (storage_f32(&ws, wl)?, storage_f32(&bs, bl)?);
        let (n, c, r) = dims3(xl)?;
        // The gradient reaching the normalised value, masked by ReLU where fused.
        let relu = self.relu;
        let g_at = move |z: f32, g: f32| if !relu || z >= 0.0 { g } else { 0.0 };
        // Per channel: sum of g and of g * (x - mean).
        let sums = per_channel(
            gv,
            (n, c, r),
            #[inline(always)]
            |ch, planes| {
                let (m, scale, b) = (st.mean[ch], wv[ch] * st.inv_std[ch], bv[ch]);
                let (mut sg, mut sgx) = (0f64, 0f64);
                for (s, gp) in planes.enumerate() {
                    let xp = &xv[(s * c + ch) * r..(s * c + ch + 1) * r];
                    let (a, b) = sums2(r, |i| {
                        let g = g_at(affine(xp[i], m, scale, b), gp[i]);
                        (g, g * (xp[i] - m))
                    });
                    (sg, sgx) = (sg + a, sgx + b);
                }
                (sg, sgx * f64::from(st.inv_std[ch]))
            },
        );
        let count = (n * r) as f64;
        let dx = x.track_op().then(|| {
            let mut dx = par::zeroed(xv.len());
            for_parts(
                &mut dx,
                r,
                #[inline(always)]
                |i, d| {
                    let ch = i % c;
                    let (xp, gp) = (&xv[i * r..(i + 1) * r], &gv[i * r..(i + 1) * r]);
                    let (m, is, b) = (st.mean[ch], st.inv_std[ch], bv[ch]);
                    let scale = wv[ch] * is;
                    let (mg, mgx) = if self.fixed {
                        (0.0, 0.0)
                    } else {
                        ((sums[ch].0 / count) as f32, (sums[ch].1 / count) as f32)
                    };
                    for ((d, &x), &g) in d.iter_mut().zip(xp).zip(gp) {
                        let g = g_at(affine(x, m, scale, b), g);
                        *d = scale * (g - mg - (x - m) * is * mgx);
                    }
                },
            );
            dx
        });
        let dev = x.device();
        let dx = dx
            .map(|v| Tensor::from_vec(v, x.shape(), dev))
            .transpose()?;
        let dgamma = gamma
            .track_op()
            .then(|| Tensor::from_vec(sums.iter().map(|s| s.1 as f32).collect::<Vec<_>>(), c, dev))
            .transpose()?;
        let dbeta = beta
            .track_op()
            .then(|| Tensor::from_vec(sums.iter().map(|s| s.0 as f32).collect::<Vec<_>>(), c, dev))
            .transpose()?;
        Ok((dx, dgamma, dbeta))
    }
}

/// `relu?(batch_norm(x))` with candle_nn's semantics; in training the running
/// statistics are updated, as `BatchNorm::forward_t(x, true)` does.
pub fn batch_norm(x: &Tensor, p: &BnParams, train: bool, relu: bool) -> Result<Tensor> {
    check_cpu_f32(
        "batch_norm",
        &[x, p.weight, p.bias, p.running_mean, p.running_var],
    )?;
    let stats = Arc::new(OnceLock::new());
    if !train {
        let mean: Vec<f32> = p.running_mean.to_vec1()?;
        let var: Vec<f32> = p.running_var.to_vec1()?;
        let inv_std = var
            .iter()
            .map(|&v| (1.0 / (f64::from(v) + p.eps).sqrt()) as f32)
            .collect();
        let _ = stats.set(Stats {
            mean,
            inv_std,
            var: Vec::new(),
        });
    }
    let op = BnOp {
        relu,
        eps: p.eps,
        stats: stats.clone(),
        fixed: !train,
    };
    let y = x
        .contiguous()?
        .apply_op3(&p.weight.contiguous()?, &p.bias.contiguous()?, op)?;
    if train {
        let st = stats
            .get()
            .ok_or_else(|| candle_core::Error::Msg("batch_norm: no statistics".into()))?;
        let count = (x.elem_count() / x.dim(1)?.max(1)) as f64;
        let m = p.momentum;
        let rm: Vec<f32> = p.running_mean.to_vec1()?;
        let rv: Vec<f32> = p.running_var.to_vec1()?;
        let rm: Vec<f32> = rm
            .iter()
            .zip(&st.mean)
            .map(|(&r, &b)| (f64::from(r) * (1.0 - m) + f64::from(b) * m) as f32)
            .collect();
        let rv: Vec<f32> = rv
            .iter()
            .zip(&st.var)
            .map(|(&r, &v)| (f64::from(r) * (1.0 - m) + v * m * count / (count - 1.0)) as f32)
            .collect();
        let dev = x.device();
        Var::from_tensor(p.running_mean)?.set(&Tensor::from_vec(
            rm,
            p.running_mean.shape(),
            dev,
        )?)?;
        Var::from_tensor(p.running_var)?.set(&Tensor::from_vec(rv, p.running_var.shape(), dev)?)?;
    }
    Ok(y)
}
