//! Factor importance: a multi-way ANOVA with every interaction, type II sums of
//! squares (each term adjusted for every term that does not contain it), on one
//! value per seed and configuration; partial eta squared; and each factor's
//! reach against the seed-to-seed spread. Least squares through nalgebra's SVD,
//! so unbalanced or empty cells are handled; checked against statsmodels.

use std::collections::BTreeMap;

use nalgebra::{DMatrix, DVector};
use statrs::distribution::{ContinuousCDF, FisherSnedecor};

/// One observation: its level of each factor, and its value.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub levels: Vec<String>,
    pub value: f64,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Term {
    /// Factor names, e.g. `["tasks", "pretrain"]` for their interaction.
    pub factors: Vec<String>,
    pub ss: f64,
    pub df: f64,
    pub f: f64,
    pub p: f64,
    /// SS / (SS + residual SS).
    pub partial_eta_sq: f64,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Anova {
    pub terms: Vec<Term>,
    pub residual_ss: f64,
    pub residual_df: f64,
    /// The seed-to-seed standard deviation: sqrt(residual SS / residual df).
    pub seed_sd: f64,
    /// Per factor: range of its level means (each the mean of its cells' means)
    /// over `seed_sd`: how many times more the factor moves the metric than a
    /// change of seed does.
    pub reach: BTreeMap<String, f64>,
}

/// Non-empty subsets of `0..k`, smaller first (main effects, then interactions).
fn subsets(k: usize) -> Vec<Vec<usize>> {
    let mut all: Vec<Vec<usize>> = (1u32..(1 << k))
        .map(|m| (0..k).filter(|i| m & (1 << i) != 0).collect())
        .collect();
    all.sort_by_key(|s| (s.len(), s.clone()));
    all
}

/// Treatment-coded columns of a term: one per combination of non-reference levels.
fn columns(rows: &[Row], levels: &[Vec<String>], term: &[usize]) -> Vec<Vec<f64>> {
    let mut combos: Vec<Vec<usize>> = vec![Vec::new()];
    for &f in term {
        combos = combos
            .into_iter()
            .flat_map(|c| {
                (1..levels[f].len()).map(move |l| {
                    let mut c = c.clone();
                    c.push(l);
                    c
                })
            })
            .collect();
    }
    combos
        .iter()
        .map(|c| {
            rows.iter()
                .map(|r| {
                    let hit = term
                        .iter()
                        .zip(c)
                        .all(|(&f, &l)| r.levels[f] == levels[f][l]);
                    if hit { 1.0 } else { 0.0 }
                })
                .collect()
        })
        .collect()
}

/// Residual sum of squares and rank of the least-squares fit on `terms`.
fn fit(rows: &[Row], levels: &[Vec<String>], terms: &[&Vec<usize>]) -> (f64, usize) {
    let mut cols: Vec<Vec<f64>> = vec![vec![1.0; rows.len()]];
    for t in terms {
        cols.extend(columns(rows, levels, t));
    }
    let x = DMatrix::from_fn(rows.len(), cols.len(), |i, j| cols[j][i]);
    let y = DVector::from_iterator(rows.len(), rows.iter().map(|r| r.value));
    let svd = x.clone().svd(true, true);
    let tol = 1e-9 * svd.singular_values.max().max(1.0);
    let rank = svd.singular_values.iter().filter(|s| **s > tol).count();
    let beta = svd
        .solve(&y, tol)
        .unwrap_or_else(|_| DVector::zeros(cols.len()));
    let resid = &y - &x * beta;
    (resid.norm_squared(), rank)
}

/// The ANOVA of `rows` over `factors` (each row's `levels` in that order), or
/// None when there are no residual degrees of freedom (too few seeds).
pub fn anova(factors: &[String], rows: &[Row]) -> Option<Anova> {
    let k = factors.len();
    let levels: Vec<Vec<String>> = (0..k)
        .map(|f| {
            let mut l: Vec<String> = rows.iter().map(|r| r.levels[f].clone()).collect();
            l.sort();
            l.dedup();
            l
        })
        .collect();
    if k == 0 || levels.iter().any(|l| l.len() < 2) {
        return None;
    }
    let all = subsets(k);
    let full: Vec<&Vec<usize>> = all.iter().collect();
    let (rss_full, rank_full) = fit(rows, &levels, &full);
    let residual_df = rows.len() as f64 - rank_full as f64;
    if residual_df < 1.0 {
        return None;
    }
    let mse = rss_full / residual_df;
    let mut terms = Vec::new();
    for e in &all {
        let contains_e = |t: &Vec<usize>| e.iter().all(|f| t.contains(f));
        let base: Vec<&Vec<usize>> = all.iter().filter(|t| !contains_e(t)).collect();
        let mut with: Vec<&Vec<usize>> = base.clone();
        with.push(e);
        let (rss0, r0) = fit(rows, &levels, &base);
        let (rss1, r1) = fit(rows, &levels, &with);
        let df = (r1 - r0) as f64;
        let ss = (rss0 - rss1).max(0.0);
        let (f, p) = if df > 0.0 && mse > 0.0 {
            let f = (ss / df) / mse;
            let p = FisherSnedecor::new(df, residual_df).map_or(f64::NAN, |d| 1.0 - d.cdf(f));
            (f, p)
        } else {
            (f64::NAN, f64::NAN)
        };
        terms.push(Term {
            factors: e.iter().map(|i| factors[*i].clone()).collect(),
            ss,
            df,
            f,
            p,
            partial_eta_sq: if ss + rss_full > 0.0 {
                ss / (ss + rss_full)
            } else {
                0.0
            },
        });
    }
    let seed_sd = mse.sqrt();
    let mut cells: BTreeMap<&Vec<String>, Vec<f64>> = BTreeMap::new();
    for r in rows {
        cells.entry(&r.levels).or_default().push(r.value);
    }
    let cell_means: Vec<(&Vec<String>, f64)> = cells
        .iter()
        .map(|(l, v)| (*l, v.iter().sum::<f64>() / v.len() as f64))
        .collect();
    let reach = (0..k)
        .map(|f| {
            let means: Vec<f64> = levels[f]
                .iter()
                .filter_map(|level| {
                    let m: Vec<f64> = cell_means
                        .iter()
                        .filter(|(l, _)| &l[f] == level)
                        .map(|c| c.1)
                        .collect();
                    (!m.is_empty()).then(|| m.iter().sum::<f64>() / m.len() as f64)
                })
                .collect();
            let range = means.iter().copied().fold(f64::NEG_INFINITY, f64::max)
                - means.iter().copied().fold(f64::INFINITY, f64::min);
            (
                factors[f].clone(),
                if seed_sd > 0.0 {
                    range / seed_sd
                } else {
                    f64::INFINITY
                },
            )
        })
        .collect();
    Some(Anova {
        terms,
        residual_ss: rss_full,
        residual_df,
        seed_sd,
        reach,
    })
}
