//! Arms: the per-seed values of one configuration on one metric. Folds are a
//! blocking factor, not extra seeds: a seed's value is the mean over its folds,
//! and a seed counts only when every fold of it finished (both arms of a
//! comparison see the same folds, so the fold effect cancels).

use std::collections::{BTreeMap, BTreeSet};

use crate::Trial;

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Arm {
    /// What it is, e.g. `depth = vgg11, tasks = age`.
    pub label: String,
    /// One value per complete seed, in seed order.
    pub values: Vec<f64>,
    pub seeds: Vec<u64>,
    /// Seeds with a trial that did not finish (or lacks the metric).
    pub incomplete: usize,
}

impl Arm {
    pub fn new(label: String, trials: &[&Trial], metric: &str) -> Arm {
        let folds: BTreeSet<Option<u32>> = trials.iter().map(|t| t.fold).collect();
        let mut by_seed: BTreeMap<u64, Vec<Option<f64>>> = BTreeMap::new();
        for t in trials {
            let v = t.metrics.get(metric).copied().filter(|_| t.finished);
            by_seed
                .entry(t.seed)
                .or_default()
                .push(v.filter(|x| x.is_finite()));
        }
        let (mut values, mut seeds, mut incomplete) = (Vec::new(), Vec::new(), 0);
        for (seed, vs) in by_seed {
            let got: Vec<f64> = vs.iter().flatten().copied().collect();
            if got.len() == vs.len() && got.len() == folds.len() {
                values.push(got.iter().sum::<f64>() / got.len() as f64);
                seeds.push(seed);
            } else {
                incomplete += 1;
            }
        }
        Arm {
            label,
            values,
            seeds,
            incomplete,
        }
    }
}
