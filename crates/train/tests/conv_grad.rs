//! The convolution's input gradient in the vendored candle backprop
//! (vendor/candle-core/src/backprop.rs, `conv2d_input_grad`): a forward
//! convolution with the kernel flipped and its channels swapped where stride
//! is 1, against the transposed convolution it replaces, on random shapes
//! (odd sides, batch 1, one channel, 1x1 kernels, padding as wide as the
//! kernel, stride 2), both against the gradient's definition computed in
//! loops; and no gradient at all for an input that needs none.

#![allow(clippy::unwrap_used)]

use candle_core::backprop::conv2d_input_grad;
use candle_core::{Device, Result, Tensor};
use proptest::prelude::*;

mod common;
use common::{assert_close, flat, values, var};

#[derive(Debug)]
struct Case {
    batch: usize,
    cin: usize,
    cout: usize,
    h: usize,
    w: usize,
    k: usize,
    pad: usize,
    stride: usize,
    seed: u64,
}

fn tensor(dims: &[usize], seed: u64) -> Result<Tensor> {
    Tensor::from_vec(values(dims.iter().product(), seed), dims, &Device::Cpu)
}

/// The input gradient by its definition, in loops: each input pixel gathers
/// the output gradients of the windows it fell in, times the kernel weight
/// that saw it.
fn naive(x: &Tensor, w: &Tensor, g: &Tensor, pad: usize, stride: usize) -> Result<Tensor> {
    let (n, cin, h, wd) = x.dims4()?;
    let (cout, _, k, _) = w.dims4()?;
    let (_, _, gh, gw) = g.dims4()?;
    let (wv, gv) = (flat(w), flat(g));
    let mut dx = vec![0f32; n * cin * h * wd];
    for b in 0..n {
        for c in 0..cin {
            for y in 0..h {
                for xx in 0..wd {
                    let mut sum = 0f32;
                    for o in 0..cout {
                        for i in 0..k {
                            for j in 0..k {
                                let (ty, tx) = (y + pad, xx + pad);
                                if ty < i
                                    || tx < j
                                    || (ty - i) % stride != 0
                                    || (tx - j) % stride != 0
                                {
                                    continue;
                                }
                                let (oy, ox) = ((ty - i) / stride, (tx - j) / stride);
                                if oy < gh && ox < gw {
                                    sum += gv[((b * cout + o) * gh + oy) * gw + ox]
                                        * wv[((o * cin + c) * k + i) * k + j];
                                }
                            }
                        }
                    }
                    dx[((b * cin + c) * h + y) * wd + xx] = sum;
                }
            }
        }
    }
    Tensor::from_vec(dx, (n, cin, h, wd), &Device::Cpu)
}

/// The input gradient as candle 0.11.1 computed it: a transposed convolution
/// (on inputs whose sides have one out_padding: it took the height's for both).
fn transposed(x: &Tensor, w: &Tensor, g: &Tensor, pad: usize, stride: usize) -> Result<Tensor> {
    let out = (g.dim(2)? - 1) * stride + w.dim(2)? - 2 * pad;
    g.conv_transpose2d(w, pad, x.dim(2)? - out, stride, 1)
}

fn check(c: &Case) -> Result<()> {
    let x = var(&[c.batch, c.cin, c.h, c.w], c.seed);
    let w = var(&[c.cout, c.cin, c.k, c.k], c.seed + 1);
    let y = x.conv2d(&w, c.pad, c.stride, 1, 1)?;
    let g = tensor(y.dims(), c.seed + 2)?;
    let want = naive(&x, &w, &g, c.pad, c.stride)?;
    let got = conv2d_input_grad(&x, &w, &g, c.pad, c.stride, 1)?;
    assert_close("input gradient", &got, &want);
    if c.h == c.w {
        let before = transposed(&x, &w, &g, c.pad, c.stride)?;
        assert_close("input gradient as candle computed it", &got, &before);
    }
    // Through `.backward()`: the loss sum(y * g) has g as y's gradient.
    let grads = (y * &g)?.sum_all()?.backward()?;
    let through = grads.get(&x).expect("x is a variable: it has a gradient");
    assert_close("input gradient through backward", through, &want);
    Ok(())
}

fn case() -> impl Strategy<Value = Case> {
    (
        (1usize..=3, 1usize..=4, 1usize..=4),
        (1usize..=9, 1usize..=9),
        prop_oneof![Just(1usize), Just(3), Just(5)],
        0usize..=5,
        1usize..=2,
        any::<u64>(),
    )
        .prop_filter(
            "the output has at least one pixel",
            |(_, (h, w), k, pad, _, _)| h + 2 * pad >= *k && w + 2 * pad >= *k && *pad <= *k,
        )
        .prop_map(|((batch, cin, cout), (h, w), k, pad, stride, seed)| Case {
            batch,
            cin,
            cout,
            h,
            w,
            k,
            pad,
            stride,
            seed: seed >> 8,
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]
    #[test]
    fn the_input_gradient_matches_its_definition(c in case()) {
        check(&c).unwrap();
    }
}

#[test]
fn the_shapes_a_vgg_trains_with_match() {
    for (h, cin, cout) in [
        (32, 3, 8),
        (16, 8, 16),
        (8, 16, 32),
        (4, 32, 64),
        (2, 64, 64),
    ] {
        check(&Case {
            batch: 2,
            cin,
            cout,
            h,
            w: h,
            k: 3,
            pad: 1,
            stride: 1,
            seed: h as u64,
        })
        .unwrap();
    }
}

/// The images a network starts from are no variable and depend on none: the
/// first convolution computes no gradient for them (candle 0.11.1 computed
/// and stored one, a third of that layer's backward pass).
#[test]
fn an_input_that_needs_no_gradient_gets_none() {
    let x = tensor(&[2, 3, 8, 8], 1).unwrap();
    let w = var(&[4, 3, 3, 3], 2);
    let y = x.conv2d(&w, 1, 1, 1, 1).unwrap();
    let grads = y.sqr().unwrap().sum_all().unwrap().backward().unwrap();
    assert!(grads.get(&x).is_none(), "the images got a gradient");
    assert!(grads.get(&w).is_some(), "the kernel has its gradient");
}
