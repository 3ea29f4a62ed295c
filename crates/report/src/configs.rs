//! The report's model of a study: its training trials grouped into
//! configurations (one per combination of the axes it varies, in its grid's
//! order), the metrics they have, and the judgement of the sweep's claims over
//! them. The renderers read it; it renders nothing.

use ablate_spec::TrialKind;
use ablate_verdict::Judgement;
use ablate_verdict::stats::mean_sd;

use crate::input::{Input, METRICS, Metric, TrialRow};

/// One configuration of a study: its axis values and trials (one per seed/fold).
pub struct Config<'a> {
    pub key: Vec<(String, String)>,
    pub trials: Vec<&'a TrialRow>,
}

impl Config<'_> {
    /// Values of `metric` over finished trials, flagged ones included: leaving a
    /// seed out for what it scored would bias the mean (the flagged-runs section
    /// says where leaving them out would change a ranking or a verdict).
    pub fn values(&self, metric: Metric) -> Vec<f64> {
        self.trials
            .iter()
            .filter(|t| t.succeeded())
            .filter_map(|t| t.metrics.get(&metric).copied())
            .collect()
    }

    /// For a metric it has no value of: whether results are still due
    /// ("missing"), rather than the metric not applying to it ("n/a": a
    /// gender-only trial has no age MAE).
    pub fn missing(&self, metric: Metric) -> bool {
        let finished = self.trials.iter().all(|t| t.succeeded());
        let has = self.trials.iter().any(|t| t.metrics.contains_key(&metric));
        !finished || has
    }

    /// One value of `metric` per complete seed (folds averaged), as verdicts count.
    pub fn arm(&self, metric: Metric) -> ablate_verdict::Arm {
        let trials: Vec<ablate_verdict::Trial> =
            self.trials.iter().map(|t| t.verdict_trial()).collect();
        let refs: Vec<&ablate_verdict::Trial> = trials.iter().collect();
        ablate_verdict::Arm::new(String::new(), &refs, metric.key())
    }
}

/// The study's training trials grouped by the axes it varies, in the order of the
/// study's grid (first axis slowest).
pub fn configs<'a>(input: &'a Input, study: &str, axes: &[String]) -> Vec<Config<'a>> {
    let order: Vec<Vec<String>> = input
        .results
        .studies
        .iter()
        .find(|s| s.name == study)
        .map(|s| s.axes.iter().map(|(_, v)| v.clone()).collect())
        .unwrap_or_default();
    let mut out = grouped(input, study, axes);
    out.sort_by_key(|c| {
        c.key
            .iter()
            .zip(&order)
            .map(|((_, v), vals)| vals.iter().position(|x| x == v).unwrap_or(usize::MAX))
            .collect::<Vec<_>>()
    });
    out
}

fn grouped<'a>(input: &'a Input, study: &str, axes: &[String]) -> Vec<Config<'a>> {
    let mut out: Vec<Config<'a>> = Vec::new();
    for t in input
        .results
        .trials
        .iter()
        .filter(|t| t.kind == TrialKind::Train && t.in_study(study))
    {
        let key: Vec<(String, String)> = axes
            .iter()
            .map(|a| {
                (
                    a.clone(),
                    t.labels.get(a).cloned().unwrap_or_else(|| "-".into()),
                )
            })
            .collect();
        match out.iter_mut().find(|c| c.key == key) {
            Some(c) => c.trials.push(t),
            None => out.push(Config {
                key,
                trials: vec![t],
            }),
        }
    }
    out
}

pub fn metrics_of(configs: &[Config<'_>]) -> Vec<Metric> {
    METRICS
        .into_iter()
        .filter(|m| {
            configs
                .iter()
                .any(|c| c.trials.iter().any(|t| t.metrics.contains_key(m)))
        })
        .collect()
}

/// Per metric, the best mean over `configs` (lowest where lower is better).
pub fn best_means(configs: &[Config<'_>], metrics: &[Metric]) -> Vec<Option<f64>> {
    (metrics.iter())
        .map(|m| {
            let means = (configs.iter())
                .map(|c| mean_sd(&c.values(*m)).0)
                .filter(|v| v.is_finite());
            if m.lower_is_better() {
                means.reduce(f64::min)
            } else {
                means.reduce(f64::max)
            }
        })
        .collect()
}

/// Judges the report's trials (study trials only; pretraining trials are no arm).
pub fn judge(input: &Input) -> Judgement {
    judged(input, false)
}

/// [`judge`], with advice on what more seeds would do to each open claim
/// (simulated: slower).
pub fn judge_advised(input: &Input) -> Judgement {
    judged(input, true)
}

fn judged(input: &Input, advise: bool) -> Judgement {
    match sequential(input, advise) {
        Some(s) => s.judgement,
        None => input.results.judge(how(input, advise)),
    }
}

/// An adaptive sweep judged look by look (None for fixed seeds).
pub fn sequential(input: &Input, advise: bool) -> Option<ablate_verdict::Sequential> {
    let seeds = input.adaptive.as_ref()?;
    Some(input.results.judge_sequential(how(input, advise), seeds))
}

fn how(input: &Input, advise: bool) -> ablate_results::Judge<'_> {
    ablate_results::Judge {
        settings: &input.settings,
        claims: &input.claims,
        advise,
    }
}
