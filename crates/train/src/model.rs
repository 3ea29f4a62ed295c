//! The VGG-style network: stages of 3x3 convolutions (BatchNorm optional) with ReLU
//! and a 2x2 max-pool after each stage, hidden fully connected layers with dropout,
//! then one linear head per task. Weights are named `trunk.*` and `head.<task>.*`:
//! transfer from a pretraining trial copies `trunk.*` only.
//!
//! On CPU the convolutions, ReLUs and pools run through `cpu_ops` (several times
//! faster than candle's CPU kernels, same results); `Ops::Candle` keeps candle's
//! ops as the reference, and CUDA tensors always use them.

use candle_core::{D, DType, Device, Module, ModuleT, Result, Tensor};
use candle_nn::{BatchNorm, BatchNormConfig, Conv2d, Conv2dConfig, Linear, VarBuilder};

use ablate_spec::types::ModelSpec;

use crate::cpu_ops::{self, PoolGrad};
use crate::rng::Rng;

/// Which kernels the network runs on CPU tensors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Ops {
    /// candle's own conv2d, relu and max_pool2d: the reference path.
    Candle,
    /// `cpu_ops`: fused conv + bias + ReLU, its gemm gradients, fast pooling.
    #[default]
    Fast,
}

impl Ops {
    pub fn name(self) -> &'static str {
        match self {
            Ops::Candle => "candle",
            Ops::Fast => "fast",
        }
    }
}

impl std::str::FromStr for Ops {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "candle" => Ok(Ops::Candle),
            "fast" => Ok(Ops::Fast),
            other => Err(format!("unknown ops {other:?}: expected candle or fast")),
        }
    }
}

/// Output widths of the heads a trial needs (None: no such head).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HeadSizes {
    pub gender: Option<usize>,
    pub age: Option<usize>,
    pub identity: Option<usize>,
    pub general: Option<usize>,
}

#[derive(Debug)]
struct ConvBlock {
    conv: Conv2d,
    bn: Option<BatchNorm>,
}

#[derive(Debug)]
struct FcBlock {
    linear: Linear,
    bn: Option<BatchNorm>,
}

/// Raw head outputs of one forward pass.
#[derive(Debug)]
pub struct Outputs {
    pub gender: Option<Tensor>,
    pub age: Option<Tensor>,
    pub identity: Option<Tensor>,
    pub general: Option<Tensor>,
    /// The trunk's output (after the last hidden FC layer), for dead-unit checks.
    pub features: Tensor,
    /// Each hidden FC layer's output after its ReLU (before dropout), in order.
    pub hidden: Vec<Tensor>,
}

#[derive(Debug)]
pub struct Net {
    stages: Vec<Vec<ConvBlock>>,
    fcs: Vec<FcBlock>,
    dropout: f32,
    gender: Option<Linear>,
    age: Option<Linear>,
    identity: Option<Linear>,
    general: Option<Linear>,
    ops: Ops,
    pool_grad: PoolGrad,
}

fn bn(n: usize, vb: VarBuilder) -> Result<BatchNorm> {
    let cfg = BatchNormConfig {
        eps: 1e-5,
        remove_mean: true,
        affine: true,
        momentum: 0.1,
    };
    candle_nn::batch_norm(n, cfg, vb)
}

/// Spatial side after one 2x2 pool per stage (floor, as max_pool2d does).
pub fn final_side(input: usize, stages: usize) -> usize {
    (0..stages).fold(input, |s, _| s / 2)
}

impl Net {
    pub fn new(
        spec: &ModelSpec,
        input: usize,
        heads: HeadSizes,
        dropout: f32,
        vb: &VarBuilder,
    ) -> Result<Self> {
        let trunk = vb.pp("trunk");
        let mut stages = Vec::new();
        let mut in_c = 3;
        for (s, (&convs, &out_c)) in spec.convs.iter().zip(&spec.channels).enumerate() {
            let out_c = out_c as usize;
            let mut blocks = Vec::new();
            for c in 0..convs {
                let vb = trunk.pp(format!("stage{s}.conv{c}"));
                let cfg = Conv2dConfig {
                    padding: 1,
                    ..Default::default()
                };
                // BatchNorm's shift makes a conv bias redundant.
                let conv = if spec.batch_norm {
                    candle_nn::conv2d_no_bias(in_c, out_c, 3, cfg, vb.clone())?
                } else {
                    candle_nn::conv2d(in_c, out_c, 3, cfg, vb.clone())?
                };
                let bn = if spec.batch_norm {
                    Some(bn(out_c, vb.pp("bn"))?)
                } else {
                    None
                };
                blocks.push(ConvBlock { conv, bn });
                in_c = out_c;
            }
            stages.push(blocks);
        }
        let side = final_side(input, spec.convs.len());
        if side == 0 {
            candle_core::bail!(
                "input {input}x{input} is too small for {} pooling stages",
                spec.convs.len()
            );
        }
        let mut in_f = in_c * side * side;
        let mut fcs = Vec::new();
        for (i, &width) in spec.fc.iter().enumerate() {
            let vb = trunk.pp(format!("fc{i}"));
            let linear = candle_nn::linear(in_f, width as usize, vb.clone())?;
            let bn = if spec.batch_norm {
                Some(bn(width as usize, vb.pp("bn"))?)
            } else {
                None
            };
            fcs.push(FcBlock { linear, bn });
            in_f = width as usize;
        }
        let head = |name: &str, n: Option<usize>| {
            n.map(|n| candle_nn::linear(in_f, n, vb.pp("head").pp(name)))
                .transpose()
        };
        Ok(Net {
            stages,
            fcs,
            dropout,
            gender: head("gender", heads.gender)?,
            age: head("age", heads.age)?,
            identity: head("identity", heads.identity)?,
            general: head("general", heads.general)?,
            ops: Ops::default(),
            pool_grad: PoolGrad::Argmax,
        })
    }

    /// The same net running `ops` on CPU tensors.
    pub fn with_ops(mut self, ops: Ops) -> Self {
        self.ops = ops;
        self
    }

    /// Whether BatchNorm sits before each hidden FC layer's ReLU.
    pub fn fc_batch_norm(&self) -> bool {
        self.fcs.iter().all(|f| f.bn.is_some())
    }

    pub fn ops(&self) -> Ops {
        self.ops
    }

    /// The fast path's max-pool gradient. The default, `PoolGrad::Argmax`, is the
    /// textbook one that `max_pool2x2_ref` gives the reference path too;
    /// `PoolGrad::CandleCompat` reproduces candle's own `max_pool2d` gradient.
    pub fn with_pool_grad(mut self, grad: PoolGrad) -> Self {
        self.pool_grad = grad;
        self
    }

    /// `x`: (B, 3, H, W) f32. In training mode BatchNorm uses batch statistics and
    /// dropout masks come from `rng`; in eval mode both are deterministic.
    pub fn forward(&self, x: &Tensor, train: bool, rng: &mut Rng) -> Result<Outputs> {
        let fast = self.ops == Ops::Fast && x.device().is_cpu() && x.dtype() == DType::F32;
        // BatchNorm then ReLU: one op on the fast path.
        let bn_relu = |bn: &BatchNorm, h: &Tensor| match bn_params(bn) {
            Some(p) if fast => cpu_ops::batch_norm(h, &p, train, true),
            _ => bn.forward_t(h, train)?.relu(),
        };
        let mut h = x.clone();
        for stage in &self.stages {
            for (i, block) in stage.iter().enumerate() {
                let conv = &block.conv;
                let (w, b, pad) = (conv.weight(), conv.bias(), conv.config().padding);
                let last = i + 1 == stage.len();
                h = match (&block.bn, fast) {
                    // The benchmark net's layers: one op each, bias and ReLU (and the
                    // stage's pool after its last conv) fused into the epilogue.
                    (None, true) if last => {
                        cpu_ops::conv2d_relu_pool(&h, w, b, pad, self.pool_grad)?
                    }
                    (None, true) => cpu_ops::conv2d(&h, w, b, pad, true)?,
                    (Some(bn), true) => bn_relu(bn, &cpu_ops::conv2d(&h, w, b, pad, false)?)?,
                    (None, false) => conv.forward(&h)?.relu()?,
                    (Some(bn), false) => bn.forward_t(&conv.forward(&h)?, train)?.relu()?,
                };
            }
            h = match (fast, &stage.last()) {
                (true, Some(ConvBlock { bn: None, .. })) => h,
                (true, _) => cpu_ops::max_pool2x2(&h, self.pool_grad)?,
                (false, _) => max_pool2x2_ref(&h)?,
            };
        }
        h = h.flatten_from(1)?;
        // The fast path's FC layer is one op, bias and (without BatchNorm) ReLU fused.
        let linear = |l: &Linear, h: &Tensor, relu: bool| match l.bias() {
            Some(b) if fast => cpu_ops::linear(h, l.weight(), b, relu),
            _ if relu => l.forward(h)?.relu(),
            _ => l.forward(h),
        };
        let mut hidden = Vec::with_capacity(self.fcs.len());
        for fc in &self.fcs {
            h = match &fc.bn {
                Some(bn) => bn_relu(bn, &linear(&fc.linear, &h, false)?)?,
                None => linear(&fc.linear, &h, true)?,
            };
            hidden.push(h.clone());
            if train && self.dropout > 0.0 {
                h = dropout(&h, self.dropout, rng)?;
            }
        }
        let run = |head: &Option<Linear>| head.as_ref().map(|l| linear(l, &h, false)).transpose();
        Ok(Outputs {
            gender: run(&self.gender)?,
            age: run(&self.age)?,
            identity: run(&self.identity)?,
            general: run(&self.general)?,
            features: h.clone(),
            hidden,
        })
    }
}

/// Trainable parameters of network `spec` at `side` px with `heads`, counted on
/// a CPU build of it (`ablate plan --estimate`).
pub fn parameter_count(spec: &ModelSpec, side: usize, heads: HeadSizes) -> Result<usize> {
    let count = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let backend = Counter(count.clone());
    let vb = VarBuilder::from_backend(Box::new(backend), DType::F32, Device::Cpu);
    Net::new(spec, side, heads, 0.0, &vb)?;
    Ok(count.load(std::sync::atomic::Ordering::Relaxed))
}

/// A variable source that counts the trained elements a net asks for and hands
/// out zeros: a VGG-16 at 224 px is 134M parameters, and initialising them took
/// two seconds a trial in `plan --estimate` (zeros are never touched, so their
/// pages are never even mapped).
struct Counter(std::sync::Arc<std::sync::atomic::AtomicUsize>);

impl candle_nn::var_builder::SimpleBackend for Counter {
    fn get(
        &self,
        s: candle_core::Shape,
        name: &str,
        _: candle_nn::Init,
        dtype: DType,
        dev: &Device,
    ) -> Result<Tensor> {
        if !name.contains("running_") {
            self.0
                .fetch_add(s.elem_count(), std::sync::atomic::Ordering::Relaxed);
        }
        Tensor::zeros(s, dtype, dev)
    }

    fn get_unchecked(&self, name: &str, _: DType, _: &Device) -> Result<Tensor> {
        Err(candle_core::Error::Msg(format!(
            "parameter count: {name} was asked for without a shape"
        )))
    }

    fn contains_tensor(&self, _: &str) -> bool {
        false
    }
}

/// 2x2 max-pool built from candle ops so that autograd sends each window's
/// gradient to its maximum (split evenly over exact ties). candle 0.11.1's own
/// `max_pool2d` backward gives a unique maximum only a quarter of it (and
/// misaligns windows on odd sides): through four pooling stages the first layers
/// would learn 4^4 times slower than the paper's nets. Used on CUDA and by
/// `Ops::Candle`; the fast CPU op computes the same gradient directly.
pub fn max_pool2x2_ref(x: &Tensor) -> Result<Tensor> {
    let (_, _, h, w) = x.dims4()?;
    let (h2, w2) = (h / 2 * 2, w / 2 * 2);
    let x = x.narrow(2, 0, h2)?.narrow(3, 0, w2)?;
    let max = x.max_pool2d(2)?.detach().upsample_nearest2d(h2, w2)?;
    let mask = x.eq(&max)?.to_dtype(x.dtype())?;
    let ties = (mask.avg_pool2d(2)? * 4.0)?.upsample_nearest2d(h2, w2)?;
    // Forward: the window's sum of max/ties = max. Backward: dy/ties to each maximum.
    let share = mask.div(&ties)?.detach();
    x.mul(&share)?.avg_pool2d(2)? * 4.0
}

/// The parts of an affine BatchNorm the fast op needs (None without affine).
fn bn_params(bn: &BatchNorm) -> Option<cpu_ops::BnParams<'_>> {
    let (weight, bias) = bn.weight_and_bias()?;
    Some(cpu_ops::BnParams {
        weight,
        bias,
        running_mean: bn.running_mean(),
        running_var: bn.running_var(),
        eps: bn.eps(),
        momentum: bn.momentum(),
    })
}

/// Inverted dropout with a mask from the trial's own generator.
fn dropout(h: &Tensor, p: f32, rng: &mut Rng) -> Result<Tensor> {
    let n = h.elem_count();
    let keep = 1.0 / (1.0 - p);
    let mask: Vec<f32> = (0..n)
        .map(|_| if rng.uniform() < p { 0.0 } else { keep })
        .collect();
    h.mul(&Tensor::from_vec(mask, h.shape(), h.device())?)
}

/// Overwrites every variable with seeded values: Kaiming-normal weights (ReLU gain)
/// in the trunk, 1/sqrt(fan_in) normal in heads, zero biases, BatchNorm at identity.
pub fn init_weights(varmap: &candle_nn::VarMap, seed: u64, device: &Device) -> Result<()> {
    let vars = varmap
        .data()
        .lock()
        .map_err(|_| candle_core::Error::Msg("variable map lock poisoned".into()))?;
    let mut names: Vec<&String> = vars.keys().collect();
    names.sort();
    let mut rng = Rng::stream(seed, "init");
    for name in names {
        let var = &vars[name];
        let dims = var.dims().to_vec();
        let n: usize = dims.iter().product();
        let leaf = name.rsplit('.').next().unwrap_or("");
        let values: Vec<f32> = if name.contains(".bn.") {
            let one = matches!(leaf, "weight" | "running_var");
            vec![if one { 1.0 } else { 0.0 }; n]
        } else if leaf == "bias" {
            vec![0.0; n]
        } else {
            let fan_in: usize = dims[1..].iter().product();
            let gain = if name.starts_with("head.") {
                1.0
            } else {
                2.0f32.sqrt()
            };
            let std = gain / (fan_in.max(1) as f32).sqrt();
            (0..n).map(|_| rng.normal() * std).collect()
        };
        var.set(&Tensor::from_vec(values, dims, device)?.to_dtype(DType::F32)?)?;
    }
    Ok(())
}

/// Softmax probabilities along the last dimension.
pub fn probabilities(logits: &Tensor) -> Result<Tensor> {
    candle_nn::ops::softmax(logits, D::Minus1)
}
