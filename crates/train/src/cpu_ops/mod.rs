//! Fast f32 CPU kernels for the VGG nets, as candle custom ops so autograd keeps
//! working: stride-1 convolution with bias, ReLU and the 2x2 max-pool fused into
//! its epilogue, its input and weight gradients, the FC layer with bias and ReLU
//! fused (`linear.rs`), BatchNorm (+ ReLU), ReLU, max pooling, and SGD's in-place
//! update.
//!
//! Why: candle 0.11.1 trains these nets about 10x slower on CPU. Its input
//! gradient is a per-pixel transposed convolution, and every small op in the graph
//! (bias add, ReLU, pool, the dozen ops of BatchNorm) costs several full passes over
//! the activations in the backward pass.
//!
//! How: 3x3 convolutions (forward; input gradient, which is a forward convolution
//! of dY with the flipped kernel; weight gradient) use Winograd F(2x2, 3x3)
//! (`winograd`), except on planes of 16 pixels or fewer, which stack several
//! images' im2col rows into one gemm (`conv_batched`); other kernels, such as the
//! nets' 3-channel first layer, im2col (`conv`). All products go through the `gemm` crate (`gemm.rs`;
//! built with its AVX-512 kernels); the Winograd transforms run with the lanes
//! over channels where counts are multiples of 16 (`winograd_blocked`, staged by
//! `transpose`, the other `unsafe`). Element-wise loops are compiled per
//! instruction set and chosen at run time (`simd.rs`). Work is split over images on
//! `candle_core::utils::get_num_threads()` threads, the trial's budget (`par`).
//! The gradient bookkeeping between ops is candle's, patched (vendor/README.md) so
//! a node's first gradient is not added into fresh zeros.
//!
//! Results match candle's to float rounding, values and gradients
//! (`tests/cpu_ops*.rs`), including two candle conventions a textbook kernel would
//! not follow: ReLU passes the gradient at exactly 0, and max-pool's gradient is
//! candle's own (see `PoolGrad`).
//!
//! CPU only: `cuda_fwd` is deliberately absent, and `model::Net` routes CUDA
//! tensors to candle's ops.

mod bn;
mod conv;
mod conv_batched;
mod conv_op;
mod epilogue;
mod gemm;
mod linear;
mod par;
mod pool;
mod sgd;
mod simd;
mod transpose;
mod winograd;
mod winograd_blocked;
mod winograd_conv;

use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, DType, Layout, Result, Storage, Tensor};

pub use bn::{BnParams, batch_norm};
pub use pool::PoolGrad;
pub use sgd::{sgd_applies, sgd_step};

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

/// `f32_slice` of a tensor's storage, which must be on the CPU.
fn storage_f32<'a>(s: &'a Storage, l: &Layout) -> Result<&'a [f32]> {
    match s {
        Storage::Cpu(c) => f32_slice(c, l),
        _ => candle_core::bail!("cpu_ops: expected a CPU tensor"),
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
    let op = ConvOp::new(padding, relu, None);
    match bias {
        Some(b) => {
            check_cpu_f32("conv2d", &[b])?;
            x.apply_op3(&w, &b.contiguous()?, op)
        }
        None => x.apply_op2(&w, op),
    }
}

/// `max_pool2x2(relu(conv2d(x, w, padding) + bias), grad)` as one op: the
/// activation before the pool is never stored, only a byte per pool window for the
/// backward pass. Odd conv outputs fall back to the two separate ops.
pub fn conv2d_relu_pool(
    x: &Tensor,
    w: &Tensor,
    bias: Option<&Tensor>,
    padding: usize,
    grad: PoolGrad,
) -> Result<Tensor> {
    check_cpu_f32("conv2d_relu_pool", &[x, w])?;
    let g = geom_of(x.layout(), w.layout(), padding)?;
    if g.oh % 2 != 0 || g.ow % 2 != 0 {
        return max_pool2x2(&conv2d(x, w, bias, padding, true)?, grad);
    }
    let (x, w) = (x.contiguous()?, w.contiguous()?);
    let op = ConvOp::new(padding, true, Some(grad));
    match bias {
        Some(b) => {
            check_cpu_f32("conv2d_relu_pool", &[b])?;
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

/// The Argmax pool's backward pass on its own (for `bench --per-op`): runs the
/// forward pass of `x` once, then returns the scatter of a gradient to the saved
/// maxima that training's backward pass runs.
pub fn max_pool2x2_argmax_backward(x: &Tensor) -> Result<impl Fn(&Tensor) -> Result<Tensor>> {
    check_cpu_f32("max_pool2x2_argmax_backward", &[x])?;
    let (_, _, h, w) = x.dims4()?;
    let op = pool::MaxPoolOp::new(PoolGrad::Argmax);
    x.contiguous()?.apply_op1_no_bwd(&op)?;
    Ok(move |dy: &Tensor| pool::unpool(&op, dy, (h, w)))
}

/// `relu?(x w^T + b)` for `x` (batch, in), `w` (out, in), `b` (out): candle_nn's
/// `Linear::forward` (then `relu` when `relu`) as one op; see `linear.rs`.
pub fn linear(x: &Tensor, w: &Tensor, b: &Tensor, relu: bool) -> Result<Tensor> {
    check_cpu_f32("linear", &[x, w, b])?;
    x.contiguous()?.apply_op3(
        &w.contiguous()?,
        &b.contiguous()?,
        linear::LinearOp::new(relu),
    )
}

/// ReLU with candle's gradient convention (an exact zero passes the gradient).
pub fn relu(x: &Tensor) -> Result<Tensor> {
    check_cpu_f32("relu", &[x])?;
    x.contiguous()?.apply_op1(epilogue::ReluOp)
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
