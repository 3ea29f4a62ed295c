//! 2x2, stride-2 max pooling (odd sides floor, as candle's `max_pool2d(2)` does)
//! and its gradient, in two flavours.
//!
//! candle 0.11.1's own gradient is not the textbook one: it builds
//! `mask = x == upsample(y)` and returns `upsample(dy * avg_pool(mask)) * mask`, so
//! a unique maximum receives `dy / 4`, each of `t` tied maxima receives `dy * t / 4`,
//! and on odd sides the nearest-neighbour upsample misaligns the windows.
//! `PoolGrad::CandleCompat` reproduces that exactly, which proves the op against
//! candle's own; `PoolGrad::Argmax` is PyTorch's gradient (the whole of `dy` to the
//! first maximum of each window, whose index the forward pass saves) and the one
//! every training path uses: the reference path gets it from
//! `model::max_pool2x2_ref`.

use std::sync::OnceLock;

use candle_core::{CpuStorage, CustomOp1, CustomOp3, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

use super::f32_slice;
use super::gemm::threads;
use super::par::{self, for_parts};

/// Which gradient the fast max-pool gives; see the module docs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PoolGrad {
    /// Bit-for-bit candle 0.11.1's `max_pool2d` gradient, to prove the op
    /// against candle's; nothing trains with it.
    CandleCompat,
    /// The whole gradient to the first maximum of each window: what training uses.
    #[default]
    Argmax,
}

#[derive(Debug)]
pub(crate) struct MaxPoolOp {
    pub grad: PoolGrad,
    /// Per output: index 0..4 of its maximum in the window (Argmax only).
    argmax: OnceLock<Vec<u8>>,
}

impl MaxPoolOp {
    pub fn new(grad: PoolGrad) -> Self {
        MaxPoolOp {
            grad,
            argmax: OnceLock::new(),
        }
    }
}

impl CustomOp1 for MaxPoolOp {
    fn name(&self) -> &'static str {
        "fast-max-pool2x2"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let (b, c, h, w) = l.shape().dims4()?;
        if h < 2 || w < 2 {
            candle_core::bail!("max_pool2x2 needs at least 2x2 input, got {h}x{w}");
        }
        let x = f32_slice(s, l)?;
        let (oh, ow) = (h / 2, w / 2);
        let mut out = par::zeroed(b * c * oh * ow);
        let mut idx = vec![
            0u8;
            if self.grad == PoolGrad::Argmax {
                out.len()
            } else {
                0
            }
        ];
        let planes = b * c;
        // Same visiting order and strict `>` as candle, so ties and -0.0 match too.
        let pool = |p: usize, o: &mut [f32], ix: Option<&mut [u8]>| {
            let src = &x[p * h * w..(p + 1) * h * w];
            let mut ix = ix;
            for i in 0..oh {
                let (r0, r1) = (&src[2 * i * w..], &src[(2 * i + 1) * w..]);
                for j in 0..ow {
                    let cand = [r0[2 * j], r0[2 * j + 1], r1[2 * j], r1[2 * j + 1]];
                    let (mut m, mut k) = (cand[0], 0u8);
                    for (n, &v) in cand.iter().enumerate().skip(1) {
                        if v > m {
                            (m, k) = (v, n as u8);
                        }
                    }
                    o[i * ow + j] = m;
                    if let Some(ix) = ix.as_deref_mut() {
                        ix[i * ow + j] = k;
                    }
                }
            }
        };
        let per = oh * ow;
        if idx.is_empty() {
            for_parts(
                &mut out,
                per,
                #[inline(always)]
                |p, o| pool(p, o, None),
            );
        } else {
            let group = planes.div_ceil(threads()).max(1);
            out.par_chunks_mut(group * per)
                .zip(idx.par_chunks_mut(group * per))
                .enumerate()
                .for_each(|(gi, (oc, ic))| {
                    for (i, (o, ix)) in oc
                        .chunks_exact_mut(per)
                        .zip(ic.chunks_exact_mut(per))
                        .enumerate()
                    {
                        pool(gi * group + i, o, Some(ix));
                    }
                });
            let _ = self.argmax.set(idx);
        }
        Ok((CpuStorage::F32(out), Shape::from((b, c, oh, ow))))
    }

    fn bwd(&self, arg: &Tensor, res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        let grad = grad.contiguous()?;
        let (_, _, h, w) = arg.dims4()?;
        let dx = match self.grad {
            PoolGrad::Argmax => {
                let idx = self.argmax.get().ok_or_else(|| {
                    candle_core::Error::Msg("max_pool2x2 backward before forward".into())
                })?;
                grad.apply_op1_no_bwd(&UnpoolOp { idx, hw: (h, w) })?
            }
            PoolGrad::CandleCompat => arg.apply_op3_no_bwd(res, &grad, &CompatGradOp)?,
        };
        Ok(Some(dx))
    }
}

/// The Argmax gradient of a forward pass `op` already ran: `dy` to the saved maxima.
pub(crate) fn unpool(op: &MaxPoolOp, dy: &Tensor, hw: (usize, usize)) -> Result<Tensor> {
    let idx = op
        .argmax
        .get()
        .ok_or_else(|| candle_core::Error::Msg("max_pool2x2 backward before forward".into()))?;
    dy.contiguous()?.apply_op1_no_bwd(&UnpoolOp { idx, hw })
}

/// dX for `PoolGrad::Argmax`: each gradient to its window's saved maximum.
struct UnpoolOp<'a> {
    idx: &'a [u8],
    hw: (usize, usize),
}

impl CustomOp1 for UnpoolOp<'_> {
    fn name(&self) -> &'static str {
        "fast-max-pool2x2-unpool"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let (b, c, oh, ow) = l.shape().dims4()?;
        let (h, w) = self.hw;
        let g = f32_slice(s, l)?;
        let mut dx = par::zeroed(b * c * h * w);
        for_parts(
            &mut dx,
            h * w,
            #[inline(always)]
            |p, d| {
                let (g, ix) = (&g[p * oh * ow..], &self.idx[p * oh * ow..]);
                for i in 0..oh {
                    for j in 0..ow {
                        let k = usize::from(ix[i * ow + j]);
                        d[(2 * i + k / 2) * w + 2 * j + k % 2] = g[i * ow + j];
                    }
                }
            },
        );
        Ok((CpuStorage::F32(dx), Shape::from((b, c, h, w))))
    }
}

/// dX for `PoolGrad::CandleCompat`, from (x, y, dy), following candle's formula
/// element by element, including its f64 nearest-neighbour index arithmetic.
pub(crate) struct CompatGradOp;

/// candle's `upsample_nearest2d` source index for each of `dst` positions.
fn nearest(src: usize, dst: usize) -> Vec<usize> {
    let scale = src as f64 / dst as f64;
    (0..dst)
        .map(|i| usize::min(src - 1, (i as f64 * scale) as usize))
        .collect()
}

impl CustomOp3 for CompatGradOp {
    fn name(&self) -> &'static str {
        "fast-max-pool2x2-compat-grad"
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
        let (b, c, h, w) = l1.shape().dims4()?;
        let (_, _, oh, ow) = l2.shape().dims4()?;
        let (x, y, g) = (f32_slice(s1, l1)?, f32_slice(s2, l2)?, f32_slice(s3, l3)?);
        let (uh, uw) = (nearest(oh, h), nearest(ow, w));
        let mut dx = par::zeroed(b * c * h * w);
        // On even sides the upsample lines up with the windows: each window only
        // compares with its own maximum, which the first branch does directly.
        let even = h % 2 == 0 && w % 2 == 0;
        for_parts(
            &mut dx,
            h * w,
            #[inline(always)]
            |p, d| {
                let x = &x[p * h * w..(p + 1) * h * w];
                let y = &y[p * oh * ow..(p + 1) * oh * ow];
                let g = &g[p * oh * ow..(p + 1) * oh * ow];
                if even {
                    for i in 0..oh {
                        let (x0, x1) = x[2 * i * w..(2 * i + 2) * w].split_at(w);
                        let (d0, d1) = d[2 * i * w..(2 * i + 2) * w].split_at_mut(w);
                        for j in 0..ow {
                            let (m, gv) = (y[i * ow + j], g[i * ow + j]);
                            let v = [x0[2 * j], x0[2 * j + 1], x1[2 * j], x1[2 * j + 1]];
                            let hits = v.map(|v| v == m);
                            let s = gv * (hits.iter().filter(|&&h| h).count() as f32 * 0.25);
                            let put = |k: usize| if hits[k] { s } else { 0.0 };
                            (d0[2 * j], d0[2 * j + 1]) = (put(0), put(1));
                            (d1[2 * j], d1[2 * j + 1]) = (put(2), put(3));
                        }
                    }
                    return;
                }
                let hit = |i: usize, j: usize| x[i * w + j] == y[uh[i] * ow + uw[j]];
                let mut scale = vec![0.0f32; oh * ow];
                for a in 0..oh {
                    for bb in 0..ow {
                        let n = [(0, 0), (0, 1), (1, 0), (1, 1)]
                            .iter()
                            .filter(|&&(di, dj)| hit(2 * a + di, 2 * bb + dj))
                            .count();
                        scale[a * ow + bb] = g[a * ow + bb] * (n as f32 * 0.25);
                    }
                }
                for i in 0..h {
                    for j in 0..w {
                        if hit(i, j) {
                            d[i * w + j] = scale[uh[i] * ow + uw[j]];
                        }
                    }
                }
            },
        );
        Ok((CpuStorage::F32(dx), Shape::from((b, c, h, w))))
    }
}
