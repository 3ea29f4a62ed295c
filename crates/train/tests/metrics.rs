#![allow(clippy::unwrap_used)]
//! Age and classification metrics against hand-computed examples.

use ablate_train::metrics::{AgeMetrics, age_metrics, argmax, class_metrics, constant_mae};
use candle_core::{Device, Tensor};

fn close(got: f64, want: f64) -> bool {
    (got - want).abs() <= 1e-9
}

#[test]
fn mae_and_cumulative_scores() {
    // errors 0, 2, 5, 15
    let m = age_metrics(&[10.0, 12.0, 20.0, 35.0], &[10.0, 10.0, 25.0, 20.0], None);
    assert_eq!(m.n, 4);
    assert!(close(m.mae, 5.5), "{}", m.mae);
    let want = [
        0.25, 0.25, 0.5, 0.5, 0.5, 0.75, 0.75, 0.75, 0.75, 0.75, 0.75,
    ];
    assert_eq!(m.cs, want);
    assert_eq!(m.epsilon_error, None);
    assert!(close(m.prediction_mean, 19.25));
    let var = [10.0f64, 12.0, 20.0, 35.0]
        .iter()
        .map(|p| (p - 19.25).powi(2))
        .sum::<f64>()
        / 4.0;
    assert!(close(m.prediction_std, var.sqrt()));
}

#[test]
fn cumulative_score_is_monotone_and_at_most_one() {
    let truth: Vec<f32> = (0..50).map(|i| i as f32 * 1.9).collect();
    let pred: Vec<f32> = (0..50)
        .map(|i| (i as f32 * 7.3).sin() * 14.0 + i as f32 * 1.9)
        .collect();
    let m = age_metrics(&pred, &truth, None);
    assert_eq!(m.cs.len(), 11);
    assert!(m.cs.windows(2).all(|w| w[0] <= w[1]), "{:?}", m.cs);
    // Image 0 is hit exactly; some errors exceed 10 years.
    assert!(m.cs[0] > 0.0 && m.cs[10] < 1.0, "{:?}", m.cs);
    let perfect = age_metrics(&truth, &truth, None);
    assert!(perfect.cs.iter().all(|&c| c == 1.0));
    assert_eq!(perfect.mae, 0.0);
}

#[test]
fn epsilon_error() {
    let perfect = age_metrics(&[20.0, 41.5], &[20.0, 41.5], Some(&[3.0, 5.0]));
    assert_eq!(perfect.epsilon_error, Some(0.0));
    // 1 - exp(-10² / (2·10²)) for the first image, 0 for the second
    let m = age_metrics(&[30.0, 50.0], &[20.0, 50.0], Some(&[10.0, 2.0]));
    let want = (1.0 - (-0.5f64).exp()) / 2.0;
    assert!(
        close(m.epsilon_error.unwrap(), want),
        "{:?}",
        m.epsilon_error
    );
    // σ = 0: an exact hit costs 0, a miss the full 1.
    let m = age_metrics(&[30.0, 50.0], &[30.0, 51.0], Some(&[0.0, 0.0]));
    assert_eq!(m.epsilon_error, Some(0.5));
}

#[test]
fn mae_per_decade_of_true_age() {
    let truth = [5.0, 9.0, 15.0, 95.0, 120.0];
    let pred = [6.0, 5.0, 15.0, 90.0, 100.0];
    let m = age_metrics(&pred, &truth, None);
    let want = vec![
        ("0-9".to_string(), 2.5, 2),
        ("10-19".to_string(), 0.0, 1),
        ("90+".to_string(), 12.5, 2),
    ];
    assert_eq!(m.per_bin_mae, want);
    let edges = age_metrics(&[0.0, 0.0], &[19.9, 20.0], None);
    let labels: Vec<&str> = edges.per_bin_mae.iter().map(|b| b.0.as_str()).collect();
    assert_eq!(labels, ["10-19", "20-29"]);
}

#[test]
fn constant_baseline() {
    assert!(close(constant_mae(20.0, &[10.0, 20.0, 30.0]), 20.0 / 3.0));
    let m = age_metrics(&[20.0; 3], &[10.0, 20.0, 30.0], None);
    assert!(close(m.mae, constant_mae(20.0, &[10.0, 20.0, 30.0])));
    assert_eq!(m.prediction_std, 0.0, "a constant predictor is collapsed");
}

#[test]
fn class_metrics_accuracy_majority_and_spread() {
    let m = class_metrics(&[0, 0, 1, 1, 0, 2], &[0, 1, 1, 1, 0, 0]);
    assert_eq!(m.n, 6);
    assert!(close(m.accuracy, 4.0 / 6.0));
    assert_eq!(m.per_class, vec![(0, 2.0 / 3.0, 3), (1, 2.0 / 3.0, 3)]);
    assert!(close(m.majority_rate, 0.5));
    assert_eq!(m.distinct_predictions, 3);

    let collapsed = class_metrics(&[1, 1, 1, 1], &[1, 0, 1, 1]);
    assert_eq!(collapsed.distinct_predictions, 1);
    assert!(close(collapsed.accuracy, collapsed.majority_rate));
    assert_eq!(collapsed.per_class, vec![(0, 0.0, 1), (1, 1.0, 3)]);
}

#[test]
fn argmax_of_logits() {
    let x = Tensor::new(&[[0.1f32, 0.9, 0.0], [3.0, 1.0, 2.0]], &Device::Cpu).unwrap();
    assert_eq!(argmax(&x).unwrap(), [1, 0]);
    let empty = Tensor::zeros((0, 3), candle_core::DType::F32, &Device::Cpu).unwrap();
    assert_eq!(argmax(&empty).unwrap(), Vec::<u32>::new());
}

#[test]
fn empty_inputs_give_zeros_that_survive_json() {
    let m = age_metrics(&[], &[], Some(&[]));
    let want = AgeMetrics {
        n: 0,
        mae: 0.0,
        cs: vec![0.0; 11],
        epsilon_error: Some(0.0),
        per_bin_mae: vec![],
        prediction_mean: 0.0,
        prediction_std: 0.0,
    };
    assert_eq!(m, want);
    let back: AgeMetrics = serde_json::from_str(&serde_json::to_string(&m).unwrap()).unwrap();
    assert_eq!(back, m);
    assert_eq!(age_metrics(&[], &[], None).epsilon_error, None);
    assert_eq!(constant_mae(30.0, &[]), 0.0);

    let c = class_metrics(&[], &[]);
    assert_eq!((c.n, c.accuracy, c.majority_rate), (0, 0.0, 0.0));
    assert!(c.per_class.is_empty());
    assert_eq!(c.distinct_predictions, 0);
}
