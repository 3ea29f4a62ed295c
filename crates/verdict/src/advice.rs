//! Honest advice for open claims: how many seeds per arm would likely settle
//! each one, and which way. A claim's rule combines several tests (a difference
//! here, an equivalence there), each adjusted with every other test of the
//! sweep, so no single power formula says when it settles. Instead the sweep is
//! simulated at more seeds, taking each configuration's observed mean as the
//! truth and its seed-to-seed spread (shrunk towards its study's pooled one)
//! as the noise, and every
//! simulated sweep is judged exactly as the real one is (all claims, one
//! family). The advice is the smallest count at which the claim settles in at
//! least `[report] power` of them, and the route most of those take; a claim
//! that no count up to the largest tried settles says so. The observed means
//! are themselves uncertain: the advice is a plug-in estimate, and says so.

use std::collections::BTreeMap;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

use crate::model::{Advice, Judgement, VerdictKind};
use crate::{Input, Trial, judge};

/// Seeds per arm the simulation tries, beyond what the sweep has.
pub const COUNTS: [usize; 16] = [3, 4, 5, 6, 7, 8, 10, 12, 15, 20, 25, 30, 40, 50, 60, 80];
/// Simulated sweeps per count.
pub const DRAWS: usize = 100;

/// How many degrees of freedom of the study's pooled spread a configuration's
/// own spread is shrunk with: a configuration of 3 seeds keeps half its own
/// estimate, one of 11 five sixths (see docs/statistics.md).
const PRIOR_DOF: f64 = 2.0;

/// One configuration of the sweep: a finished trial's studies, labels and
/// fold, with each metric's mean and spread over its seeds.
struct Config<'a> {
    like: &'a Trial,
    /// Metric -> (mean, standard deviation to draw with).
    metrics: BTreeMap<&'a str, (f64, f64)>,
}

/// The truth the simulation draws from.
struct Truth<'a> {
    configs: Vec<Config<'a>>,
    /// The most finished seeds any configuration has.
    seeds: usize,
    /// Whether every metric of every configuration has a spread to draw with.
    complete: bool,
}

/// A metric's values in one configuration: mean, sum of squared deviations,
/// degrees of freedom.
type Moments = (f64, f64, f64);

fn moments(v: &[f64]) -> Moments {
    let mean = v.iter().sum::<f64>() / v.len() as f64;
    let ss = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>();
    (mean, ss, v.len() as f64 - 1.0)
}

fn truth<'a>(trials: &'a [Trial]) -> Truth<'a> {
    type Key<'b> = (&'b [String], &'b BTreeMap<String, String>, Option<u32>);
    let mut groups: BTreeMap<Key<'a>, Vec<&'a Trial>> = BTreeMap::new();
    for t in trials.iter().filter(|t| t.finished) {
        (groups.entry((&t.studies, &t.labels, t.fold)).or_default()).push(t);
    }
    let study_of = |t: &Trial| t.studies.first().map_or(String::new(), Clone::clone);
    // Per configuration and metric its moments; pooled per (study, metric) and
    // per metric (for a study whose configurations all have one seed).
    let mut each: Vec<(&'a Trial, BTreeMap<&'a str, Moments>)> = Vec::new();
    let mut pooled: BTreeMap<(String, &str), (f64, f64)> = BTreeMap::new();
    let mut by_metric: BTreeMap<&str, (f64, f64)> = BTreeMap::new();
    let mut seeds = 0;
    for list in groups.values() {
        seeds = seeds.max(list.len());
        let names = list
            .iter()
            .flat_map(|t| t.metrics.keys().map(String::as_str));
        let mut metrics = BTreeMap::new();
        for m in names.collect::<std::collections::BTreeSet<_>>() {
            let v: Vec<f64> = list
                .iter()
                .filter_map(|t| t.metrics.get(m).copied())
                .collect();
            let (mean, ss, dof) = moments(&v);
            for e in [
                pooled.entry((study_of(list[0]), m)).or_default(),
                by_metric.entry(m).or_default(),
            ] {
                e.0 += ss;
                e.1 += dof;
            }
            metrics.insert(m, (mean, ss, dof));
        }
        each.push((list[0], metrics));
    }
    let mut complete = true;
    let configs = (each.into_iter())
        .map(|(like, metrics)| {
            let metrics = (metrics.into_iter())
                .map(|(m, (mean, ss, dof))| {
                    let (pss, pdof) = match pooled.get(&(study_of(like), m)) {
                        Some(&p) if p.1 > 0.0 => p,
                        _ => by_metric.get(m).copied().unwrap_or_default(),
                    };
                    complete &= pdof > 0.0;
                    // The configuration's own variance, shrunk towards the pool's.
                    let prior = if pdof > 0.0 { pss / pdof } else { 0.0 };
                    let var = (ss + PRIOR_DOF * prior) / (dof + PRIOR_DOF);
                    (m, (mean, var.sqrt()))
                })
                .collect();
            Config { like, metrics }
        })
        .collect();
    Truth {
        configs,
        seeds,
        complete,
    }
}

/// A simulated sweep: every configuration at `n` seeds, numbered from `first`.
fn draw(t: &Truth<'_>, first: u64, n: usize, rng: &mut ChaCha8Rng) -> Vec<Trial> {
    let mut out = Vec::with_capacity(t.configs.len() * n);
    for c in &t.configs {
        for seed in (first..).take(n) {
            let metrics = (c.metrics.iter())
                .map(|(m, (mean, sd))| {
                    let z: f64 = StandardNormal.sample(rng);
                    (m.to_string(), mean + sd * z)
                })
                .collect();
            out.push(Trial {
                id: format!("sim-{seed}").into(),
                seed,
                finished: true,
                pending: false,
                metrics,
                ..c.like.clone()
            });
        }
    }
    out
}

/// More seeds of a sweep's configurations, drawn as the advice draws them:
/// what the futility rule continues a sweep with.
pub(crate) struct MoreSeeds<'a>(Truth<'a>);

impl<'a> MoreSeeds<'a> {
    /// None where some metric has no spread to draw with (one seed each).
    pub(crate) fn new(trials: &'a [Trial]) -> Option<MoreSeeds<'a>> {
        let t = truth(trials);
        t.complete.then_some(MoreSeeds(t))
    }

    /// `n` new seeds of every configuration, numbered from `first`.
    pub(crate) fn draw(&self, first: u64, n: usize, rng: &mut ChaCha8Rng) -> Vec<Trial> {
        draw(&self.0, first, n, rng)
    }
}

/// Advice for each inconclusive verdict of `judgement` (judged from `input`),
/// by verdict index; None for the others and where the sweep has too few
/// seeds to estimate a spread.
pub fn advise(input: &Input<'_>, judgement: &Judgement) -> Vec<Option<Advice>> {
    let open: Vec<usize> = (judgement.verdicts.iter().enumerate())
        .filter(|(_, v)| v.verdict == VerdictKind::Inconclusive)
        .map(|(i, _)| i)
        .collect();
    let mut out: Vec<Option<Advice>> = vec![None; judgement.verdicts.len()];
    let t = truth(input.trials);
    if open.is_empty() || !t.complete {
        return out;
    }
    let power = input.settings.power;
    // Per open verdict: [supported, contradicted] counts at the last count
    // tried, and the first count at which half the sweeps settled it.
    let mut last: BTreeMap<usize, [usize; 2]> = BTreeMap::new();
    let mut half: BTreeMap<usize, usize> = BTreeMap::new();
    let mut tried = 0;
    let mut rng = ChaCha8Rng::seed_from_u64(0x0ab1_a7e5);
    for n in COUNTS.into_iter().filter(|n| *n > t.seeds) {
        let waiting: Vec<usize> = open.iter().copied().filter(|i| out[*i].is_none()).collect();
        if waiting.is_empty() {
            break;
        }
        let mut tally: BTreeMap<usize, [usize; 2]> = waiting.iter().map(|i| (*i, [0, 0])).collect();
        for _ in 0..DRAWS {
            let trials = draw(&t, 0, n, &mut rng);
            let j = judge(&Input {
                trials: &trials,
                ..input.clone()
            });
            for (i, c) in tally.iter_mut() {
                match j.verdicts.get(*i).map(|v| v.verdict) {
                    Some(VerdictKind::Supported) => c[0] += 1,
                    Some(VerdictKind::Contradicted) => c[1] += 1,
                    _ => {}
                }
            }
        }
        tried = n;
        for (i, c) in tally {
            if 2 * (c[0] + c[1]) >= DRAWS {
                half.entry(i).or_insert(n);
            }
            let (route, k) = route(c);
            let chance = k as f64 / DRAWS as f64;
            if chance >= power {
                out[i] = Some(Advice {
                    seeds: Some(n),
                    route,
                    chance,
                    half: half.get(&i).copied(),
                    tried: n,
                    draws: DRAWS,
                });
            }
            last.insert(i, c);
        }
    }
    for (i, c) in last {
        if out[i].is_none() {
            let (route, k) = route(c);
            out[i] = Some(Advice {
                seeds: None,
                route: route.filter(|_| k > 0),
                chance: k as f64 / DRAWS as f64,
                half: half.get(&i).copied(),
                tried,
                draws: DRAWS,
            });
        }
    }
    out
}

/// The route more simulated sweeps took, and how many took it.
fn route(c: [usize; 2]) -> (Option<VerdictKind>, usize) {
    if c[1] > c[0] {
        (Some(VerdictKind::Contradicted), c[1])
    } else {
        (Some(VerdictKind::Supported), c[0])
    }
}
