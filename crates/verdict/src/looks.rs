//! Interim looks of a sweep with adaptive seeds: the levels at which a test may
//! reject at each look so that, over all looks, it rejects a true null with
//! probability at most its overall level (group-sequential boundaries, alpha
//! spent by the Lan-DeMets O'Brien-Fleming function; docs/statistics.md says
//! why). A fixed sweep has one look whose level is the overall level itself.
//!
//! The boundaries come from the joint law of the test statistic across looks
//! (a Brownian motion observed at the information fractions `n_k / n_max`),
//! integrated numerically on a grid (Armitage, McPherson & Rowe 1969; Jennison
//! & Turnbull 2000, ch. 19); checked against gsDesign's published values.

use std::sync::Mutex;

use statrs::distribution::{ContinuousCDF, Normal};

/// Points of the grid the continuation density is kept on.
const GRID: usize = 301;
/// Overall one-sided levels the table is built for, log-spaced.
const LEVELS: usize = 97;
const LOWEST: f64 = 1e-12;
const HIGHEST: f64 = 0.5;

/// The looks of a sweep: seeds per arm at each, and the nominal one-sided level
/// of each look as a function of the overall one-sided level.
#[derive(Debug, Clone, PartialEq)]
pub struct Looks {
    counts: Vec<usize>,
    /// (ln overall level, ln nominal level at each look), overall ascending.
    table: Vec<(f64, Vec<f64>)>,
}

impl Looks {
    /// One look: a sweep of fixed seeds.
    pub fn fixed() -> Looks {
        Looks {
            counts: Vec::new(),
            table: Vec::new(),
        }
    }

    /// Looks after `counts[k]` seeds per arm (ascending; the last is the most).
    /// Building one takes tens of milliseconds; the last few are kept, since a
    /// sweep is judged with the same looks again and again.
    pub fn new(counts: &[usize]) -> Looks {
        static KEPT: Mutex<Vec<Looks>> = Mutex::new(Vec::new());
        if counts.len() < 2 {
            return Looks::fixed();
        }
        let mut kept = KEPT
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(l) = kept.iter().find(|l| l.counts == counts) {
            return l.clone();
        }
        let made = Looks::build(counts);
        if kept.len() >= 8 {
            kept.remove(0);
        }
        kept.push(made.clone());
        made
    }

    fn build(counts: &[usize]) -> Looks {
        let last = counts[counts.len() - 1];
        let fractions: Vec<f64> = counts.iter().map(|&n| n as f64 / last as f64).collect();
        let table = (0..LEVELS)
            .map(|i| {
                let step = (HIGHEST / LOWEST).ln() / (LEVELS - 1) as f64;
                let a = (LOWEST.ln() + step * i as f64).exp();
                let ln_nominal = nominal_levels(&fractions, a)
                    .into_iter()
                    .map(|x| x.max(1e-300).ln())
                    .collect();
                (a.ln(), ln_nominal)
            })
            .collect();
        Looks {
            counts: counts.to_vec(),
            table,
        }
    }

    /// The one-sided level a test may reject at in look `k`, for an overall
    /// one-sided level `a`.
    pub fn nominal(&self, k: usize, a: f64) -> f64 {
        if self.table.is_empty() || a <= 0.0 {
            return a;
        }
        let x = a.clamp(LOWEST, HIGHEST).ln();
        let at = self
            .table
            .partition_point(|(la, _)| *la < x)
            .clamp(1, LEVELS - 1);
        let ((x0, y0), (x1, y1)) = (&self.table[at - 1], &self.table[at]);
        let w = (x - x0) / (x1 - x0);
        (y0[k] + w * (y1[k] - y0[k])).exp()
    }

    /// The smallest overall one-sided level at which a one-sided p of `p` at
    /// look `k` rejects: `p` itself for a fixed sweep.
    pub fn overall(&self, k: usize, p: f64) -> f64 {
        if self.table.is_empty() || p.is_nan() {
            return p;
        }
        let y = p.max(1e-300).ln();
        let above = self.table.iter().position(|(_, n)| n[k] >= y);
        match above {
            None => 1.0,
            Some(0) => LOWEST,
            Some(i) => {
                let ((x0, y0), (x1, y1)) = (&self.table[i - 1], &self.table[i]);
                let w = (y - y0[k]) / (y1[k] - y0[k]);
                (x0 + w * (x1 - x0)).exp()
            }
        }
    }

    /// `overall` for a two-sided p (each side at half the level).
    pub fn overall_two_sided(&self, k: usize, p: f64) -> f64 {
        if self.table.is_empty() {
            return p;
        }
        (2.0 * self.overall(k, p / 2.0)).min(1.0)
    }
}

/// Alpha spent by information fraction `t` of an overall one-sided level `a`:
/// the Lan-DeMets O'Brien-Fleming function.
pub(crate) fn spent(t: f64, a: f64) -> f64 {
    if t >= 1.0 {
        return a;
    }
    let z = std_normal().inverse_cdf(1.0 - a / 2.0);
    2.0 * std_normal().sf(z / t.sqrt())
}

fn std_normal() -> Normal {
    Normal::standard()
}

/// The nominal one-sided level of each look for overall one-sided level `a`.
pub(crate) fn nominal_levels(fractions: &[f64], a: f64) -> Vec<f64> {
    let n = std_normal();
    let mut levels = Vec::with_capacity(fractions.len());
    // The score S_k = Z_k sqrt(t_k), on the grid of its continuation region.
    let mut grid: Vec<f64> = Vec::new();
    let mut density: Vec<f64> = Vec::new();
    let (mut t_before, mut spent_before) = (0.0, 0.0);
    for &t in fractions {
        let target = (spent(t, a) - spent_before).max(0.0);
        spent_before += target;
        let b = if grid.is_empty() {
            // By symmetry, so no 1 - p loses a tiny level.
            -t.sqrt() * n.inverse_cdf(target.max(1e-300)).max(-40.0)
        } else {
            let sd = (t - t_before).sqrt();
            let weights = trapezoid(&grid, &density);
            let cross = |b: f64| -> f64 {
                (grid.iter().zip(&weights))
                    .map(|(u, w)| w * n.sf((b - u) / sd))
                    .sum()
            };
            bisect(cross, target, grid[grid.len() - 1] - 10.0, 40.0)
        };
        levels.push(n.sf(b / t.sqrt()));
        (grid, density) = continuation(&grid, &density, t, t - t_before, b);
        t_before = t;
    }
    levels
}

/// The density of the score at a look, on a grid from far below to `b`,
/// given the density on the last look's continuation region (`grid` empty
/// for the first look).
fn continuation(grid: &[f64], density: &[f64], t: f64, dt: f64, b: f64) -> (Vec<f64>, Vec<f64>) {
    let lo = -10.0 * t.sqrt();
    let h = (b - lo) / (GRID - 1) as f64;
    let points: Vec<f64> = (0..GRID).map(|i| lo + h * i as f64).collect();
    let phi = |x: f64, sd: f64| {
        (-0.5 * (x / sd).powi(2)).exp() / (sd * (2.0 * std::f64::consts::PI).sqrt())
    };
    let values = if grid.is_empty() {
        points.iter().map(|s| phi(*s, t.sqrt())).collect()
    } else {
        let weights = trapezoid(grid, density);
        let sd = dt.sqrt();
        (points.iter())
            .map(|s| {
                (grid.iter().zip(&weights))
                    .map(|(u, w)| w * phi(s - u, sd))
                    .sum()
            })
            .collect()
    };
    (points, values)
}

/// Each grid point's density times its trapezoid weight.
fn trapezoid(grid: &[f64], density: &[f64]) -> Vec<f64> {
    let h = grid[1] - grid[0];
    let last = grid.len() - 1;
    (density.iter().enumerate())
        .map(|(i, f)| f * if i == 0 || i == last { h / 2.0 } else { h })
        .collect()
}

/// `x` in [lo, hi] where the decreasing `f(x)` equals `target`.
fn bisect(f: impl Fn(f64) -> f64, target: f64, mut lo: f64, mut hi: f64) -> f64 {
    for _ in 0..100 {
        let mid = 0.5 * (lo + hi);
        if f(mid) > target {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    0.5 * (lo + hi)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// gsDesign 3.6 (`gsDesign(k = 5, test.type = 1, alpha = 0.025, sfu =
    /// sfLDOF)$upper$bound`): the Lan-DeMets O'Brien-Fleming bounds of five
    /// equally spaced looks.
    #[test]
    fn five_equal_looks_match_gsdesign() {
        let fractions = [0.2, 0.4, 0.6, 0.8, 1.0];
        let z: Vec<f64> = nominal_levels(&fractions, 0.025)
            .into_iter()
            .map(|p| std_normal().inverse_cdf(1.0 - p))
            .collect();
        for (got, want) in z.iter().zip([4.8769, 3.3569, 2.6803, 2.2898, 2.0310]) {
            assert!((got - want).abs() < 2e-3, "{z:?}");
        }
    }

    #[test]
    fn one_look_is_the_overall_level() {
        let looks = Looks::new(&[5]);
        assert_eq!(looks, Looks::fixed());
        assert_eq!(looks.nominal(0, 0.01), 0.01);
        assert_eq!(looks.overall_two_sided(0, 0.03), 0.03);
    }

    #[test]
    fn overall_inverts_nominal_and_rises_with_p() {
        let looks = Looks::new(&[3, 5, 7, 9, 11, 13, 15]);
        for k in 0..7 {
            for a in [1e-4, 0.003, 0.025, 0.2] {
                let back = looks.overall(k, looks.nominal(k, a));
                assert!((back / a - 1.0).abs() < 1e-3, "look {k}, {a}: {back}");
            }
        }
        assert!(looks.nominal(0, 0.025) < 1e-5);
        assert!(looks.nominal(6, 0.025) > 0.015);
        assert!(looks.overall(6, 0.01) < looks.overall(6, 0.02));
        assert_eq!(looks.overall(3, 0.9), 1.0);
    }

    /// The levels hold what they promise: Brownian paths observed at seven
    /// unequal looks cross some look's boundary about `a` of the time.
    #[test]
    fn simulated_paths_cross_at_the_overall_level() {
        use rand::SeedableRng;
        use rand_distr::{Distribution, StandardNormal};
        let counts = [3, 5, 7, 9, 11, 13, 15];
        let t: Vec<f64> = counts.iter().map(|n| *n as f64 / 15.0).collect();
        let z: Vec<f64> = nominal_levels(&t, 0.025)
            .into_iter()
            .map(|p| std_normal().inverse_cdf(1.0 - p))
            .collect();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let paths = 200_000;
        let mut crossed = 0;
        for _ in 0..paths {
            let (mut s, mut before) = (0.0, 0.0);
            for (tk, zk) in t.iter().zip(&z) {
                let step: f64 = StandardNormal.sample(&mut rng);
                s += step * (tk - before).sqrt();
                before = *tk;
                if s / tk.sqrt() >= *zk {
                    crossed += 1;
                    break;
                }
            }
        }
        let rate = crossed as f64 / paths as f64;
        let se = (0.025f64 * 0.975 / paths as f64).sqrt();
        assert!((rate - 0.025).abs() < 4.0 * se, "{rate}");
    }
}
