#![allow(clippy::unwrap_used)]
//! Age encodings and losses against hand computations, finite differences and the
//! properties the LDAE target must have.

use ablate_spec::types::{Encoding, RegressionLoss};
use ablate_train::encoding::{AgeCoder, Decoded, cross_entropy, ldae_target, soft_cross_entropy};
use candle_core::{Device, Result, Tensor, Var};
use proptest::prelude::*;

const DEV: Device = Device::Cpu;

fn classification(age_min: u32, age_max: u32) -> AgeCoder {
    AgeCoder::new(&Encoding::Classification { age_min, age_max }, &[])
}

fn ldae(sigma: f64, age_min: u32, age_max: u32, use_age_std: bool) -> AgeCoder {
    let enc = Encoding::Ldae {
        sigma,
        age_min,
        age_max,
        use_age_std,
    };
    AgeCoder::new(&enc, &[])
}

fn regression(loss: RegressionLoss, train: &[f32]) -> AgeCoder {
    AgeCoder::new(&Encoding::Regression { loss }, train)
}

fn scalar(t: &Tensor) -> f32 {
    t.to_scalar::<f32>().unwrap()
}

fn assert_close(got: f32, want: f64, tol: f64) {
    assert!(
        (f64::from(got) - want).abs() <= tol,
        "got {got}, want {want}"
    );
}

/// Reference log-softmax of one row, in f64.
fn log_softmax_ref(row: &[f64]) -> Vec<f64> {
    let lse = row.iter().map(|x| x.exp()).sum::<f64>().ln();
    row.iter().map(|x| x - lse).collect()
}

/// Deterministic, irregular logits so no two entries tie.
fn logits(n: usize, scale: f32) -> Vec<f32> {
    (0..n)
        .map(|i| scale * ((i as f32 * 1.7 + 0.3).sin() + 0.1 * i as f32))
        .collect()
}

proptest! {
    #[test]
    fn ldae_target_sums_to_one_and_peaks_at_the_clamped_age(
        age in 0f32..100.0,
        sigma in 0.5f32..10.0,
        range in prop::sample::select(vec![(0u32, 100u32), (16, 77), (0, 10), (30, 40), (50, 50)]),
    ) {
        let (lo, hi) = range;
        let t = ldae_target(age, sigma, lo, hi);
        prop_assert_eq!(t.len(), (hi - lo + 1) as usize);
        prop_assert!(t.iter().all(|&p| p >= 0.0));
        let sum: f32 = t.iter().sum();
        prop_assert!((sum - 1.0).abs() < 1e-5, "sum {}", sum);
        let peak = (age.clamp(lo as f32, hi as f32).round() - lo as f32) as usize;
        let max = t.iter().cloned().fold(0f32, f32::max);
        prop_assert!(t[peak] >= max - 1e-6, "peak {} of {:?}", peak, t);
    }

    #[test]
    fn soft_cross_entropy_of_one_hot_equals_cross_entropy(
        xs in prop::collection::vec(-20f32..20.0, 12),
        classes in prop::collection::vec(0u32..4, 3),
    ) {
        let x = Tensor::from_vec(xs, (3, 4), &DEV).unwrap();
        let mut onehot = vec![0f32; 12];
        for (b, &c) in classes.iter().enumerate() {
            onehot[b * 4 + c as usize] = 1.0;
        }
        let t = Tensor::from_vec(onehot, (3, 4), &DEV).unwrap();
        let c = Tensor::from_vec(classes, 3, &DEV).unwrap();
        let soft = scalar(&soft_cross_entropy(&x, &t).unwrap());
        let hard = scalar(&cross_entropy(&x, &c).unwrap());
        prop_assert!((soft - hard).abs() <= 1e-5 * hard.abs().max(1.0), "{} vs {}", soft, hard);
    }
}

#[test]
fn ldae_target_is_symmetric_around_an_interior_integer_age() {
    let t = ldae_target(50.0, 3.0, 0, 100);
    for k in 1..=50 {
        assert_eq!(t[50 - k], t[50 + k], "offset {k}");
        // Far tails underflow f32 to 0, so only non-increasing holds everywhere.
        assert!(t[50 + k] <= t[50 + k - 1], "increasing at offset {k}");
    }
    assert!(t[60] > 0.0 && t[60] < t[59]);
}

#[test]
fn ldae_target_is_the_normal_mass_of_each_unit_bin() {
    // Phi(0.5) - Phi(-0.5) and Phi(1.5) - Phi(0.5); the range holds ~all the mass.
    let t = ldae_target(50.0, 1.0, 0, 100);
    assert_close(t[50], 0.382_924_922_548, 1e-6);
    assert_close(t[51], 0.241_730_337_457, 1e-6);
    // A half-integer age is split evenly between its neighbours.
    let t = ldae_target(23.5, 0.5, 0, 100);
    assert_close(t[23], f64::from(t[24]), 1e-7);
    assert!(t[23] > 0.45, "{}", t[23]);
}

#[test]
fn ldae_target_clamps_ages_and_degenerates_to_one_hot() {
    let above = ldae_target(120.0, 2.0, 0, 100);
    assert_eq!(argmax_row(&above), 100);
    let below = ldae_target(-5.0, 2.0, 10, 20);
    assert_eq!(argmax_row(&below), 0);
    let onehot = ldae_target(33.4, 0.0, 30, 40);
    assert_eq!(onehot, [0., 0., 0., 1., 0., 0., 0., 0., 0., 0., 0.]);
}

fn argmax_row(row: &[f32]) -> usize {
    (0..row.len()).fold(0, |b, i| if row[i] > row[b] { i } else { b })
}

#[test]
fn head_widths_and_kinds() {
    assert_eq!(classification(0, 100).outputs(), 101);
    assert_eq!(ldae(2.0, 16, 77, false).outputs(), 62);
    assert_eq!(regression(RegressionLoss::L2, &[1.0]).outputs(), 1);
    assert!(classification(0, 100).is_classifier());
    assert!(ldae(2.0, 0, 100, true).is_classifier());
    assert!(!regression(RegressionLoss::L1, &[]).is_classifier());
}

#[test]
fn classification_targets_round_and_clamp() {
    let t = classification(16, 77)
        .targets(&[-3.0, 16.4, 23.6, 150.0], None, &DEV)
        .unwrap();
    assert_eq!(t.to_vec1::<u32>().unwrap(), [0, 0, 8, 61]);
}

#[test]
fn ldae_targets_use_the_per_image_std_floored() {
    let ages = [30.0, 60.0];
    let stds = [0.1, 4.0];
    let with = ldae(2.0, 0, 100, true)
        .targets(&ages, Some(&stds), &DEV)
        .unwrap();
    let with = with.to_vec2::<f32>().unwrap();
    assert_eq!(with[0], ldae_target(30.0, 0.5, 0, 100));
    assert_eq!(with[1], ldae_target(60.0, 4.0, 0, 100));
    let without = ldae(2.0, 0, 100, false)
        .targets(&ages, Some(&stds), &DEV)
        .unwrap();
    assert_eq!(
        without.to_vec2::<f32>().unwrap()[1],
        ldae_target(60.0, 2.0, 0, 100)
    );
    assert!(
        ldae(2.0, 0, 100, true)
            .targets(&ages, Some(&[1.0]), &DEV)
            .is_err()
    );
}

#[test]
fn regression_targets_normalise_and_decode_inverts_them() {
    // mean 35, population std sqrt(125)
    let coder = regression(RegressionLoss::L2, &[20.0, 30.0, 40.0, 50.0]);
    let ages = [10.0, 35.0, 80.0];
    let t = coder.targets(&ages, None, &DEV).unwrap();
    let tv = t.to_vec1::<f32>().unwrap();
    assert_close(tv[0], -25.0 / 125f64.sqrt(), 1e-5);
    assert_close(tv[1], 0.0, 1e-6);
    let decoded = coder.decode(&t.reshape((3, 1)).unwrap()).unwrap();
    assert_eq!(decoded.argmax, None);
    for (got, want) in decoded.expected.iter().zip(ages) {
        assert_close(*got, f64::from(want), 1e-4);
    }
    // One repeated training age: std floored at 1e-3 instead of dividing by zero.
    let flat = regression(RegressionLoss::L1, &[30.0, 30.0]);
    let t = flat
        .targets(&[31.0], None, &DEV)
        .unwrap()
        .to_vec1::<f32>()
        .unwrap();
    assert_close(t[0], 1000.0, 1e-2);
}

#[test]
fn one_hot_logits_decode_to_their_age() {
    for coder in [classification(16, 77), ldae(3.0, 16, 77, false)] {
        let mut row = vec![0f32; 62];
        row[9] = 60.0;
        row.extend(std::iter::repeat_n(0f32, 62));
        row[62 + 61] = 60.0;
        let out = Tensor::from_vec(row, (2, 62), &DEV).unwrap();
        let Decoded { argmax, expected } = coder.decode(&out).unwrap();
        assert_eq!(argmax, Some(vec![25.0, 77.0]));
        assert_close(expected[0], 25.0, 1e-3);
        assert_close(expected[1], 77.0, 1e-3);
    }
    // Uniform logits: the expected age is the middle of the range.
    let flat = Tensor::zeros((1, 62), candle_core::DType::F32, &DEV).unwrap();
    let d = classification(16, 77).decode(&flat).unwrap();
    assert_close(d.expected[0], 46.5, 1e-3);
    assert!(classification(0, 10).decode(&flat).is_err());
}

#[test]
fn cross_entropy_matches_hand_values() {
    let x = Tensor::new(&[[1f32, 2., 3.], [1., 1., 1.]], &DEV).unwrap();
    let c = Tensor::new(&[2u32, 0], &DEV).unwrap();
    // row 0: ln(1 + e^-1 + e^-2); row 1: ln 3
    let want = ((1.0 + (-1f64).exp() + (-2f64).exp()).ln() + 3f64.ln()) / 2.0;
    assert_close(scalar(&cross_entropy(&x, &c).unwrap()), want, 1e-6);
    assert_close(want as f32, 0.753_109_1, 1e-6);
    // The same through a classification coder whose range is 0..=2.
    let coder = classification(0, 2);
    let t = coder.targets(&[2.0, 0.0], None, &DEV).unwrap();
    assert_close(scalar(&coder.loss(&x, &t).unwrap()), want, 1e-6);
    // Huge logits stay finite.
    let big = Tensor::new(&[[1000f32, 0., -1000.]], &DEV).unwrap();
    let c2 = Tensor::new(&[2u32], &DEV).unwrap();
    assert_close(scalar(&cross_entropy(&big, &c2).unwrap()), 2000.0, 1e-3);
}

#[test]
fn soft_cross_entropy_and_ldae_loss_match_hand_values() {
    let rows = [[1f64, 2., 3.], [0.5, -1., 2.]];
    let targets = [[0.2f64, 0.3, 0.5], [0.0, 0.25, 0.75]];
    let want = rows
        .iter()
        .zip(&targets)
        .map(|(r, t)| {
            -log_softmax_ref(r)
                .iter()
                .zip(t)
                .map(|(l, t)| l * t)
                .sum::<f64>()
        })
        .sum::<f64>()
        / 2.0;
    let x = Tensor::new(&[[1f32, 2., 3.], [0.5, -1., 2.]], &DEV).unwrap();
    let t = Tensor::new(&[[0.2f32, 0.3, 0.5], [0.0, 0.25, 0.75]], &DEV).unwrap();
    assert_close(scalar(&soft_cross_entropy(&x, &t).unwrap()), want, 1e-6);

    // LDAE over 0..=2, sigma 1, age 1: masses Phi(1.5)-Phi(0.5), Phi(0.5)-Phi(-0.5), ...
    let coder = ldae(1.0, 0, 2, false);
    let t = coder.targets(&[1.0], None, &DEV).unwrap();
    let (side, mid) = (0.241_730_337_457, 0.382_924_922_548);
    let tt = [
        side / (mid + 2.0 * side),
        mid / (mid + 2.0 * side),
        side / (mid + 2.0 * side),
    ];
    for (got, want) in t.to_vec2::<f32>().unwrap()[0].iter().zip(tt) {
        assert_close(*got, want, 1e-6);
    }
    let x = Tensor::new(&[[1f32, 2., 3.]], &DEV).unwrap();
    let ls = log_softmax_ref(&rows[0]);
    let want: f64 = -ls.iter().zip(tt).map(|(l, t)| l * t).sum::<f64>();
    assert_close(scalar(&coder.loss(&x, &t).unwrap()), want, 1e-5);
}

#[test]
fn regression_losses_match_hand_values() {
    // mean 30, std 10: ages 25 and 50 become -0.5 and 2.0
    let out = Tensor::new(&[[0f32], [1.]], &DEV).unwrap();
    let l2 = regression(RegressionLoss::L2, &[20.0, 40.0]);
    let t = l2.targets(&[25.0, 50.0], None, &DEV).unwrap();
    assert_close(
        scalar(&l2.loss(&out, &t).unwrap()),
        (0.25 + 1.0) / 2.0,
        1e-6,
    );
    let l1 = regression(RegressionLoss::L1, &[20.0, 40.0]);
    assert_close(scalar(&l1.loss(&out, &t).unwrap()), (0.5 + 1.0) / 2.0, 1e-6);
    assert!(l1.loss(&Tensor::new(&[[0f32]], &DEV).unwrap(), &t).is_err());
}

#[test]
fn empty_batches_and_bad_shapes_are_errors() {
    let x = Tensor::zeros((0, 3), candle_core::DType::F32, &DEV).unwrap();
    let c = Tensor::zeros(0, candle_core::DType::U32, &DEV).unwrap();
    assert!(cross_entropy(&x, &c).is_err());
    assert!(soft_cross_entropy(&x, &x).is_err());
    let x = Tensor::zeros((2, 3), candle_core::DType::F32, &DEV).unwrap();
    assert!(cross_entropy(&x, &Tensor::new(&[0u32], &DEV).unwrap()).is_err());
    assert!(
        soft_cross_entropy(
            &x,
            &Tensor::zeros((2, 4), candle_core::DType::F32, &DEV).unwrap()
        )
        .is_err()
    );
}

/// Compares the autograd gradient of `loss` at `x` with central differences.
fn check_gradient(x: &[f32], shape: (usize, usize), loss: impl Fn(&Tensor) -> Result<Tensor>) {
    let var = Var::from_vec(x.to_vec(), shape, &DEV).unwrap();
    let grads = loss(var.as_tensor()).unwrap().backward().unwrap();
    let g = grads
        .get(var.as_tensor())
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap();
    let eps = 1e-3;
    for i in 0..x.len() {
        let at = |d: f32| {
            let mut y = x.to_vec();
            y[i] += d;
            scalar(&loss(&Tensor::from_vec(y, shape, &DEV).unwrap()).unwrap())
        };
        let fd = (at(eps) - at(-eps)) / (2.0 * eps);
        assert!(
            (g[i] - fd).abs() <= 1e-2 * fd.abs() + 2e-3,
            "entry {i}: autograd {} vs finite difference {fd}",
            g[i]
        );
    }
}

#[test]
fn gradients_match_finite_differences() {
    let x = logits(12, 1.5);
    let classes = Tensor::new(&[0u32, 3, 1], &DEV).unwrap();
    check_gradient(&x, (3, 4), |l| cross_entropy(l, &classes));

    let t = Tensor::new(
        &[[0.1f32, 0.2, 0.3, 0.4], [1.0, 0., 0., 0.], [0.25; 4]],
        &DEV,
    )
    .unwrap();
    check_gradient(&x, (3, 4), |l| soft_cross_entropy(l, &t));

    let coder = classification(20, 30);
    let t = coder.targets(&[21.0, 29.0], None, &DEV).unwrap();
    check_gradient(&logits(22, 2.0), (2, 11), |l| coder.loss(l, &t));

    let coder = ldae(2.0, 20, 30, false);
    let t = coder.targets(&[21.0, 26.3], None, &DEV).unwrap();
    check_gradient(&logits(22, 2.0), (2, 11), |l| coder.loss(l, &t));

    // Outputs kept well away from the targets so L1 is differentiable at every probe.
    let out = [1.5f32, -2.0, 0.7];
    for loss in [RegressionLoss::L2, RegressionLoss::L1] {
        let coder = regression(loss, &[20.0, 40.0]);
        let t = coder.targets(&[25.0, 50.0, 30.0], None, &DEV).unwrap();
        check_gradient(&out, (3, 1), |l| coder.loss(l, &t));
    }
}

#[test]
fn soft_cross_entropy_gradient_is_softmax_minus_target_over_batch() {
    let rows = [[0.3f64, -1.2, 2.0], [4.0, 4.0, -3.0]];
    let t = [[0.1f64, 0.6, 0.3], [0.0, 0.0, 1.0]];
    let var = Var::new(&[[0.3f32, -1.2, 2.0], [4.0, 4.0, -3.0]], &DEV).unwrap();
    let tt = Tensor::new(&[[0.1f32, 0.6, 0.3], [0.0, 0.0, 1.0]], &DEV).unwrap();
    let grads = soft_cross_entropy(var.as_tensor(), &tt)
        .unwrap()
        .backward()
        .unwrap();
    let g = grads
        .get(var.as_tensor())
        .unwrap()
        .to_vec2::<f32>()
        .unwrap();
    for b in 0..2 {
        let p: Vec<f64> = log_softmax_ref(&rows[b]).iter().map(|l| l.exp()).collect();
        for c in 0..3 {
            assert_close(g[b][c], (p[c] - t[b][c]) / 2.0, 1e-6);
        }
    }
}
