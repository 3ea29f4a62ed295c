//! Age encodings: how a trial's [`Encoding`] turns ages into training targets, which
//! loss compares the age head's output with them, and how that output is read back
//! as ages. Also the plain cross-entropy losses every classification head uses.
//!
//! Everything is computed in f32 through a max-shifted log-softmax, so large logits
//! neither overflow nor lose their gradient.

use candle_core::{D, DType, Device, Result, Tensor, bail};

use ablate_spec::types::{Encoding, RegressionLoss};

/// Floor of the regression std, so a training set of one repeated age still gives
/// finite targets.
const MIN_TRAIN_STD: f32 = 1e-3;

/// Floor of a per-image LDAE sigma: annotators sometimes agree exactly (std 0), and a
/// zero-width Gaussian would turn LDAE back into plain classification for that image.
const MIN_IMAGE_SIGMA: f32 = 0.5;

#[derive(Debug, Clone)]
enum Kind {
    Classification {
        age_min: u32,
        age_max: u32,
    },
    Regression {
        loss: RegressionLoss,
        mean: f32,
        std: f32,
    },
    Ldae {
        sigma: f32,
        age_min: u32,
        age_max: u32,
        use_age_std: bool,
    },
}

/// How ages become targets and network outputs become ages.
#[derive(Debug, Clone)]
pub struct AgeCoder {
    kind: Kind,
}

/// Ages read from an age head's output, one per image.
#[derive(Debug, Clone, PartialEq)]
pub struct Decoded {
    /// Age of the most probable class; None for regression, which has no classes.
    pub argmax: Option<Vec<f32>>,
    /// Softmax-weighted mean age for classifiers; the de-normalised output for regression.
    pub expected: Vec<f32>,
}

impl AgeCoder {
    /// `train_ages`: ages of the training images (regression normalises by their mean
    /// and population std; std floored at 1e-3). With no training ages the regression
    /// target is the raw age (mean 0, std 1).
    pub fn new(encoding: &Encoding, train_ages: &[f32]) -> Self {
        let kind = match *encoding {
            Encoding::Classification { age_min, age_max } => {
                Kind::Classification { age_min, age_max }
            }
            Encoding::Regression { loss } => {
                let (mean, std) = mean_std(train_ages);
                Kind::Regression {
                    loss,
                    mean,
                    std: std.max(MIN_TRAIN_STD),
                }
            }
            Encoding::Ldae {
                sigma,
                age_min,
                age_max,
                use_age_std,
            } => Kind::Ldae {
                sigma: sigma as f32,
                age_min,
                age_max,
                use_age_std,
            },
        };
        Self { kind }
    }

    /// Width of the age head: age_max - age_min + 1 for classifiers, 1 for regression.
    pub fn outputs(&self) -> usize {
        match self.kind {
            Kind::Classification { age_min, age_max }
            | Kind::Ldae {
                age_min, age_max, ..
            } => age_max.saturating_sub(age_min) as usize + 1,
            Kind::Regression { .. } => 1,
        }
    }

    /// True for classification and LDAE (these report both ArgMax and Expected-value read-outs).
    pub fn is_classifier(&self) -> bool {
        !matches!(self.kind, Kind::Regression { .. })
    }

    /// Targets for a batch. Classification: u32 class indices, shape (B,): the age is
    /// rounded to the nearest integer (apparent ages are fractional) and clamped into
    /// the range. LDAE: f32 (B, K) rows summing to 1. Regression: f32 (B,) normalised
    /// ages. `age_std` is only read by LDAE with `use_age_std`, and must then have one
    /// entry per age.
    pub fn targets(
        &self,
        ages: &[f32],
        age_std: Option<&[f32]>,
        device: &Device,
    ) -> Result<Tensor> {
        match self.kind {
            Kind::Classification { age_min, age_max } => {
                let classes: Vec<u32> = ages
                    .iter()
                    .map(|&a| clamp_index(a.round(), age_min, age_max) as u32)
                    .collect();
                Tensor::from_vec(classes, ages.len(), device)
            }
            Kind::Regression { mean, std, .. } => {
                let t: Vec<f32> = ages.iter().map(|&a| (a - mean) / std).collect();
                Tensor::from_vec(t, ages.len(), device)
            }
            Kind::Ldae {
                sigma,
                age_min,
                age_max,
                use_age_std,
            } => {
                let stds = match age_std {
                    Some(s) if use_age_std => {
                        if s.len() != ages.len() {
                            bail!("{} ages but {} age stds", ages.len(), s.len());
                        }
                        Some(s)
                    }
                    _ => None,
                };
                let k = self.outputs();
                let mut t = Vec::with_capacity(ages.len() * k);
                for (i, &age) in ages.iter().enumerate() {
                    let s = stds.map_or(sigma, |s| s[i].max(MIN_IMAGE_SIGMA));
                    t.extend(ldae_target(age, s, age_min, age_max));
                }
                Tensor::from_vec(t, (ages.len(), k), device)
            }
        }
    }

    /// Scalar mean loss over the batch; `output` is the head's raw output (B, K)
    /// (regression: (B, 1) or (B,)). Regression L2 is the mean squared error (no
    /// factor 1/2), L1 the mean absolute error, both in normalised units. An empty
    /// batch is an error.
    pub fn loss(&self, output: &Tensor, targets: &Tensor) -> Result<Tensor> {
        match self.kind {
            Kind::Classification { .. } => cross_entropy(output, targets),
            Kind::Ldae { .. } => soft_cross_entropy(output, targets),
            Kind::Regression { loss, .. } => {
                let b = batch_of(targets)?;
                if output.elem_count() != b {
                    bail!("regression output {:?} for {b} targets", output.dims());
                }
                let diff = (output.reshape(b)? - targets.to_dtype(output.dtype())?)?;
                match loss {
                    RegressionLoss::L2 => diff.sqr()?.mean_all(),
                    RegressionLoss::L1 => diff.abs()?.mean_all(),
                }
            }
        }
    }

    /// Ages read from the head's output. Classifiers: `argmax` = the age of the most
    /// probable class, `expected` = sum_i p_i * age_i (softmax probabilities).
    /// Regression: `argmax` = None, `expected` = de-normalised output.
    pub fn decode(&self, output: &Tensor) -> Result<Decoded> {
        match self.kind {
            Kind::Regression { mean, std, .. } => {
                let out = output
                    .to_dtype(DType::F32)?
                    .flatten_all()?
                    .to_vec1::<f32>()?;
                Ok(Decoded {
                    argmax: None,
                    expected: out.iter().map(|&o| o * std + mean).collect(),
                })
            }
            Kind::Classification { age_min, .. } | Kind::Ldae { age_min, .. } => {
                if output.rank() != 2 || output.dim(1)? != self.outputs() {
                    bail!(
                        "age head output {:?}, expected (B, {})",
                        output.dims(),
                        self.outputs()
                    );
                }
                let probs = log_softmax(&output.to_dtype(DType::F32)?)?
                    .exp()?
                    .to_vec2::<f32>()?;
                let mut argmax = Vec::with_capacity(probs.len());
                let mut expected = Vec::with_capacity(probs.len());
                for row in &probs {
                    let mut best = 0;
                    let mut mean = 0f64;
                    for (i, &p) in row.iter().enumerate() {
                        if p > row[best] {
                            best = i;
                        }
                        mean += f64::from(p) * f64::from(age_min + i as u32);
                    }
                    argmax.push((age_min + best as u32) as f32);
                    expected.push(mean as f32);
                }
                Ok(Decoded {
                    argmax: Some(argmax),
                    expected,
                })
            }
        }
    }
}

/// The LDAE target of one age: a Gaussian N(age, sigma^2) discretised on the integer
/// ages age_min..=age_max, normalised to sum to 1. Ages outside the range are clamped
/// into it first; a sigma that is not positive gives the one-hot target (the limit).
///
/// Each entry is the probability mass of [a-0.5, a+0.5], not the density at a: with
/// sigma near the 0.5 floor the density would sample a curve narrower than the bins
/// and put almost all weight on one age even for a mean between two, while the mass
/// splits a fractional apparent age (23.5) between its neighbours as it should.
pub fn ldae_target(age: f32, sigma: f32, age_min: u32, age_max: u32) -> Vec<f32> {
    let k = age_max.saturating_sub(age_min) as usize + 1;
    let mu = f64::from(age.clamp(age_min as f32, age_max.max(age_min) as f32));
    let sigma = f64::from(sigma);
    if sigma.is_nan() || sigma <= 0.0 {
        let mut t = vec![0.0; k];
        t[clamp_index(mu.round() as f32, age_min, age_max)] = 1.0;
        return t;
    }
    let mass: Vec<f64> = (0..k)
        .map(|i| {
            let a = f64::from(age_min) + i as f64;
            bin_mass((a - 0.5 - mu) / sigma, (a + 0.5 - mu) / sigma)
        })
        .collect();
    // The clamped mean lies inside [age_min - 0.5, age_max + 0.5], so at least half
    // the mass is in range; only a sigma so huge that every bin rounds to zero mass
    // leaves nothing, and its limit is the uniform target.
    let total: f64 = mass.iter().sum();
    if !(total.is_finite() && total > 0.0) {
        return vec![1.0 / k as f32; k];
    }
    mass.iter().map(|m| (m / total) as f32).collect()
}

/// Cross-entropy of logits (B, C) against u32 class indices (B,): mean over the batch.
/// (Used for gender, identity and general heads too.) An empty batch is an error.
pub fn cross_entropy(logits: &Tensor, classes: &Tensor) -> Result<Tensor> {
    let b = batch_of(classes)?;
    if logits.rank() != 2 || logits.dim(0)? != b {
        bail!("logits {:?} for {b} class indices", logits.dims());
    }
    let picked = log_softmax(logits)?.gather(&classes.to_dtype(DType::U32)?.unsqueeze(1)?, 1)?;
    picked.sum_all()?.affine(-1.0 / b as f64, 0.0)
}

/// Cross-entropy against soft targets (B, C): mean over the batch of
/// -sum_c t_c log softmax(x)_c. An empty batch is an error.
pub fn soft_cross_entropy(logits: &Tensor, targets: &Tensor) -> Result<Tensor> {
    if logits.rank() != 2 || logits.dims() != targets.dims() {
        bail!(
            "logits {:?} against targets {:?}",
            logits.dims(),
            targets.dims()
        );
    }
    let b = logits.dim(0)?;
    if b == 0 {
        bail!("loss of an empty batch");
    }
    let t = targets.to_dtype(logits.dtype())?;
    (log_softmax(logits)? * t)?
        .sum_all()?
        .affine(-1.0 / b as f64, 0.0)
}

/// Log-softmax over the last dim. The max is detached: the result does not depend on
/// it, and leaving it attached would route gradient through max's tie-breaking mask.
fn log_softmax(x: &Tensor) -> Result<Tensor> {
    let shifted = x.broadcast_sub(&x.max_keepdim(D::Minus1)?.detach())?;
    let lse = shifted.exp()?.sum_keepdim(D::Minus1)?.log()?;
    shifted.broadcast_sub(&lse)
}

/// Batch size of a (B,) target tensor, rejecting empty batches (a mean over nothing).
fn batch_of(targets: &Tensor) -> Result<usize> {
    if targets.rank() != 1 {
        bail!("targets should be (B,), got {:?}", targets.dims());
    }
    let b = targets.dim(0)?;
    if b == 0 {
        bail!("loss of an empty batch");
    }
    Ok(b)
}

/// Index of an (integer-valued) age in age_min..=age_max after clamping.
fn clamp_index(age: f32, age_min: u32, age_max: u32) -> usize {
    let hi = age_max.saturating_sub(age_min) as f32;
    // `as usize` maps NaN to 0, so a missing age cannot index out of range.
    (age - age_min as f32).clamp(0.0, hi) as usize
}

fn mean_std(xs: &[f32]) -> (f32, f32) {
    if xs.is_empty() {
        return (0.0, 1.0);
    }
    let n = xs.len() as f64;
    let mean = xs.iter().map(|&x| f64::from(x)).sum::<f64>() / n;
    let var = xs
        .iter()
        .map(|&x| (f64::from(x) - mean).powi(2))
        .sum::<f64>()
        / n;
    (mean as f32, var.sqrt() as f32)
}

/// Standard normal mass of [lo, hi]. Each side of zero is taken from the upper tail
/// so far-tail bins keep their (tiny) relative accuracy instead of cancelling to 0,
/// and bins mirrored around the mean get bit-identical masses.
fn bin_mass(lo: f64, hi: f64) -> f64 {
    let m = if lo >= 0.0 {
        upper_tail(lo) - upper_tail(hi)
    } else if hi <= 0.0 {
        upper_tail(-hi) - upper_tail(-lo)
    } else {
        1.0 - upper_tail(-lo) - upper_tail(hi)
    };
    m.max(0.0)
}

/// P(Z > z) for z >= 0.
fn upper_tail(z: f64) -> f64 {
    0.5 * erfc(z / std::f64::consts::SQRT_2)
}

/// Complementary error function for x >= 0 (Numerical Recipes `erfcc`, a Chebyshev
/// fit with fractional error below 1.2e-7 everywhere, so it stays accurate in the
/// tails where 1 - erf would cancel).
fn erfc(x: f64) -> f64 {
    let t = 1.0 / (1.0 + 0.5 * x);
    let poly = -x * x - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98
                                + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    t * poly.exp()
}
