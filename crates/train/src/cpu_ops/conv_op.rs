//! candle custom ops around the convolution kernels, so the fast path keeps
//! autograd. The forward op fuses bias, ReLU and (optionally) the 2x2 max-pool
//! into its epilogue, so the full-size activation before the pool never exists as
//! a tensor; its `bwd` undoes the epilogue in one pass, then runs the input and
//! weight gradients as further (non-differentiable) custom ops.

use std::sync::OnceLock;

use candle_core::{CpuStorage, CustomOp2, CustomOp3, Layout, Result, Shape, Tensor};

use super::conv::{self, Geom};
use super::epilogue::{Saved, bias_grad, bias_relu, bias_relu_pool, raw_grad};
use super::pool::PoolGrad;
use super::{f32_slice, geom_of, par, storage_f32};

/// `pool?(relu?(conv2d(x, w) + b?))`; `pool` requires `relu` and an even output.
#[derive(Debug)]
pub(crate) struct ConvOp {
    pub pad: usize,
    pub relu: bool,
    pub pool: Option<PoolGrad>,
    saved: OnceLock<Saved>,
}

impl ConvOp {
    pub fn new(pad: usize, relu: bool, pool: Option<PoolGrad>) -> Self {
        ConvOp {
            pad,
            relu,
            pool,
            saved: OnceLock::new(),
        }
    }

    fn fwd(
        &self,
        (x, lx): (&CpuStorage, &Layout),
        (w, lw): (&CpuStorage, &Layout),
        bias: Option<(&CpuStorage, &Layout)>,
    ) -> Result<(CpuStorage, Shape)> {
        let g = geom_of(lx, lw, self.pad)?;
        let (x, w) = (f32_slice(x, lx)?, f32_slice(w, lw)?);
        let bias = bias.map(|(b, lb)| f32_slice(b, lb)).transpose()?;
        if bias.is_some_and(|b| b.len() != g.cout) {
            candle_core::bail!("conv2d bias must have {} elements", g.cout);
        }
        let k = conv::prepare_forward(&g, w);
        let plane = g.oh * g.ow;
        let (saved, shape, out) = if self.pool.is_some() {
            if !self.relu || g.oh % 2 != 0 || g.ow % 2 != 0 {
                candle_core::bail!(
                    "fused pool needs ReLU and an even output, got {}x{}",
                    g.oh,
                    g.ow
                );
            }
            let mut out = par::zeroed(g.batch * g.out_len() / 4);
            let hw = (g.oh, g.ow);
            let flags = conv::forward(&g, x, &k, &mut out, |_, o, d| {
                bias_relu_pool(o, d, hw, bias)
            });
            let shape = Shape::from((g.batch, g.cout, g.oh / 2, g.ow / 2));
            (Saved::Windows(flags), shape, out)
        } else {
            let mut out = par::zeroed(g.batch * g.out_len());
            let relu = self.relu;
            let bits = conv::forward(&g, x, &k, &mut out, |_, o, d| {
                bias_relu(o, d, plane, bias, relu)
            });
            let saved = if relu {
                Saved::Bits(bits)
            } else {
                Saved::Nothing
            };
            (saved, Shape::from((g.batch, g.cout, g.oh, g.ow)), out)
        };
        // A fresh op runs forward once; a second run would find the first's state.
        let _ = self.saved.set(saved);
        Ok((CpuStorage::F32(out), shape))
    }

    /// Gradients of `x`, `w` and (when `want_bias`) the bias, computed here rather
    /// than as further ops so the gradient at the raw convolution output (`dz`,
    /// the size of the full activation) lives in a recycled buffer, not a tensor.
    fn grads(
        &self,
        x: &Tensor,
        w: &Tensor,
        grad: &Tensor,
        want_bias: bool,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let saved = self.saved.get().ok_or_else(|| {
            candle_core::Error::Msg("conv2d backward before its forward pass".into())
        })?;
        let (xc, wc, gc) = (x.contiguous()?, w.contiguous()?, grad.contiguous()?);
        let (xs, xl) = xc.storage_and_layout();
        let (ws, wl) = wc.storage_and_layout();
        let (gs, gl) = gc.storage_and_layout();
        let (xv, wv, gv) = (
            storage_f32(&xs, xl)?,
            storage_f32(&ws, wl)?,
            storage_f32(&gs, gl)?,
        );
        let g = geom_of(xl, wl, self.pad)?;
        let dims = (g.batch, g.cout, g.oh, g.ow);
        let mode = self.pool.unwrap_or_default();
        let dz_buf;
        let (dz, db): (&[f32], _) = match saved {
            // Nothing to undo: dY is dz.
            Saved::Nothing => (
                gv,
                want_bias.then(|| bias_grad(gv, (g.batch, g.cout, g.oh * g.ow))),
            ),
            _ => {
                let mut buf = par::take(g.batch * g.out_len());
                let db = raw_grad(gv, saved, dims, mode, want_bias, &mut buf);
                dz_buf = buf;
                (&dz_buf, db)
            }
        };
        let dw = w.track_op().then(|| conv::weight_grad(&g, xv, dz));
        let dx = x.track_op().then(|| {
            let (t, k) = conv::prepare_input_grad(&g, wv);
            let mut dx = par::zeroed(g.batch * g.in_len());
            conv::forward_into(&t, dz, &k, &mut dx);
            dx
        });
        let dev = x.device();
        let dx = dx
            .map(|v| Tensor::from_vec(v, x.shape(), dev))
            .transpose()?;
        let dw = dw
            .map(|v| Tensor::from_vec(v, w.shape(), dev))
            .transpose()?;
        let db = db.map(|v| Tensor::from_vec(v, g.cout, dev)).transpose()?;
        Ok((dx, dw, db))
    }
}

impl CustomOp2 for ConvOp {
    fn name(&self) -> &'static str {
        "fast-conv2d"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        self.fwd((s1, l1), (s2, l2), None)
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let (dx, dw, _) = self.grads(x, w, grad, false)?;
        Ok((dx, dw))
    }
}

impl CustomOp3 for ConvOp {
    fn name(&self) -> &'static str {
        "fast-conv2d-bias"
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
        self.fwd((s1, l1), (s2, l2), Some((s3, l3)))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        b: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        self.grads(x, w, grad, b.track_op())
    }
}

/// dX from (dZ, w): a forward convolution of dZ with the flipped, transposed kernel.
pub(crate) struct InputGradOp {
    pub pad: usize,
    /// The forward input's spatial size (dY's does not determine it when padding crops).
    pub hw: (usize, usize),
}

impl CustomOp2 for InputGradOp {
    fn name(&self) -> &'static str {
        "fast-conv2d-input-grad"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (b, o, oh, ow) = l1.shape().dims4()?;
        let (wo, c, kh, kw) = l2.shape().dims4()?;
        let (h, w) = self.hw;
        let fwd = Geom::new((b, c, h, w), (o, kh, kw), self.pad)
            .filter(|g| (g.oh, g.ow) == (oh, ow) && wo == o)
            .ok_or_else(|| {
                candle_core::Error::Msg("input gradient: dY does not match x and w".into())
            })?;
        let (g, k) = conv::prepare_input_grad(&fwd, f32_slice(s2, l2)?);
        let mut dx = par::zeroed(b * g.out_len());
        conv::forward_into(&g, f32_slice(s1, l1)?, &k, &mut dx);
        Ok((CpuStorage::F32(dx), Shape::from((b, c, h, w))))
    }
}

/// dW from (x, dZ), summed over the batch.
pub(crate) struct WeightGradOp {
    pub pad: usize,
    pub k: (usize, usize),
}

impl CustomOp2 for WeightGradOp {
    fn name(&self) -> &'static str {
        "fast-conv2d-weight-grad"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (b, c, h, w) = l1.shape().dims4()?;
        let (db, o, oh, ow) = l2.shape().dims4()?;
        let g = Geom::new((b, c, h, w), (o, self.k.0, self.k.1), self.pad)
            .filter(|g| (g.oh, g.ow) == (oh, ow) && db == b)
            .ok_or_else(|| {
                candle_core::Error::Msg("weight gradient: dY does not match x".into())
            })?;
        let dw = conv::weight_grad(&g, f32_slice(s1, l1)?, f32_slice(s2, l2)?);
        Ok((CpuStorage::F32(dw), Shape::from((o, c, self.k.0, self.k.1))))
    }
}
