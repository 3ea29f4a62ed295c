//! SGD's update in place, for CPU f32 variables: one pass over the momentum
//! buffer and one over the weights. The tensor formula (`g + wd w`, `mu m + g`,
//! `w - lr v`) makes six temporaries of the parameters' size each step, which for
//! the VGG presets' wide FC layers is a large share of a step's memory traffic.
//! The arithmetic is the same, element by element and in the same order.

use candle_core::{CpuStorage, DType, InplaceOp2, InplaceOp3, Layout, Result, Tensor};
use rayon::prelude::*;

use super::f32_slice;
use super::simd::vectorized;

/// Elements per parallel block: big enough that splitting costs nothing.
const BLOCK: usize = 1 << 16;

fn dst_slice<'a>(s: &'a mut CpuStorage, l: &Layout) -> Result<&'a mut [f32]> {
    let CpuStorage::F32(v) = s else {
        candle_core::bail!("sgd: expected f32");
    };
    match l.contiguous_offsets() {
        Some((a, b)) => Ok(&mut v[a..b]),
        None => candle_core::bail!("sgd: expected a contiguous tensor"),
    }
}

/// `m = mu m + (g + wd w)`, in place on `m`.
struct Momentum {
    mu: f32,
    wd: f32,
}

impl InplaceOp3 for Momentum {
    fn name(&self) -> &'static str {
        "fast-sgd-momentum"
    }

    fn cpu_fwd(
        &self,
        dst: &mut CpuStorage,
        dst_l: &Layout,
        g: &CpuStorage,
        gl: &Layout,
        w: &CpuStorage,
        wl: &Layout,
    ) -> Result<()> {
        let (g, w) = (f32_slice(g, gl)?, f32_slice(w, wl)?);
        let m = dst_slice(dst, dst_l)?;
        let (mu, wd) = (self.mu, self.wd);
        m.par_chunks_mut(BLOCK)
            .zip(g.par_chunks(BLOCK).zip(w.par_chunks(BLOCK)))
            .for_each(|(m, (g, w))| {
                vectorized(
                    #[inline(always)]
                    || {
                        for ((m, g), w) in m.iter_mut().zip(g).zip(w) {
                            let d = if wd != 0.0 { g + w * wd } else { *g };
                            *m = *m * mu + d;
                        }
                    },
                );
            });
        Ok(())
    }
}

/// `w = w - lr (v + wd w)`, in place on `w` (`wd` only without momentum, where
/// `v` is the gradient itself).
struct Descend {
    lr: f32,
    wd: f32,
}

impl InplaceOp2 for Descend {
    fn name(&self) -> &'static str {
        "fast-sgd-descend"
    }

    fn cpu_fwd(
        &self,
        dst: &mut CpuStorage,
        dst_l: &Layout,
        v: &CpuStorage,
        vl: &Layout,
    ) -> Result<()> {
        let v = f32_slice(v, vl)?;
        let w = dst_slice(dst, dst_l)?;
        let (lr, wd) = (self.lr, self.wd);
        w.par_chunks_mut(BLOCK)
            .zip(v.par_chunks(BLOCK))
            .for_each(|(w, v)| {
                vectorized(
                    #[inline(always)]
                    || {
                        for (w, v) in w.iter_mut().zip(v) {
                            let d = if wd != 0.0 { v + *w * wd } else { *v };
                            *w -= d * lr;
                        }
                    },
                );
            });
        Ok(())
    }
}

/// Whether the in-place update can run on these tensors (CPU, f32, contiguous).
pub fn sgd_applies(ts: &[&Tensor]) -> bool {
    ts.iter()
        .all(|t| t.device().is_cpu() && t.dtype() == DType::F32 && t.is_contiguous())
}

/// One SGD step on `w` (PyTorch's order: `d = g + wd w; m = mu m + d; w -= lr m`),
/// updating `m` in place; returns the new momentum buffer when there was none.
/// With `mu == 0` no buffer is kept.
pub fn sgd_step(
    w: &Tensor,
    g: &Tensor,
    m: Option<&Tensor>,
    lr: f64,
    mu: f64,
    wd: f64,
) -> Result<Option<Tensor>> {
    let (lr, mu, wd) = (lr as f32, mu as f32, wd as f32);
    if mu == 0.0 {
        w.inplace_op2(g, &Descend { lr, wd })?;
        return Ok(None);
    }
    let fresh = match m {
        Some(_) => None,
        // PyTorch's first step: the buffer is the (decayed) gradient itself.
        None => Some(w.zeros_like()?),
    };
    let buf = m
        .or(fresh.as_ref())
        .ok_or_else(|| candle_core::Error::Msg("sgd: no buffer".into()))?;
    let mu_now = if fresh.is_some() { 0.0 } else { mu };
    buf.inplace_op3(g, w, &Momentum { mu: mu_now, wd })?;
    w.inplace_op2(buf, &Descend { lr, wd: 0.0 })?;
    Ok(fresh)
}
