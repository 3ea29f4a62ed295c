//! `ablate-verdict` owns judging: per-seed results of a sweep's trials in,
//! verdicts on its claims out, with every test behind each verdict (difference,
//! confidence interval, effect size, raw and adjusted p, N per arm) and, where a
//! verdict is open, how many seeds per arm would settle it.
//!
//! Every claim has a route to "supported" and one to "contradicted", and the
//! routes of all a sweep's claims are judged in one family (`routes.rs`), so
//! the chance of any wrong "supported" or "contradicted" stays at `alpha`; "no
//! difference" is only ever concluded by an equivalence test. It is a pure function of its input,
//! so the orchestrator can call it between rounds of a sweep.
//!
//! It must not know about SQL, files, scheduling or how a report looks.

mod advice;
pub mod anova;
mod arms;
mod builtin;
mod custom;
mod futility;
mod judge;
mod looks;
mod model;
mod routes;
mod sequential;
pub mod stats;

use std::collections::BTreeMap;

use ablate_spec::Metric;

pub use advice::{COUNTS, DRAWS, advise};
pub use arms::Arm;
pub use judge::{judge, judge_advised};
pub use looks::Looks;
pub use model::{Advice, Decision, Judgement, Kind, Stat, Test, Verdict, VerdictKind};
pub use sequential::{Schedule, Sequential, Stop, StopReason, judge_sequential};

/// One trial as judging sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Trial {
    pub id: ablate_spec::TrialId,
    /// Studies listing it.
    pub studies: Vec<String>,
    /// Axis -> value label (`depth` -> `vgg11`, `pretrain` -> `none`, `tasks` -> `gender+age`).
    pub labels: BTreeMap<String, String>,
    pub seed: u64,
    pub fold: Option<u32>,
    /// Succeeded: its metrics count. Others are shown as missing seeds.
    pub finished: bool,
    /// Not run yet, or running: its round of an adaptive sweep is not over.
    pub pending: bool,
    pub metrics: BTreeMap<String, f64>,
}

/// A study: its name and the axes it varies, with their values in file order.
#[derive(Debug, Clone, PartialEq)]
pub struct Study {
    pub name: String,
    pub axes: Vec<(String, Vec<String>)>,
}

/// What judging is given.
#[derive(Debug, Clone)]
pub struct Input<'a> {
    pub studies: &'a [Study],
    pub trials: &'a [Trial],
    /// Pretraining stages that are face recognition (`task = "identity"`).
    pub face_stages: Vec<String>,
    /// The sweep's own `[[claim]]`s, judged after the paper's four.
    pub claims: &'a [ablate_spec::claims::ClaimSpec],
    pub settings: Settings,
}

/// `[report]` settings: the family-wise error rate, the power the seed estimate
/// aims for, and the smallest effect of interest per metric (the equivalence
/// margin, and the effect the seed estimate is for).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Settings {
    pub alpha: f64,
    pub power: f64,
    pub smallest_effect: BTreeMap<String, f64>,
    /// Judge the paper's built-in claims (`[report] paper_claims`); when false
    /// they are neither judged nor in the family-wise adjustment.
    pub paper_claims: bool,
    /// Adaptive seeds: an open claim stops receiving seeds at a look before
    /// the last when fewer than this share of simulated continuations settle
    /// it by the most seeds (`[report] futility`; 0 never stops one early).
    pub futility: f64,
}

impl Default for Settings {
    fn default() -> Self {
        let smallest_effect = Metric::ALL
            .into_iter()
            .map(|m| (m.key().to_string(), m.default_smallest_effect()))
            .collect();
        Settings {
            alpha: 0.05,
            power: 0.8,
            smallest_effect,
            paper_claims: true,
            futility: 0.1,
        }
    }
}

impl Settings {
    /// The defaults, overridden by what the sweep's `[report]` sets.
    pub fn from_spec(r: &ablate_spec::report::ReportSpec) -> Settings {
        let mut s = Settings::default();
        if let Some(a) = r.alpha {
            s.alpha = a;
        }
        if let Some(p) = r.power {
            s.power = p;
        }
        for (k, v) in &r.smallest_effect {
            s.smallest_effect.insert(k.clone(), *v);
        }
        if let Some(p) = r.paper_claims {
            s.paper_claims = p;
        }
        if let Some(f) = r.futility {
            s.futility = f;
        }
        s
    }
}

/// Whether lower values of a built-in metric are better; None for unknown ones.
pub fn lower_is_better(metric: &str) -> Option<bool> {
    Metric::from_key(metric).ok().map(Metric::lower_is_better)
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_metric_a_sweep_may_name_has_a_direction_and_a_smallest_effect() {
        let s = super::Settings::default();
        for m in ablate_spec::Metric::keys() {
            assert!(super::lower_is_better(m).is_some(), "{m}");
            assert!(s.smallest_effect.contains_key(m), "{m}");
        }
    }
}
