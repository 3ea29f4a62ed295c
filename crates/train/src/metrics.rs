//! Evaluation metrics of one trial's predictions: age (MAE, cumulative score CS(θ),
//! the ChaLearn LAP ε-error, MAE per age decade) and classification (accuracy, per
//! class, majority baseline), plus the diagnostics that reveal a collapsed model
//! (spread of age predictions, number of distinct predicted classes).
//!
//! Metrics are reported as JSON, and serde_json writes NaN as `null`, which does not
//! read back into an f64. So empty inputs give n = 0 with every metric 0 rather than
//! NaN; a reader must check `n` before trusting a value.

use std::collections::BTreeMap;

pub use ablate_protocol::metrics::{AgeMetrics, ClassMetrics};
use candle_core::{D, Result, Tensor};

/// Largest θ (in years) of the cumulative score.
const CS_MAX_THETA: usize = 10;

/// Age decades of `per_bin_mae`; the last bin is open-ended.
const AGE_BINS: usize = 10;

/// Age metrics of `predicted` against `truth` (and, for the ε-error, the per-image
/// std of the apparent-age votes). The slices should have equal lengths; extra
/// entries of the longer one are ignored. A σ of 0 counts an exact hit as error 0
/// and anything else as 1, the limit of the formula.
pub fn age_metrics(predicted: &[f32], truth: &[f32], truth_std: Option<&[f32]>) -> AgeMetrics {
    debug_assert_eq!(predicted.len(), truth.len(), "one prediction per true age");
    let n = predicted.len().min(truth.len());
    let pred: Vec<f64> = predicted[..n].iter().map(|&p| f64::from(p)).collect();
    let true_ages: Vec<f64> = truth[..n].iter().map(|&t| f64::from(t)).collect();
    let errors: Vec<f64> = pred
        .iter()
        .zip(&true_ages)
        .map(|(p, t)| (p - t).abs())
        .collect();

    let cs = (0..=CS_MAX_THETA)
        .map(|theta| share(errors.iter().filter(|&&e| e <= theta as f64).count(), n))
        .collect();

    let epsilon_error = truth_std.map(|stds| {
        debug_assert_eq!(stds.len(), truth.len(), "one std per true age");
        let eps: Vec<f64> = errors
            .iter()
            .zip(stds)
            .map(|(&e, &s)| {
                let s = f64::from(s);
                if s > 0.0 {
                    1.0 - (-(e * e) / (2.0 * s * s)).exp()
                } else if e == 0.0 {
                    0.0
                } else {
                    1.0
                }
            })
            .collect();
        mean(&eps)
    });

    let mut bins: BTreeMap<usize, (f64, usize)> = BTreeMap::new();
    for (&t, &e) in true_ages.iter().zip(&errors) {
        // Negative (or NaN) ages land in the first bin, 90 and over in the last.
        let bin = ((t / 10.0).floor().max(0.0) as usize).min(AGE_BINS - 1);
        let entry = bins.entry(bin).or_insert((0.0, 0));
        entry.0 += e;
        entry.1 += 1;
    }
    let per_bin_mae = bins
        .into_iter()
        .map(|(bin, (sum, count))| (bin_label(bin), sum / count as f64, count))
        .collect();

    let prediction_mean = mean(&pred);
    let prediction_var = mean(
        &pred
            .iter()
            .map(|p| (p - prediction_mean).powi(2))
            .collect::<Vec<_>>(),
    );

    AgeMetrics {
        n,
        mae: mean(&errors),
        cs,
        epsilon_error,
        per_bin_mae,
        prediction_mean,
        prediction_std: prediction_var.sqrt(),
    }
}

/// MAE of always predicting `constant` (e.g. the training mean): the baseline a real
/// model must beat. 0 for no images.
pub fn constant_mae(constant: f32, truth: &[f32]) -> f64 {
    let c = f64::from(constant);
    mean(
        &truth
            .iter()
            .map(|&t| (f64::from(t) - c).abs())
            .collect::<Vec<_>>(),
    )
}

/// Classification metrics of `predicted` against `truth`. The slices should have
/// equal lengths; extra entries of the longer one are ignored. Empty inputs give
/// n = 0, all rates 0 and no classes.
pub fn class_metrics(predicted: &[u32], truth: &[u32]) -> ClassMetrics {
    debug_assert_eq!(predicted.len(), truth.len(), "one prediction per label");
    let n = predicted.len().min(truth.len());
    let mut per: BTreeMap<u32, (usize, usize)> = BTreeMap::new();
    let mut correct = 0;
    for (&p, &t) in predicted.iter().zip(truth) {
        let entry = per.entry(t).or_insert((0, 0));
        entry.1 += 1;
        if p == t {
            entry.0 += 1;
            correct += 1;
        }
    }
    let majority = per.values().map(|&(_, count)| count).max().unwrap_or(0);
    let mut predicted_classes: Vec<u32> = predicted[..n].to_vec();
    predicted_classes.sort_unstable();
    predicted_classes.dedup();
    ClassMetrics {
        n,
        accuracy: share(correct, n),
        per_class: per
            .into_iter()
            .map(|(class, (hit, count))| (class, share(hit, count), count))
            .collect(),
        majority_rate: share(majority, n),
        distinct_predictions: predicted_classes.len(),
    }
}

/// Top-1 predictions (argmax over the last dim) of logits (B, C) as u32. An empty
/// batch gives no predictions; zero classes (C = 0) is an error.
pub fn argmax(logits: &Tensor) -> Result<Vec<u32>> {
    let Some((_, lead)) = logits.dims().split_last() else {
        candle_core::bail!("argmax of a scalar");
    };
    // candle's reduction rejects empty tensors even when there is no row to reduce.
    if lead.contains(&0) {
        return Ok(Vec::new());
    }
    logits.argmax(D::Minus1)?.flatten_all()?.to_vec1::<u32>()
}

fn bin_label(bin: usize) -> String {
    if bin + 1 == AGE_BINS {
        format!("{}+", bin * 10)
    } else {
        format!("{}-{}", bin * 10, bin * 10 + 9)
    }
}

/// `part / whole`, 0 for an empty whole (see the module doc for why not NaN).
fn share(part: usize, whole: usize) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

/// Mean, 0 for no values (see the module doc for why not NaN).
fn mean(xs: &[f64]) -> f64 {
    if xs.is_empty() {
        0.0
    } else {
        xs.iter().sum::<f64>() / xs.len() as f64
    }
}
