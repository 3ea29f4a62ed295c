//! The fast CPU ops against candle's own ops: values and gradients (through
//! `.backward()`) on random shapes, including the awkward ones (odd sides, batch 1,
//! one channel, 1x1 kernels, padding wider than the kernel).

use ablate_train::cpu_ops::{self, PoolGrad};
use candle_core::{Device, Result, Tensor, Var};
use proptest::prelude::*;

mod common;
use common::{assert_close, flat, values, var};

struct ConvCase {
    batch: usize,
    cin: usize,
    cout: usize,
    h: usize,
    w: usize,
    k: usize,
    pad: usize,
    bias: bool,
    relu: bool,
    seed: u64,
}

/// Forward values and the gradients of x, w and b under a random linear loss.
fn check_conv(c: &ConvCase) -> Result<()> {
    let x = var(&[c.batch, c.cin, c.h, c.w], c.seed);
    let w = var(&[c.cout, c.cin, c.k, c.k], c.seed + 1);
    let b = var(&[c.cout], c.seed + 2);
    let bias = c.bias.then_some(b.as_tensor());
    let fast = cpu_ops::conv2d(&x, &w, bias, c.pad, c.relu)?;
    let mut slow = x.conv2d(&w, c.pad, 1, 1, 1)?;
    if let Some(b) = bias {
        slow = slow.broadcast_add(&b.reshape((1, c.cout, 1, 1))?)?;
    }
    if c.relu {
        slow = slow.relu()?;
    }
    assert_close("conv2d forward", &fast, &slow);
    let r = Tensor::from_vec(
        values(slow.elem_count(), c.seed + 3),
        slow.shape(),
        &Device::Cpu,
    )?;
    let gf = (&fast * &r)?.sum_all()?.backward()?;
    let gs = (&slow * &r)?.sum_all()?.backward()?;
    let mut vars = vec![("dx", &x), ("dw", &w)];
    if c.bias {
        vars.push(("db", &b));
    }
    for (name, v) in vars {
        let (f, s) = (gf.get(v).expect("fast grad"), gs.get(v).expect("slow grad"));
        assert_close(name, f, s);
    }
    Ok(())
}

/// A case CI's proptest drew: a one-channel bias gradient summing 90 terms to
/// near zero, within the terms' rounding of candle's sum but 1.9e-4 of its own
/// size, which the norm-relative check had no floor for.
#[test]
fn a_bias_gradient_that_cancels_to_near_zero_is_compared_at_its_terms_scale() {
    let c = ConvCase {
        batch: 1,
        cin: 1,
        cout: 1,
        h: 6,
        w: 5,
        k: 1,
        pad: 2,
        bias: true,
        relu: false,
        seed: 3651694115493212901,
    };
    check_conv(&c).expect("conv");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn conv2d_matches_candle(
        batch in 1usize..4, cin in 1usize..6, cout in 1usize..6,
        h in 1usize..11, w in 1usize..11, k in prop::sample::select(vec![1usize, 3]),
        pad in 0usize..3, bias: bool, relu: bool, seed: u64,
    ) {
        prop_assume!(h + 2 * pad >= k && w + 2 * pad >= k);
        check_conv(&ConvCase { batch, cin, cout, h, w, k, pad, bias, relu, seed }).expect("conv");
    }

    /// Winograd shapes with more channels and tile rows than the small cases:
    /// 8+ channels, 16-23 wide (odd sides leave a half tile), every padding.
    #[test]
    fn conv2d_matches_candle_on_wider_shapes(
        batch in 1usize..3, cin in 8usize..12, cout in 8usize..12,
        h in 16usize..24, w in 16usize..24, pad in 0usize..3, bias: bool, relu: bool, seed: u64,
    ) {
        prop_assume!(h + 2 * pad >= 18 && w + 2 * pad >= 18);
        check_conv(&ConvCase { batch, cin, cout, h, w, k: 3, pad, bias, relu, seed }).expect("conv");
    }

    /// Channel counts the lane-blocked Winograd transforms take (multiples of 16),
    /// on either side alone or both, on odd and even planes above 16 pixels.
    #[test]
    fn conv2d_matches_candle_with_channel_blocks(
        batch in 1usize..3, cin in prop::sample::select(vec![12usize, 16, 32]),
        cout in prop::sample::select(vec![12usize, 16, 32]),
        h in 5usize..14, w in 5usize..14, pad in 0usize..2, bias: bool, relu: bool, seed: u64,
    ) {
        prop_assume!(cin % 16 == 0 || cout % 16 == 0);
        check_conv(&ConvCase { batch, cin, cout, h, w, k: 3, pad, bias, relu, seed }).expect("conv");
    }

    /// Planes of at most 16 pixels with 8+ channels: the batched im2col path
    /// (several images per gemm), including batches split over the threads.
    #[test]
    fn conv2d_matches_candle_on_small_planes(
        batch in 1usize..6, cin in 8usize..12, cout in 1usize..10,
        h in 1usize..6, w in 1usize..6, pad in 0usize..2, bias: bool, relu: bool, seed: u64,
    ) {
        prop_assume!(h + 2 * pad >= 3 && w + 2 * pad >= 3);
        check_conv(&ConvCase { batch, cin, cout, h, w, k: 3, pad, bias, relu, seed }).expect("conv");
    }

    #[test]
    fn conv2d_relu_pool_matches_candle(
        batch in 1usize..3, cin in 1usize..6, cout in 1usize..6,
        h in 2usize..11, w in 2usize..11, pad in 0usize..2, bias: bool, seed: u64,
    ) {
        prop_assume!(h + 2 * pad >= 4 && w + 2 * pad >= 4);
        check_conv_pool(&ConvCase { batch, cin, cout, h, w, k: 3, pad, bias, relu: true, seed }).expect("conv+pool");
    }

    #[test]
    fn max_pool_compat_matches_candle(
        batch in 1usize..3, c in 1usize..4, h in 2usize..10, w in 2usize..10,
        levels in prop::sample::select(vec![0u32, 2, 3]), seed: u64,
    ) {
        check_pool(&[batch, c, h, w], levels, seed).expect("pool");
    }
}

/// The fused conv + bias + ReLU + pool against candle's four ops (compat gradient),
/// and its argmax gradient against the unfused fast ops.
fn check_conv_pool(c: &ConvCase) -> Result<()> {
    let x = var(&[c.batch, c.cin, c.h, c.w], c.seed);
    let w = var(&[c.cout, c.cin, c.k, c.k], c.seed + 1);
    let b = var(&[c.cout], c.seed + 2);
    let bias = c.bias.then_some(b.as_tensor());
    let mut slow = x.conv2d(&w, c.pad, 1, 1, 1)?;
    if let Some(b) = bias {
        slow = slow.broadcast_add(&b.reshape((1, c.cout, 1, 1))?)?;
    }
    let slow = slow.relu()?.max_pool2d(2)?;
    let fast = cpu_ops::conv2d_relu_pool(&x, &w, bias, c.pad, PoolGrad::CandleCompat)?;
    assert_close("conv+pool forward", &fast, &slow);
    let r = Tensor::from_vec(
        values(slow.elem_count(), c.seed + 3),
        slow.shape(),
        &Device::Cpu,
    )?;
    let gf = (&fast * &r)?.sum_all()?.backward()?;
    let gs = (&slow * &r)?.sum_all()?.backward()?;
    let argmax = cpu_ops::conv2d_relu_pool(&x, &w, bias, c.pad, PoolGrad::Argmax)?;
    let unfused = cpu_ops::max_pool2x2(
        &cpu_ops::conv2d(&x, &w, bias, c.pad, true)?,
        PoolGrad::Argmax,
    )?;
    let ga = (&argmax * &r)?.sum_all()?.backward()?;
    let gu = (&unfused * &r)?.sum_all()?.backward()?;
    let mut vars = vec![("dx", &x), ("dw", &w)];
    if c.bias {
        vars.push(("db", &b));
    }
    for (name, v) in vars {
        assert_close(name, gf.get(v).expect("fast"), gs.get(v).expect("slow"));
        assert_close(
            name,
            ga.get(v).expect("argmax"),
            gu.get(v).expect("unfused"),
        );
    }
    Ok(())
}

/// Values quantised to `levels` steps (0: continuous), so windows with tied maxima
/// (and candle's tie rule) are exercised.
fn pool_input(dims: &[usize], levels: u32, seed: u64) -> Var {
    let n = dims.iter().product();
    let mut v = values(n, seed);
    if levels > 0 {
        v.iter_mut().for_each(|x| *x = (*x * levels as f32).round());
    }
    Var::from_vec(v, dims, &Device::Cpu).expect("var")
}

fn check_pool(dims: &[usize], levels: u32, seed: u64) -> Result<()> {
    let x = pool_input(dims, levels, seed);
    let fast = cpu_ops::max_pool2x2(&x, PoolGrad::CandleCompat)?;
    let slow = x.max_pool2d(2)?;
    assert_eq!(flat(&fast), flat(&slow), "max-pool forward");
    let r = Tensor::from_vec(
        values(slow.elem_count(), seed + 1),
        slow.shape(),
        &Device::Cpu,
    )?;
    let gf = (&fast * &r)?.sum_all()?.backward()?;
    let gs = (&slow * &r)?.sum_all()?.backward()?;
    let (f, s) = (gf.get(&x).expect("fast"), gs.get(&x).expect("slow"));
    // The compat gradient is candle's formula term by term: equal, not just close.
    assert_eq!(flat(f), flat(s), "max-pool gradient, {dims:?}");
    Ok(())
}

/// PyTorch's rule, written out: the whole gradient to the first maximum (row-major).
fn argmax_reference(x: &[f32], dy: &[f32], (planes, h, w): (usize, usize, usize)) -> Vec<f32> {
    let (oh, ow) = (h / 2, w / 2);
    let mut dx = vec![0.0; x.len()];
    for p in 0..planes {
        for i in 0..oh {
            for j in 0..ow {
                let cells = [(0, 0), (0, 1), (1, 0), (1, 1)]
                    .map(|(a, b)| p * h * w + (2 * i + a) * w + 2 * j + b);
                let best = cells
                    .iter()
                    .fold(cells[0], |m, &c| if x[c] > x[m] { c } else { m });
                dx[best] += dy[(p * oh + i) * ow + j];
            }
        }
    }
    dx
}

/// The reference path's pool (`model::max_pool2x2_ref`, candle ops only) gives
/// the same values and, without ties, the same gradient as the fast Argmax op; a
/// tie splits the gradient evenly.
#[test]
fn reference_pool_has_the_argmax_gradient() -> Result<()> {
    for (n, &(h, w)) in [(4, 4), (7, 5), (2, 2), (9, 6)].iter().enumerate() {
        let x = pool_input(&[2, 3, h, w], 0, 40 + n as u64);
        let y = ablate_train::model::max_pool2x2_ref(&x)?;
        assert_eq!(flat(&y), flat(&x.max_pool2d(2)?), "forward {h}x{w}");
        let r = Tensor::from_vec(values(y.elem_count(), 7), y.shape(), &Device::Cpu)?;
        let g = (&y * &r)?.sum_all()?.backward()?;
        let want = argmax_reference(&flat(&x), &flat(&r), (6, h, w));
        assert_eq!(flat(g.get(&x).expect("grad")), want, "{h}x{w}");
    }
    let x = Var::from_vec(vec![1.0f32, 3.0, 3.0, 0.5], (1, 1, 2, 2), &Device::Cpu)?;
    let y = ablate_train::model::max_pool2x2_ref(&x)?;
    assert_eq!(flat(&y), [3.0]);
    let g = y.sum_all()?.backward()?;
    assert_eq!(flat(g.get(&x).expect("grad")), [0.0, 0.5, 0.5, 0.0]);
    Ok(())
}

#[test]
fn max_pool_argmax_gradient() -> Result<()> {
    for (n, &(h, w, levels)) in [(4, 4, 0), (7, 5, 0), (6, 9, 2), (2, 2, 0), (5, 3, 3)]
        .iter()
        .enumerate()
    {
        let x = pool_input(&[2, 3, h, w], levels, n as u64);
        let y = cpu_ops::max_pool2x2(&x, PoolGrad::Argmax)?;
        assert_eq!(flat(&y), flat(&x.max_pool2d(2)?), "forward {h}x{w}");
        let r = Tensor::from_vec(values(y.elem_count(), 99), y.shape(), &Device::Cpu)?;
        let g = (&y * &r)?.sum_all()?.backward()?;
        let want = argmax_reference(&flat(&x), &flat(&r), (6, h, w));
        assert_eq!(flat(g.get(&x).expect("grad")), want, "{h}x{w}");
    }
    Ok(())
}

#[test]
fn relu_matches_candle_including_exact_zeros() -> Result<()> {
    let mut v = values(300, 5);
    v.iter_mut().step_by(3).for_each(|x| *x = 0.0);
    let x = Var::from_vec(v, (3, 100), &Device::Cpu)?;
    let r = Tensor::from_vec(values(300, 6), (3, 100), &Device::Cpu)?;
    let fast = cpu_ops::relu(&x)?;
    let slow = x.relu()?;
    assert_eq!(flat(&fast), flat(&slow));
    let gf = (&fast * &r)?.sum_all()?.backward()?;
    let gs = (&slow * &r)?.sum_all()?.backward()?;
    assert_eq!(
        flat(gf.get(&x).expect("fast")),
        flat(gs.get(&x).expect("slow"))
    );
    Ok(())
}

/// A zero input with a zero bias makes every pre-activation exactly 0, where
/// candle's ReLU still passes the gradient: the fused op must too.
#[test]
fn fused_relu_passes_gradient_at_exact_zero() -> Result<()> {
    let x = Var::from_vec(vec![0f32; 2 * 3 * 5 * 5], (2, 3, 5, 5), &Device::Cpu)?;
    let w = var(&[4, 3, 3, 3], 7);
    let b = Var::from_vec(vec![0f32; 4], 4, &Device::Cpu)?;
    let fast = cpu_ops::conv2d(&x, &w, Some(&b), 1, true)?;
    let slow = x
        .conv2d(&w, 1, 1, 1, 1)?
        .broadcast_add(&b.reshape((1, 4, 1, 1))?)?
        .relu()?;
    let r = Tensor::from_vec(values(fast.elem_count(), 8), fast.shape(), &Device::Cpu)?;
    let gf = (&fast * &r)?.sum_all()?.backward()?;
    let gs = (&slow * &r)?.sum_all()?.backward()?;
    for v in [&x, &w, &b] {
        assert_close(
            "zero-input grads",
            gf.get(v).expect("fast"),
            gs.get(v).expect("slow"),
        );
    }
    // Pooled, every window is a four-way tie at 0: candle hands each element the
    // whole gradient (4/4), and ReLU lets it through.
    let x6 = Var::from_vec(vec![0f32; 2 * 3 * 6 * 6], (2, 3, 6, 6), &Device::Cpu)?;
    let fast = cpu_ops::conv2d_relu_pool(&x6, &w, Some(&b), 1, PoolGrad::CandleCompat)?;
    let slow = x6
        .conv2d(&w, 1, 1, 1, 1)?
        .broadcast_add(&b.reshape((1, 4, 1, 1))?)?
        .relu()?
        .max_pool2d(2)?;
    let r = Tensor::from_vec(values(fast.elem_count(), 9), fast.shape(), &Device::Cpu)?;
    let gf = (&fast * &r)?.sum_all()?.backward()?;
    let gs = (&slow * &r)?.sum_all()?.backward()?;
    for v in [&x6, &w, &b] {
        let (f, s) = (gf.get(v).expect("fast"), gs.get(v).expect("slow"));
        assert_close("zero-input pooled grads", f, s);
    }
    Ok(())
}

/// The benchmark's own layer shapes (smaller batch): several im2col bands per image,
/// both threading paths (batch below and above the thread budget).
#[test]
fn conv2d_matches_candle_on_net_shapes() -> Result<()> {
    for (batch, cin, cout, side) in [
        (3, 32, 32, 32),
        (1, 3, 32, 64),
        (2, 128, 256, 8),
        (4, 64, 64, 16),
        (5, 128, 64, 4),
        (3, 64, 32, 2),
    ] {
        let c = ConvCase {
            batch,
            cin,
            cout,
            h: side,
            w: side,
            k: 3,
            pad: 1,
            bias: true,
            relu: true,
            seed: 11,
        };
        check_conv(&c)?;
    }
    Ok(())
}

/// The fused conv + ReLU + pool on the batched small-plane path (its epilogue
/// runs per image on the scattered gemm output).
#[test]
fn conv_pool_on_small_planes_matches_candle() -> Result<()> {
    for (batch, side) in [(5, 4), (3, 2)] {
        check_conv_pool(&ConvCase {
            batch,
            cin: 16,
            cout: 12,
            h: side,
            w: side,
            k: 3,
            pad: 1,
            bias: true,
            relu: true,
            seed: 31,
        })?;
    }
    Ok(())
}

#[test]
fn gradient_kernels_match_candle() -> Result<()> {
    let x = var(&[2, 5, 9, 7], 21);
    let w = var(&[6, 5, 3, 3], 22);
    let dy = Tensor::from_vec(values(2 * 6 * 9 * 7, 23), (2, 6, 9, 7), &Device::Cpu)?;
    let dx = cpu_ops::conv2d_input_grad(&dy, &w, 1, (9, 7))?;
    assert_close("input grad", &dx, &dy.conv_transpose2d(&w, 1, 0, 1, 1)?);
    let g = (x.conv2d(&w, 1, 1, 1, 1)? * &dy)?.sum_all()?.backward()?;
    let dw = cpu_ops::conv2d_weight_grad(&x, &dy, 1, (3, 3))?;
    assert_close("weight grad", &dw, g.get(&w).expect("dw"));
    Ok(())
}

/// The in-place SGD step is the tensor formula (PyTorch's order), bit for bit:
/// first step and later ones, with and without momentum and weight decay.
#[test]
fn in_place_sgd_equals_the_tensor_formula() -> Result<()> {
    let dev = Device::Cpu;
    let t = |seed: u64| Tensor::from_vec(values(1000, seed), 1000, &dev);
    for (mu, wd) in [(0.0, 0.0), (0.0, 5e-4), (0.9, 0.0), (0.9, 5e-4)] {
        let (w0, lr) = (t(1)?, 0.05);
        let w = Var::from_tensor(&w0.copy()?)?;
        let mut m: Option<Tensor> = None;
        let (mut w_ref, mut m_ref): (Tensor, Option<Tensor>) = (w0.copy()?, None);
        for step in 0..3 {
            let g = t(10 + step)?;
            if let Some(fresh) = cpu_ops::sgd_step(w.as_tensor(), &g, m.as_ref(), lr, mu, wd)? {
                m = Some(fresh);
            }
            let d = if wd > 0.0 {
                (&g + (&w_ref * wd)?)?
            } else {
                g.clone()
            };
            let v = match &m_ref {
                Some(m) if mu > 0.0 => ((m * mu)? + &d)?,
                _ => d,
            };
            w_ref = (&w_ref - (&v * lr)?)?;
            m_ref = Some(v);
            assert_eq!(
                flat(w.as_tensor()),
                flat(&w_ref),
                "weights, mu {mu} wd {wd} step {step}"
            );
            if mu > 0.0 {
                let got = m.as_ref().expect("buffer");
                assert_eq!(
                    flat(got),
                    flat(m_ref.as_ref().expect("ref")),
                    "momentum, step {step}"
                );
            }
        }
    }
    Ok(())
}
