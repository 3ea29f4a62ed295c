//! The tests behind verdicts: Welch's t-test with its confidence interval, the
//! two one-sided tests (TOST) for equivalence, Hedges' g, Holm's step-down
//! adjustment and the seeds per arm a test would need. Distributions are statrs';
//! every function is checked against scipy/statsmodels in tests/reference.rs.

use statrs::distribution::{ContinuousCDF, Normal, StudentsT};

/// Mean and sample standard deviation (n - 1; 0 for a single value).
pub fn mean_sd(xs: &[f64]) -> (f64, f64) {
    if xs.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    let var = if xs.len() > 1 {
        xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0)
    } else {
        0.0
    };
    (mean, var.sqrt())
}

/// Welch's two-sample comparison of `a` against `b`.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Welch {
    /// mean(a) - mean(b).
    pub diff: f64,
    pub se: f64,
    pub t: f64,
    pub df: f64,
    /// Two-sided p.
    pub p: f64,
    /// 95% (or `1 - alpha`) confidence interval of `diff`.
    pub ci: (f64, f64),
    /// Hedges' g: `diff` over the pooled standard deviation, small-sample corrected.
    pub g: f64,
    pub pooled_sd: f64,
    pub n: (usize, usize),
}

/// Why a comparison cannot be computed.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub enum Untestable {
    /// Fewer than 2 values on a side.
    TooFew { a: usize, b: usize },
    /// Neither side varies: no spread to test against.
    NoSpread,
}

impl std::fmt::Display for Untestable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Untestable::TooFew { a, b } => {
                write!(
                    f,
                    "needs at least 2 finished seeds per arm (has {a} and {b})"
                )
            }
            Untestable::NoSpread => write!(f, "no seed-to-seed spread in either arm"),
        }
    }
}

fn student(df: f64) -> StudentsT {
    // Callers give df > 0 (n >= 2 with some spread, or 2n - 2 >= 2).
    match StudentsT::new(0.0, 1.0, df) {
        Ok(d) => d,
        Err(_) => StudentsT::new(0.0, 1.0, 1.0).expect("df = 1 is a valid Student's t"),
    }
}

/// Welch's t-test of `a` against `b`, with a `1 - alpha` interval.
pub fn welch(a: &[f64], b: &[f64], alpha: f64) -> Result<Welch, Untestable> {
    if a.len() < 2 || b.len() < 2 {
        return Err(Untestable::TooFew {
            a: a.len(),
            b: b.len(),
        });
    }
    let ((ma, sa), (mb, sb)) = (mean_sd(a), mean_sd(b));
    let (na, nb) = (a.len() as f64, b.len() as f64);
    let (va, vb) = (sa * sa / na, sb * sb / nb);
    if va + vb <= 0.0 || !(va + vb).is_finite() {
        return Err(Untestable::NoSpread);
    }
    let se = (va + vb).sqrt();
    let diff = ma - mb;
    let t = diff / se;
    let df = (va + vb).powi(2) / (va * va / (na - 1.0) + vb * vb / (nb - 1.0));
    let dist = student(df);
    let p = (2.0 * (1.0 - dist.cdf(t.abs()))).clamp(0.0, 1.0);
    let q = dist.inverse_cdf(1.0 - alpha / 2.0);
    let pooled_sd = (((na - 1.0) * sa * sa + (nb - 1.0) * sb * sb) / (na + nb - 2.0)).sqrt();
    // Hedges' correction J = 1 - 3 / (4 (n_a + n_b) - 9).
    let j = 1.0 - 3.0 / (4.0 * (na + nb) - 9.0);
    let g = if pooled_sd > 0.0 {
        diff / pooled_sd * j
    } else {
        0.0
    };
    Ok(Welch {
        diff,
        se,
        t,
        df,
        p,
        ci: (diff - q * se, diff + q * se),
        g,
        pooled_sd,
        n: (a.len(), b.len()),
    })
}

/// Equivalence of `a` and `b` within `±margin` by two one-sided Welch tests:
/// the p-value is the larger of the two (small: the difference is shown to lie
/// inside the margin).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Tost {
    pub welch: Welch,
    pub margin: f64,
    pub p_lower: f64,
    pub p_upper: f64,
    pub p: f64,
}

pub fn tost(a: &[f64], b: &[f64], margin: f64, alpha: f64) -> Result<Tost, Untestable> {
    // The interval reported beside a TOST is the 1 - 2 alpha one.
    let w = welch(a, b, 2.0 * alpha)?;
    let dist = student(w.df);
    let p_lower = 1.0 - dist.cdf((w.diff + margin) / w.se);
    let p_upper = dist.cdf((w.diff - margin) / w.se);
    Ok(Tost {
        welch: w,
        margin,
        p_lower,
        p_upper,
        p: p_lower.max(p_upper),
    })
}

/// Holm's step-down adjustment: adjusted p-values in the input order. Rejecting
/// where the adjusted p is at most alpha controls the family-wise error rate.
pub fn holm(p: &[f64]) -> Vec<f64> {
    let m = p.len();
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|a, b| p[*a].total_cmp(&p[*b]));
    let mut out = vec![0.0; m];
    let mut running: f64 = 0.0;
    for (rank, &i) in order.iter().enumerate() {
        running = running.max(((m - rank) as f64 * p[i]).min(1.0));
        out[i] = running;
    }
    out
}

/// Seeds per arm for a two-sided Welch test at level `alpha` to detect a true
/// difference `effect` with probability `power`, arms of equal size and spread
/// `sd`: the normal approximation, refined with t quantiles at the implied df.
pub fn seeds_for_difference(sd: f64, effect: f64, alpha: f64, power: f64) -> Option<usize> {
    seeds(sd, effect, |df| {
        quantile(df, 1.0 - alpha / 2.0) + quantile(df, power)
    })
}

/// Seeds per arm for TOST within `±margin` to show equivalence with probability
/// `power` when the true difference is 0.
pub fn seeds_for_equivalence(sd: f64, margin: f64, alpha: f64, power: f64) -> Option<usize> {
    seeds(sd, margin, |df| {
        quantile(df, 1.0 - alpha) + quantile(df, 1.0 - (1.0 - power) / 2.0)
    })
}

fn quantile(df: Option<f64>, p: f64) -> f64 {
    match df {
        Some(df) => student(df).inverse_cdf(p),
        None => Normal::standard().inverse_cdf(p),
    }
}

fn seeds(sd: f64, effect: f64, z: impl Fn(Option<f64>) -> f64) -> Option<usize> {
    if !(sd.is_finite() && effect.is_finite()) || effect <= 0.0 {
        return None;
    }
    if sd <= 0.0 {
        return Some(2);
    }
    let ratio = sd / effect;
    let mut n = (2.0 * (z(None) * ratio).powi(2)).ceil().max(2.0);
    for _ in 0..20 {
        let next = (2.0 * (z(Some(2.0 * n - 2.0)) * ratio).powi(2))
            .ceil()
            .max(2.0);
        if next == n {
            break;
        }
        n = next;
    }
    (n < 1e7).then_some(n as usize)
}

/// A linear contrast Σ c_i · mean_i of independent arms, tested with the
/// Welch-Satterthwaite degrees of freedom (for two arms with c = (1, -1) it is
/// Welch's test). `n` reports the sizes of the first two arms.
pub fn contrast(arms: &[(&[f64], f64)], alpha: f64) -> Result<Welch, Untestable> {
    if let Some((short, _)) = arms.iter().find(|(x, _)| x.len() < 2) {
        let other = arms.iter().map(|(x, _)| x.len()).max().unwrap_or(0);
        return Err(Untestable::TooFew {
            a: short.len(),
            b: other,
        });
    }
    let mut diff = 0.0;
    let mut var = 0.0;
    let mut dof_den = 0.0;
    let (mut ss, mut dof) = (0.0, 0.0);
    for (x, c) in arms {
        let (m, s) = mean_sd(x);
        let n = x.len() as f64;
        diff += c * m;
        let v = c * c * s * s / n;
        var += v;
        dof_den += v * v / (n - 1.0);
        ss += s * s * (n - 1.0);
        dof += n - 1.0;
    }
    if var <= 0.0 || !var.is_finite() {
        return Err(Untestable::NoSpread);
    }
    let se = var.sqrt();
    let t = diff / se;
    let df = var * var / dof_den;
    let dist = student(df);
    let p = (2.0 * (1.0 - dist.cdf(t.abs()))).clamp(0.0, 1.0);
    let q = dist.inverse_cdf(1.0 - alpha / 2.0);
    let pooled_sd = (ss / dof).sqrt();
    Ok(Welch {
        diff,
        se,
        t,
        df,
        p,
        ci: (diff - q * se, diff + q * se),
        g: if pooled_sd > 0.0 {
            diff / pooled_sd
        } else {
            0.0
        },
        pooled_sd,
        n: (arms[0].0.len(), arms.get(1).map_or(0, |a| a.0.len())),
    })
}

/// One-sided Welch test that mean(a) - mean(b) lies beyond `bound`: with
/// `above`, H0 is diff <= bound (small p: diff > bound); else H0 is diff >= bound.
pub fn one_sided(
    a: &[f64],
    b: &[f64],
    bound: f64,
    above: bool,
    alpha: f64,
) -> Result<(Welch, f64), Untestable> {
    let w = welch(a, b, 2.0 * alpha)?;
    let cdf = student(w.df).cdf((w.diff - bound) / w.se);
    Ok((w, if above { 1.0 - cdf } else { cdf }))
}

/// The `1 - alpha` t interval of the mean of `xs` (None with fewer than 2 values).
pub fn mean_ci(xs: &[f64], alpha: f64) -> Option<(f64, f64)> {
    if xs.len() < 2 {
        return None;
    }
    let (m, s) = mean_sd(xs);
    let half = student(xs.len() as f64 - 1.0).inverse_cdf(1.0 - alpha / 2.0) * s
        / (xs.len() as f64).sqrt();
    Some((m - half, m + half))
}
