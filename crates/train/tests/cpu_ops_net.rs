//! The fast BatchNorm op and whole nets on the fast path against candle's ops:
//! outputs, every parameter's gradient, and BatchNorm's running statistics.

use ablate_spec::types::ModelSpec;
use ablate_train::cpu_ops::{self, BnParams};
use ablate_train::model::{HeadSizes, Net, Ops, init_weights};
use ablate_train::rng::Rng;
use candle_core::{DType, Device, Result, Tensor, Var};
use candle_nn::{BatchNorm, BatchNormConfig, ModuleT, VarBuilder, VarMap};

mod common;
use common::flat;

fn values(n: usize, seed: u64) -> Vec<f32> {
    let mut rng = Rng::new(seed);
    (0..n).map(|_| rng.normal()).collect()
}

/// Every element within 1e-4 of the reference's own largest magnitude.
fn assert_close(what: &str, got: &Tensor, want: &Tensor) {
    common::assert_close_scaled(what, got, want, 1e-6);
}

fn norm(t: &Tensor) -> f64 {
    flat(t)
        .iter()
        .map(|v| f64::from(*v).powi(2))
        .sum::<f64>()
        .sqrt()
}

/// A BatchNorm over `c` channels with seeded weight, bias and running statistics.
fn seeded_bn(c: usize, seed: u64) -> Result<(VarMap, BatchNorm)> {
    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
    let cfg = BatchNormConfig {
        eps: 1e-5,
        remove_mean: true,
        affine: true,
        momentum: 0.1,
    };
    let bn = candle_nn::batch_norm(c, cfg, vb)?;
    for (name, var) in varmap.data().lock().expect("lock").iter() {
        let v = values(c, seed + name.len() as u64);
        let v: Vec<f32> = match name.as_str() {
            "running_var" => v.iter().map(|x| 0.5 + x.abs()).collect(),
            "weight" => v.iter().map(|x| 1.0 + 0.3 * x).collect(),
            _ => v,
        };
        var.set(&Tensor::from_vec(v, c, &Device::Cpu)?)?;
    }
    Ok((varmap, bn))
}

fn check_bn(dims: &[usize], train: bool, relu: bool, seed: u64) -> Result<()> {
    let c = dims[1];
    let ((map_s, slow_bn), (map_f, fast_bn)) = (seeded_bn(c, seed)?, seeded_bn(c, seed)?);
    let x = Var::from_vec(values(dims.iter().product(), seed + 7), dims, &Device::Cpu)?;
    let mut slow = slow_bn.forward_t(&x, train)?;
    if relu {
        slow = slow.relu()?;
    }
    let (weight, bias) = fast_bn.weight_and_bias().expect("affine");
    let p = BnParams {
        weight,
        bias,
        running_mean: fast_bn.running_mean(),
        running_var: fast_bn.running_var(),
        eps: fast_bn.eps(),
        momentum: fast_bn.momentum(),
    };
    let fast = cpu_ops::batch_norm(&x, &p, train, relu)?;
    let what = format!("{dims:?} train {train} relu {relu}");
    assert_close(&format!("bn forward {what}"), &fast, &slow);
    let r = Tensor::from_vec(
        values(slow.elem_count(), seed + 9),
        slow.shape(),
        &Device::Cpu,
    )?;
    let gs = (&slow * &r)?.sum_all()?.backward()?;
    let gf = (&fast * &r)?.sum_all()?.backward()?;
    assert_close(
        &format!("bn dx {what}"),
        gf.get(&x).expect("fast"),
        gs.get(&x).expect("slow"),
    );
    let (ws, wf) = (
        map_s.data().lock().expect("lock"),
        map_f.data().lock().expect("lock"),
    );
    for name in ["weight", "bias", "running_mean", "running_var"] {
        let (s, f) = (&ws[name], &wf[name]);
        if name.starts_with("running") {
            assert_close(&format!("bn {name} {what}"), f.as_tensor(), s.as_tensor());
        } else {
            let (gf, gs) = (gf.get(f).expect("fast"), gs.get(s).expect("slow"));
            assert_close(&format!("bn d{name} {what}"), gf, gs);
        }
    }
    Ok(())
}

#[test]
fn batch_norm_matches_candle() -> Result<()> {
    for (i, dims) in [
        vec![4, 3, 5, 7],
        vec![2, 8, 16, 16],
        vec![16, 6],
        vec![1, 5, 3, 3],
    ]
    .iter()
    .enumerate()
    {
        for (train, relu) in [(true, true), (true, false), (false, true), (false, false)] {
            check_bn(dims, train, relu, 40 + i as u64)?;
        }
    }
    Ok(())
}

/// Builds the same net twice over one set of variables and compares both paths:
/// outputs in evaluation and training mode, and every parameter's gradient.
fn check_net(model: &ModelSpec, input: usize, batch: usize) -> Result<()> {
    let dev = Device::Cpu;
    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, &dev);
    let heads = HeadSizes {
        general: Some(5),
        age: Some(3),
        ..HeadSizes::default()
    };
    let slow = Net::new(model, input, heads, 0.3, &vb)?.with_ops(Ops::Candle);
    let fast = Net::new(model, input, heads, 0.3, &vb)?;
    assert_eq!(fast.ops(), Ops::Fast);
    init_weights(&varmap, 3, &dev)?;
    let x = Tensor::from_vec(
        values(batch * 3 * input * input, 5),
        (batch, 3, input, input),
        &dev,
    )?;
    let what = format!("{model:?} at {input}x{input}");
    let (es, ef) = (
        slow.forward(&x, false, &mut Rng::new(1))?,
        fast.forward(&x, false, &mut Rng::new(1))?,
    );
    assert_close(
        &format!("eval logits {what}"),
        &ef.general.expect("head"),
        &es.general.expect("head"),
    );
    // Training mode updates BatchNorm's running statistics; both passes see the
    // same ones only because the outputs use batch statistics.
    let (os, of) = (
        slow.forward(&x, true, &mut Rng::new(2))?,
        fast.forward(&x, true, &mut Rng::new(2))?,
    );
    let loss = |o: &ablate_train::model::Outputs| -> Result<Tensor> {
        let (g, a) = (
            o.general.as_ref().expect("general"),
            o.age.as_ref().expect("age"),
        );
        let rg = Tensor::from_vec(values(g.elem_count(), 11), g.shape(), &dev)?;
        (g * &rg)?.sum_all()? + a.sqr()?.sum_all()?
    };
    let (ls, lf) = (loss(&os)?, loss(&of)?);
    assert_close(&format!("train loss {what}"), &lf, &ls);
    let (gs, gf) = (ls.backward()?, lf.backward()?);
    for (name, var) in varmap.data().lock().expect("lock").iter() {
        match (gf.get(var), gs.get(var)) {
            // A bias right before BatchNorm has a zero gradient in exact
            // arithmetic: both paths give rounding noise, which need not agree.
            (Some(f), Some(s)) if norm(s) < 1e-5 => assert!(norm(f) < 1e-5, "d{name} {what}"),
            (Some(f), Some(s)) => assert_close(&format!("d{name} {what}"), f, s),
            (None, None) => {}
            _ => panic!("{name}: gradient on one path only ({what})"),
        }
    }
    Ok(())
}

#[test]
fn nets_match_candle() -> Result<()> {
    let spec = |convs: &[u32], channels: &[u32], batch_norm: bool| ModelSpec {
        convs: convs.to_vec(),
        channels: channels.to_vec(),
        fc: vec![24],
        batch_norm,
    };
    // Even sides throughout (fused pools); an odd side before the last pool
    // (unfused fallback, candle's odd-side pool gradient); one conv per stage.
    check_net(&spec(&[2, 2], &[8, 16], false), 16, 3)?;
    check_net(&spec(&[2, 2], &[6, 12], false), 18, 2)?;
    check_net(&spec(&[1, 1, 1], &[4, 8, 8], false), 16, 1)?;
    // The hidden FC layer's BatchNorm normalises over the batch, which makes the
    // trunk's gradients ill-conditioned for tiny batches (at 2 they vanish in exact
    // arithmetic, leaving both paths with unrelated rounding noise): use 8.
    check_net(&spec(&[2, 2], &[8, 16], true), 16, 8)?;
    check_net(&spec(&[2, 1], &[8, 8], true), 18, 8)?;
    check_net(&spec(&[1, 2], &[8, 8], true), 22, 8)?;
    Ok(())
}
