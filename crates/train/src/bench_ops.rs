//! `ablate bench train --per-op`: each conv layer shape of a depth preset timed
//! kernel by kernel (forward, input gradient, weight gradient, and the pool where a
//! stage ends) on candle's path and on `cpu_ops`, to show where a step's time
//! goes. `scripts/bench_pytorch.py --per-op --like` times PyTorch on the same list.

use std::fmt;
use std::time::Instant;

use candle_core::{DType, Device, Tensor};
use serde::Serialize;

use ablate_spec::presets;

use crate::cpu_ops::{self, PoolGrad};
use crate::error::TrainError;
use crate::rng::Rng;

/// One 3x3, padding-1 conv layer of a net, and how many layers share its shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LayerShape {
    pub batch: usize,
    pub cin: usize,
    pub cout: usize,
    pub side: usize,
    /// A 2x2 max-pool follows one of them (the stage's last conv).
    pub pool: bool,
    /// Conv layers of this shape (a stage has one pool, whatever its convs).
    pub layers: usize,
}

impl fmt::Display for LayerShape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (b, c, o, s) = (self.batch, self.cin, self.cout, self.side);
        write!(f, "{b}x{c}->{o}x{s}x{s}")
    }
}

/// The conv layers of preset `depth` at `width`, for `batch` images of side
/// `size`, in order, layers of the same shape (and pooling) merged into one entry.
pub fn layer_shapes(
    depth: &str,
    width: f64,
    batch: usize,
    size: usize,
) -> Result<Vec<LayerShape>, TrainError> {
    let preset = presets::find(depth).ok_or_else(|| TrainError::UnknownDepth {
        depth: depth.to_string(),
        known: presets::names().join(", "),
    })?;
    let model = preset.scaled(width, false);
    let mut out: Vec<LayerShape> = Vec::new();
    let (mut cin, mut side) = (3, size);
    for (&n, &c) in model.convs.iter().zip(&model.channels) {
        let c = c as usize;
        for i in 0..n {
            let l = LayerShape {
                batch,
                cin,
                cout: c,
                side,
                pool: i + 1 == n,
                layers: 1,
            };
            cin = c;
            let same = |s: &&mut LayerShape| (s.cin, s.cout, s.side) == (l.cin, c, side);
            match out.iter_mut().find(same) {
                Some(s) => {
                    s.layers += 1;
                    s.pool |= l.pool;
                }
                None => out.push(l),
            }
        }
        side /= 2;
    }
    if side == 0 {
        return Err(TrainError::BadConfig(format!(
            "{depth} pools {} times: input side {size} is too small",
            model.convs.len()
        )));
    }
    Ok(out)
}

/// One kernel's time on both paths, in milliseconds (best of the runs: the
/// machine is shared, and the minimum is the least disturbed estimate).
#[derive(Debug, Clone, Serialize)]
pub struct OpTiming {
    pub op: String,
    /// `batch x cin -> cout x side x side`.
    pub shape: String,
    /// How many times the net runs this kernel on this shape per step.
    pub layers: usize,
    /// Whether a training step without BatchNorm runs this kernel as timed: the
    /// unfused forward and the pools (fused into the conv's epilogue) it does not,
    /// nor the first layer's input gradient (the data needs none).
    pub in_step: bool,
    pub candle_ms: f64,
    pub fast_ms: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct PerOpReport {
    pub threads: usize,
    pub runs: usize,
    pub timings: Vec<OpTiming>,
}

impl PerOpReport {
    /// The convolution work of one training step, (candle, fast) in ms: the sum
    /// over `in_step` kernels of time x layers.
    pub fn step_ms(&self) -> (f64, f64) {
        let step = self.timings.iter().filter(|t| t.in_step);
        step.fold((0.0, 0.0), |(c, f), t| {
            let n = t.layers as f64;
            (c + t.candle_ms * n, f + t.fast_ms * n)
        })
    }
}

/// Shortest wall time of `runs` calls of `f` (after one untimed call), in ms.
fn time_ms<T>(
    runs: usize,
    mut f: impl FnMut() -> candle_core::Result<T>,
) -> Result<f64, TrainError> {
    f()?;
    let mut ms = Vec::with_capacity(runs);
    for _ in 0..runs.max(1) {
        let t = Instant::now();
        f()?;
        ms.push(t.elapsed().as_secs_f64() * 1e3);
    }
    Ok(ms.into_iter().fold(f64::INFINITY, f64::min))
}

/// Times, per layer shape, the kernels of one 3x3 pad-1 conv layer and (where the
/// stage ends) the 2x2 pool after it, each as candle's backward pass runs it and
/// as `cpu_ops` does.
pub fn per_op(shapes: &[LayerShape], runs: usize) -> Result<PerOpReport, TrainError> {
    let dev = Device::Cpu;
    let mut rng = Rng::new(3);
    let mut randn = |dims: &[usize]| {
        let n = dims.iter().product();
        Tensor::from_vec(
            (0..n).map(|_| rng.normal()).collect::<Vec<f32>>(),
            dims,
            &dev,
        )
    };
    let mut timings = Vec::new();
    for (i, l) in shapes.iter().enumerate() {
        let (b, c, o, side) = (l.batch, l.cin, l.cout, l.side);
        let first = i == 0;
        let x = randn(&[b, c, side, side])?;
        let w = (randn(&[o, c, 3, 3])? * 0.05)?;
        let bias = randn(&[o])?;
        let dy = randn(&[b, o, side, side])?;
        let shape = l.to_string();
        let mut row = |op: &str, candle_ms: f64, fast_ms: f64| {
            timings.push(OpTiming {
                op: op.to_string(),
                shape: shape.clone(),
                layers: if op.starts_with("max-pool") {
                    1
                } else {
                    l.layers
                },
                in_step: match op {
                    "conv2d+bias+relu forward" | "conv2d weight grad" => true,
                    "conv2d input grad" => !first,
                    _ => false,
                },
                candle_ms,
                fast_ms,
            });
        };
        row(
            "conv2d forward",
            time_ms(runs, || x.conv2d(&w, 1, 1, 1, 1))?,
            time_ms(runs, || cpu_ops::conv2d(&x, &w, None, 1, false))?,
        );
        row(
            "conv2d+bias+relu forward",
            time_ms(runs, || {
                x.conv2d(&w, 1, 1, 1, 1)?
                    .broadcast_add(&bias.reshape((1, o, 1, 1))?)?
                    .relu()
            })?,
            time_ms(runs, || cpu_ops::conv2d(&x, &w, Some(&bias), 1, true))?,
        );
        row(
            "conv2d input grad",
            // What candle's backward runs (the vendored backprop: a forward
            // convolution with the kernel flipped, at stride 1).
            time_ms(runs, || {
                candle_core::backprop::conv2d_input_grad(&x, &w, &dy, 1, 1, 1)
            })?,
            time_ms(runs, || {
                cpu_ops::conv2d_input_grad(&dy, &w, 1, (side, side))
            })?,
        );
        row(
            "conv2d weight grad",
            time_ms(runs, || {
                x.transpose(0, 1)?
                    .conv2d(&dy.transpose(0, 1)?, 1, 1, 1, 1)?
                    .transpose(0, 1)
            })?,
            time_ms(runs, || cpu_ops::conv2d_weight_grad(&x, &dy, 1, (3, 3)))?,
        );
        if !l.pool {
            continue;
        }
        // The pool runs on the conv's output.
        let (x, r) = (
            randn(&[b, o, side, side])?,
            randn(&[b, o, side / 2, side / 2])?,
        );
        row(
            "max-pool forward",
            time_ms(runs, || x.max_pool2d(2))?,
            time_ms(runs, || cpu_ops::max_pool2x2(&x, PoolGrad::Argmax))?,
        );
        // What each backward pass computes for the pool (both then add it to the
        // input's gradient, which is left out): candle's mask-and-upsample
        // formula for its max_pool2d, and the scatter to saved maxima that the
        // fast path trains with.
        let (y, dy) = (x.max_pool2d(2)?, &r);
        let unpool = cpu_ops::max_pool2x2_argmax_backward(&x)?;
        row(
            "max-pool backward",
            time_ms(runs, || {
                let mask = x
                    .eq(&y.upsample_nearest2d(side, side)?)?
                    .to_dtype(DType::F32)?;
                let avg = mask.avg_pool2d(2)?;
                (dy * avg)?.upsample_nearest2d(side, side)? * mask
            })?,
            time_ms(runs, || unpool(dy))?,
        );
    }
    Ok(PerOpReport {
        threads: candle_core::utils::get_num_threads(),
        runs,
        timings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layer_shapes_merge_repeated_convs_and_mark_pools() {
        let got = layer_shapes("vgg19", 0.25, 8, 64).expect("vgg19");
        let rows: Vec<(usize, usize, usize, bool, usize)> = got
            .iter()
            .map(|l| (l.cin, l.cout, l.side, l.pool, l.layers))
            .collect();
        assert_eq!(
            rows,
            [
                (3, 16, 64, false, 1),
                (16, 16, 64, true, 1),
                (16, 32, 32, false, 1),
                (32, 32, 32, true, 1),
                (32, 64, 16, false, 1),
                (64, 64, 16, true, 3),
                (64, 128, 8, false, 1),
                (128, 128, 8, true, 3),
                (128, 128, 4, true, 4),
            ]
        );
        assert!(got.iter().all(|l| l.batch == 8));
        assert_eq!(got[1].to_string(), "8x16->16x64x64");
    }

    #[test]
    fn layer_shapes_reject_unknown_depth_and_tiny_inputs() {
        let err = layer_shapes("vgg8", 1.0, 1, 64).expect_err("unknown");
        assert!(err.to_string().contains("expected one of"), "{err}");
        let err = layer_shapes("vgg19", 1.0, 1, 16).expect_err("5 pools of 16 px");
        assert!(err.to_string().contains("too small"), "{err}");
    }
}
