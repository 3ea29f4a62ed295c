//! The fused FC layer against candle_nn's `Linear` (then `relu`): values and the
//! gradients of x, w and b through `.backward()`, on random shapes.

use ablate_train::cpu_ops;
use candle_core::{Device, Result, Tensor, Var};
use candle_nn::Module;
use proptest::prelude::*;

mod common;
use common::{assert_close, flat, values, var};

/// Gradients of (x, w, b) under the loss `sum(y * r)`, fast then reference.
type Grads = [Tensor; 3];

fn grads(y: &Tensor, r: &Tensor, vars: [&Var; 3]) -> Result<Grads> {
    let g = (y * r)?.sum_all()?.backward()?;
    Ok(vars.map(|v| g.get(v).expect("every operand gets a gradient").clone()))
}

fn check_linear(x: &Var, w: &Var, b: &Var, relu: bool, seed: u64) -> Result<(Grads, Grads)> {
    let fast = cpu_ops::linear(x, w, b, relu)?;
    let reference = candle_nn::Linear::new(w.as_tensor().clone(), Some(b.as_tensor().clone()));
    let mut slow = reference.forward(x)?;
    if relu {
        slow = slow.relu()?;
    }
    assert_close("linear forward", &fast, &slow);
    let r = Tensor::from_vec(values(slow.elem_count(), seed), slow.shape(), &Device::Cpu)?;
    Ok((grads(&fast, &r, [x, w, b])?, grads(&slow, &r, [x, w, b])?))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn linear_matches_candle(
        batch in 1usize..6, inp in 1usize..70, out in 1usize..40, relu: bool, seed: u64,
    ) {
        let (x, w, b) = (var(&[batch, inp], seed), var(&[out, inp], seed + 1), var(&[out], seed + 2));
        let (fast, slow) = check_linear(&x, &w, &b, relu, seed + 3).expect("linear");
        for (name, (f, s)) in ["dx", "dw", "db"].iter().zip(fast.iter().zip(&slow)) {
            assert_close(name, f, s);
        }
    }
}

/// The nets' own sizes (a 64-image batch into 256 and 4096 units), where gemm
/// takes its blocked, multithreaded path.
#[test]
fn linear_matches_candle_on_net_shapes() -> Result<()> {
    for (batch, inp, out) in [(64, 4096, 256), (64, 512, 4096), (3, 300, 7)] {
        let (x, w, b) = (var(&[batch, inp], 1), var(&[out, inp], 2), var(&[out], 3));
        let (fast, slow) = check_linear(&x, &w, &b, true, 4)?;
        for (name, (f, s)) in ["dx", "dw", "db"].iter().zip(fast.iter().zip(&slow)) {
            assert_close(name, f, s);
        }
    }
    Ok(())
}

/// Zero inputs and bias make every pre-activation exactly 0, where candle's ReLU
/// passes the gradient: the fused op must too, and give the same numbers.
#[test]
fn linear_relu_passes_gradient_at_exact_zero() -> Result<()> {
    let x = Var::from_vec(vec![0f32; 4 * 6], (4, 6), &Device::Cpu)?;
    let (w, b) = (
        var(&[5, 6], 1),
        Var::from_vec(vec![0f32; 5], 5, &Device::Cpu)?,
    );
    let (fast, slow) = check_linear(&x, &w, &b, true, 2)?;
    for (f, s) in fast.iter().zip(&slow) {
        assert_eq!(flat(f), flat(s));
    }
    assert!(
        flat(&fast[0]).iter().any(|v| *v != 0.0),
        "dx passes through"
    );
    Ok(())
}

#[test]
fn linear_rejects_mismatched_operands() {
    let (x, w, b) = (var(&[2, 3], 1), var(&[4, 5], 2), var(&[4], 3));
    let err = cpu_ops::linear(&x, &w, &b, false).expect_err("w has 5 inputs, x 3");
    assert!(err.to_string().contains("expected w (4, 3)"), "{err}");
}
