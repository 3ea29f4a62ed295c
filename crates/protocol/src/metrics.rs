//! The metrics a result carries, as data; `ablate-train` computes them.
//!
//! serde_json writes NaN as `null`, which does not read back into an f64, so empty
//! inputs give n = 0 with every metric 0 rather than NaN; a reader must check `n`
//! before trusting a value.

use ablate_spec::Metric;
use serde::{Deserialize, Serialize};

/// Age metrics of predictions against true ages.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgeMetrics {
    /// Number of images scored.
    pub n: usize,
    /// Mean absolute error in years.
    pub mae: f64,
    /// CS(θ) for θ = 0..=10: share of images with |error| <= θ years.
    pub cs: Vec<f64>,
    /// ChaLearn LAP ε-error: mean of 1 - exp(-(x-μ)²/(2σ²)), where the data has
    /// per-image σ (age_std); None otherwise.
    pub epsilon_error: Option<f64>,
    /// MAE per 10-year true-age bin ("0-9", ..., "90+"): (bin, mae, count), bins with
    /// no image left out.
    pub per_bin_mae: Vec<(String, f64, usize)>,
    /// Mean of the predictions.
    pub prediction_mean: f64,
    /// Population std of the predictions (a collapsed model has std near 0).
    pub prediction_std: f64,
}

/// Classification metrics of predicted against true classes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassMetrics {
    /// Number of examples scored.
    pub n: usize,
    /// Share of examples predicted correctly.
    pub accuracy: f64,
    /// Accuracy within each true class: (class, accuracy, count), classes with no
    /// example left out.
    pub per_class: Vec<(u32, f64, usize)>,
    /// Share of the most frequent true class (the accuracy of always guessing it).
    pub majority_rate: f64,
    /// How many distinct classes were predicted (1 = collapsed).
    pub distinct_predictions: usize,
}

/// Where metric `m` sits in a `finished` event's result (a JSON pointer into
/// [`crate::TrialResult`]'s form): the one place a metric meets the result's
/// layout.
pub fn pointer(m: Metric) -> &'static str {
    match m {
        Metric::GenderAccuracy => "/test/gender/accuracy",
        Metric::AgeMae => "/test/age/expected/mae",
        Metric::AgeMaeArgmax => "/test/age/argmax/mae",
        Metric::AgeCs5 => "/test/age/expected/cs/5",
        Metric::AgeEpsilon => "/test/age/expected/epsilon_error",
        Metric::IdentityAccuracy => "/test/identity/accuracy",
        Metric::GeneralAccuracy => "/test/general/accuracy",
    }
}
