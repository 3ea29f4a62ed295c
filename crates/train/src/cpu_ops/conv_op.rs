//! candle custom ops around the convolution kernels, so the fast path keeps
//! autograd: the forward op fuses bias and ReLU, and its `bwd` runs the input and
//! weight gradients as further (non-differentiable) custom ops.

use std::sync::{Mutex, OnceLock};

use candle_core::{CpuStorage, CustomOp1, CustomOp2, CustomOp3, Layout, Result, Shape, Tensor};

use super::act::{bias_relu, masked_grad};
use super::conv::{self, Geom};
use super::{f32_slice, geom_of};

/// `relu?(conv2d(x, w) + b?)`. `bits` holds each image's `z >= 0` mask once the
/// forward pass has run; `bwd` needs it to reproduce candle's ReLU gradient.
#[derive(Debug)]
pub(crate) struct ConvOp {
    pub pad: usize,
    pub relu: bool,
    bits: OnceLock<Vec<Vec<u64>>>,
}

impl ConvOp {
    pub fn new(pad: usize, relu: bool) -> Self {
        ConvOp {
            pad,
            relu,
            bits: OnceLock::new(),
        }
    }

    fn fwd(
        &self,
        (x, lx): (&CpuStorage, &Layout),
        (w, lw): (&CpuStorage, &Layout),
        bias: Option<(&CpuStorage, &Layout)>,
    ) -> Result<(CpuStorage, Shape)> {
        let t = std::time::Instant::now();
        let _tr = Tr(t, format!("fwd {:?}", lw.dims()));
        let g = geom_of(lx, lw, self.pad)?;
        let (x, w) = (f32_slice(x, lx)?, f32_slice(w, lw)?);
        let bias = bias.map(|(b, lb)| f32_slice(b, lb)).transpose()?;
        if bias.is_some_and(|b| b.len() != g.cout) {
            candle_core::bail!("conv2d bias must have {} elements", g.cout);
        }
        let wt = conv::forward_weights(&g, w);
        let mut out = vec![0.0f32; g.batch * g.out_len()];
        let plane = g.oh * g.ow;
        let bits = conv::forward(&g, x, &wt, &mut out, |_, o| {
            bias_relu(o, plane, bias, self.relu)
        });
        if self.relu {
            // A fresh op runs forward once; a second run would find the first's mask.
            let _ = self.bits.set(bits);
        }
        let shape = Shape::from((g.batch, g.cout, g.oh, g.ow));
        Ok((CpuStorage::F32(out), shape))
    }

    /// Gradients of `x`, `w` and (when `want_bias`) the bias.
    fn grads(
        &self,
        x: &Tensor,
        w: &Tensor,
        grad: &Tensor,
        want_bias: bool,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let mask = MaskOp {
            bits: if self.relu { self.bits.get() } else { None },
            want_bias,
            bias: Mutex::new(None),
        };
        if self.relu && mask.bits.is_none() {
            candle_core::bail!("conv2d backward before its forward pass");
        }
        let t = std::time::Instant::now();
        let dz = grad.contiguous()?.apply_op1_no_bwd(&mask)?;
        eprintln!(
            "TRACE mask {:?} {:.2}",
            grad.dims(),
            t.elapsed().as_secs_f64() * 1e3
        );
        let db = mask
            .bias
            .lock()
            .map_err(|_| candle_core::Error::Msg("bias gradient lock poisoned".into()))?
            .take()
            .map(|v| Tensor::from_vec(v, w.dim(0)?, w.device()))
            .transpose()?;
        let dx = if x.track_op() {
            let (_, _, h, w_) = x.dims4()?;
            Some(dz.apply_op2_no_bwd(
                w,
                &InputGradOp {
                    pad: self.pad,
                    hw: (h, w_),
                },
            )?)
        } else {
            None
        };
        let dw = if w.track_op() {
            Some(x.apply_op2_no_bwd(
                &dz,
                &WeightGradOp {
                    pad: self.pad,
                    k: (w.dim(2)?, w.dim(3)?),
                },
            )?)
        } else {
            None
        };
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

/// dY masked by ReLU's bits, and the bias gradient as a side result.
struct MaskOp<'a> {
    bits: Option<&'a Vec<Vec<u64>>>,
    want_bias: bool,
    bias: Mutex<Option<Vec<f32>>>,
}

impl CustomOp1 for MaskOp<'_> {
    fn name(&self) -> &'static str {
        "fast-conv2d-mask"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let (_, c, h, w) = l.shape().dims4()?;
        let g = f32_slice(s, l)?;
        let (dz, db) = masked_grad(g, (c, h * w), self.bits.map(Vec::as_slice), self.want_bias);
        *self
            .bias
            .lock()
            .map_err(|_| candle_core::Error::Msg("bias gradient lock poisoned".into()))? = db;
        Ok((CpuStorage::F32(dz), l.shape().clone()))
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
        let _tr = Tr(std::time::Instant::now(), format!("igrad {:?}", l2.dims()));
        let (b, o, oh, ow) = l1.shape().dims4()?;
        let (wo, c, kh, kw) = l2.shape().dims4()?;
        if wo != o {
            candle_core::bail!("input gradient: dY has {o} channels, the kernel {wo}");
        }
        let (h, w) = self.hw;
        let fwd = Geom::new((b, c, h, w), (o, kh, kw), self.pad)
            .filter(|g| (g.oh, g.ow) == (oh, ow))
            .ok_or_else(|| candle_core::Error::Msg("input gradient: dY does not match x".into()))?;
        let g = fwd.transposed();
        let wt = conv::input_grad_weights(&fwd, f32_slice(s2, l2)?);
        let mut dx = vec![0.0f32; b * g.out_len()];
        conv::forward(&g, f32_slice(s1, l1)?, &wt, &mut dx, |_, _| ());
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
        let _tr = Tr(std::time::Instant::now(), format!("wgrad {:?}", l1.dims()));
        let (b, c, h, w) = l1.shape().dims4()?;
        let (_, o, oh, ow) = l2.shape().dims4()?;
        let g = Geom::new((b, c, h, w), (o, self.k.0, self.k.1), self.pad)
            .filter(|g| (g.oh, g.ow) == (oh, ow) && l2.shape().dims()[0] == b)
            .ok_or_else(|| {
                candle_core::Error::Msg("weight gradient: dY does not match x".into())
            })?;
        let dw = conv::weight_grad(&g, f32_slice(s1, l1)?, f32_slice(s2, l2)?);
        Ok((CpuStorage::F32(dw), Shape::from((o, c, self.k.0, self.k.1))))
    }
}

struct Tr(std::time::Instant, String);
impl Drop for Tr {
    fn drop(&mut self) {
        eprintln!(
            "TRACE {} {:.2}",
            self.1,
            self.0.elapsed().as_secs_f64() * 1e3
        );
    }
}
