//! Fast f32 CPU kernels for the VGG nets, as candle custom ops so autograd keeps
//! working: stride-1 convolution (im2col bands + `gemm`, with bias and ReLU fused
//! into its epilogue), its input and weight gradients (also `gemm`), ReLU, and 2x2
//! max pooling.
//!
//! candle 0.11.1 runs the same layers several times slower on CPU: its input
//! gradient is a per-pixel transposed convolution, and every small op in the graph
//! costs extra full passes over the activations in the backward pass. These ops
//! match candle's results (values and gradients) to float rounding; `tests/cpu_ops.rs`
//! checks that on random shapes.
//!
//! Everything here is CPU-only: `cuda_fwd` is deliberately absent, and callers
//! route CUDA tensors to candle's own ops (`model::Ops`). Work is split over
//! `candle_core::utils::get_num_threads()` threads, the trial's budget.

mod act;
mod conv;
mod conv_op;
mod gemm;
mod pool;

use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, DType, Layout, Result, Tensor};

pub use pool::PoolGrad;

use conv::Geom;
use conv_op::{ConvOp, InputGradOp, WeightGradOp};

/// The contiguous f32 elements a layout covers. Callers make tensors contiguous
/// before applying an op, so a strided layout here is a bug, reported as an error.
fn f32_slice<'a>(s: &'a CpuStorage, l: &Layout) -> Result<&'a [f32]> {
    let CpuStorage::F32(v) = s else {
        candle_core::bail!("cpu_ops: expected f32, got {:?}", s.dtype());
    };
    match l.contiguous_offsets() {
        Some((a, b)) => Ok(&v[a..b]),
        None => candle_core::bail!("cpu_ops: expected a contiguous tensor"),
    }
}

/// The geometry of `conv2d(x, w)` with padding `pad`, from the operands' layouts.
fn geom_of(lx: &Layout, lw: &Layout, pad: usize) -> Result<Geom> {
    let (b, c, h, w) = lx.shape().dims4()?;
    let (o, wc, kh, kw) = lw.shape().dims4()?;
    if wc != c {
        candle_core::bail!("conv2d: input has {c} channels, the kernel expects {wc}");
    }
    Geom::new((b, c, h, w), (o, kh, kw), pad).ok_or_else(|| {
        candle_core::Error::Msg(format!(
            "conv2d: {kh}x{kw} kernel larger than padded {h}x{w} input"
        ))
    })
}

fn check_cpu_f32(op: &str, ts: &[&Tensor]) -> Result<()> {
    for t in ts {
        if !t.device().is_cpu() || t.dtype() != DType::F32 {
            candle_core::bail!(
                "{op}: the fast ops take f32 CPU tensors, got {:?} on {:?}",
                t.dtype(),
                t.device()
            );
        }
    }
    Ok(())
}

/// `conv2d(x, w, padding)` (stride 1, NCHW input, OIHW kernel, any kernel size),
/// plus `bias` per output channel, then ReLU when `relu`: candle's
/// `x.conv2d(w, padding, 1, 1, 1)`, `broadcast_add` and `relu` in one op.
pub fn conv2d(
    x: &Tensor,
    w: &Tensor,
    bias: Option<&Tensor>,
    padding: usize,
    relu: bool,
) -> Result<Tensor> {
    check_cpu_f32("conv2d", &[x, w])?;
    let (x, w) = (x.contiguous()?, w.contiguous()?);
    let op = ConvOp::new(padding, relu);
    match bias {
        Some(b) => {
            check_cpu_f32("conv2d", &[b])?;
            x.apply_op3(&w, &b.contiguous()?, op)
        }
        None => x.apply_op2(&w, op),
    }
}

/// 2x2 max pooling with stride 2 (odd sides floor), with the chosen gradient.
pub fn max_pool2x2(x: &Tensor, grad: PoolGrad) -> Result<Tensor> {
    check_cpu_f32("max_pool2x2", &[x])?;
    x.contiguous()?.apply_op1(pool::MaxPoolOp::new(grad))
}

/// ReLU with candle's gradient convention (an exact zero passes the gradient).
pub fn relu(x: &Tensor) -> Result<Tensor> {
    check_cpu_f32("relu", &[x])?;
    x.contiguous()?.apply_op1(act::ReluOp)
}

/// The input gradient of `conv2d(x, w, padding)` given `dy`, for an input of
/// spatial size `hw`; what `conv2d`'s backward pass runs (exposed to time it).
pub fn conv2d_input_grad(
    dy: &Tensor,
    w: &Tensor,
    padding: usize,
    hw: (usize, usize),
) -> Result<Tensor> {
    check_cpu_f32("conv2d_input_grad", &[dy, w])?;
    dy.contiguous()?
        .apply_op2_no_bwd(&w.contiguous()?, &InputGradOp { pad: padding, hw })
}

/// The weight gradient of `conv2d(x, w, padding)` given `dy`, summed over the
/// batch, for a kernel of spatial size `k`.
pub fn conv2d_weight_grad(
    x: &Tensor,
    dy: &Tensor,
    padding: usize,
    k: (usize, usize),
) -> Result<Tensor> {
    check_cpu_f32("conv2d_weight_grad", &[x, dy])?;
    x.contiguous()?
        .apply_op2_no_bwd(&dy.contiguous()?, &WeightGradOp { pad: padding, k })
}
