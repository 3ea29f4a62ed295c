//! A sweep's own `[[claim]]`s, planned as tests for the same machinery as the
//! paper's claims (and adjusted in the same family). The spec checked that every
//! arm is one configuration of the named study.

use ablate_spec::claims::{ClaimSpec, Levels, Relation};

use crate::Input;
use crate::arms::Arm;
use crate::builtin::{describe, not_judged, pick, plan, trials_of};
use crate::model::{Kind, Planned, Route, Spec, Want};
use crate::{Study, Trial, VerdictKind};

fn pairs(l: &Levels) -> Vec<(&str, &str)> {
    l.iter().map(|(a, v)| (a.as_str(), v.as_str())).collect()
}

fn context(at: &Levels) -> String {
    if at.is_empty() {
        String::new()
    } else {
        format!(" ({})", describe(&pairs(at)))
    }
}

pub(crate) fn plans(input: &Input<'_>) -> Vec<Planned> {
    input.claims.iter().map(|c| one(input, c)).collect()
}

fn one(input: &Input<'_>, c: &ClaimSpec) -> Planned {
    let Some(study) = input.studies.iter().find(|s| s.name == c.study) else {
        return not_judged(
            &c.name,
            format!("study `{}` is not in this report", c.study),
        );
    };
    let claim = Claim {
        name: &c.name,
        study,
        trials: trials_of(input, study),
        metric: c.metric.as_str(),
    };
    match &c.relation {
        Relation::Better { a, b, at } => claim.better(a, b, at),
        Relation::NoWorse { a, b, at, margin } => {
            let margin = margin
                .or_else(|| input.settings.smallest_effect.get(claim.metric).copied())
                .unwrap_or(f64::NAN);
            claim.no_worse(a, b, at, margin)
        }
        Relation::LargerEffect {
            axis,
            from,
            to,
            larger,
            smaller,
            at,
        } => claim.larger_effect(axis, (from, to), larger, smaller, at),
    }
}

/// A claim on a study that is in the report: its trials and metric.
struct Claim<'a> {
    name: &'a str,
    study: &'a Study,
    trials: Vec<&'a Trial>,
    metric: &'a str,
}

impl Claim<'_> {
    /// The arm of the trials with every level of `levels` (labelled by the first).
    fn arm(&self, levels: &[&Levels]) -> Arm {
        let all: Vec<(&str, &str)> = levels.iter().flat_map(|l| pairs(l)).collect();
        let shown: Vec<(&str, &str)> = levels[0]
            .iter()
            .map(|(a, v)| (a.as_str(), v.as_str()))
            .collect();
        Arm::new(describe(&shown), &pick(&self.trials, &all), self.metric)
    }

    /// `a` is significantly better than `b` (Welch).
    fn better(&self, a: &Levels, b: &Levels, at: &Levels) -> Planned {
        let m = self.metric;
        let (arm_a, arm_b) = (self.arm(&[a, at]), self.arm(&[b, at]));
        let what = format!("{m}: {} vs {}{}", arm_a.label, arm_b.label, context(at));
        let spec = Spec {
            what,
            metric: m.into(),
            kind: Kind::Difference,
            a: arm_a,
            b: arm_b,
            others: Vec::new(),
        };
        plan(
            self.name,
            self.study,
            "supported when the first arm is significantly better than the second (Welch); contradicted when the second is",
            vec![spec],
            directions("is significantly better"),
            "the difference is not significant",
        )
    }

    /// `a` is no worse than `b` by `mg` or more (non-inferiority), tested with
    /// its converse (worse by more than `mg`).
    fn no_worse(&self, a: &Levels, b: &Levels, at: &Levels, mg: f64) -> Planned {
        let m = self.metric;
        let (arm_a, arm_b) = (self.arm(&[a, at]), self.arm(&[b, at]));
        let what = format!("{m}: {} vs {}{}", arm_a.label, arm_b.label, context(at));
        let specs = vec![
            Spec {
                what: format!("{what}, no worse by {mg} or more"),
                metric: m.into(),
                kind: Kind::NoWorse { margin: mg },
                a: arm_a.clone(),
                b: arm_b.clone(),
                others: Vec::new(),
            },
            Spec {
                what: format!("{what}, worse by more than {mg}"),
                metric: m.into(),
                kind: Kind::Worse { margin: mg },
                a: arm_a,
                b: arm_b,
                others: Vec::new(),
            },
        ];
        let supported = Route::new(
            VerdictKind::Supported,
            vec![vec![(0, Want::NoWorse)]],
            |_, t| {
                format!(
                    "{} is shown no worse than {} beyond the margin",
                    t[0].a.label, t[0].b.label
                )
            },
        );
        let contradicted = Route::new(
            VerdictKind::Contradicted,
            vec![vec![(1, Want::Worse)]],
            |_, t| {
                format!(
                    "{} is shown worse than {} by more than the margin",
                    t[1].a.label, t[1].b.label
                )
            },
        );
        plan(
            self.name,
            self.study,
            "non-inferiority: supported when a one-sided Welch test shows the first arm worse than the second by less than the margin; contradicted when one shows it worse by more",
            specs,
            [supported, contradicted],
            "neither non-inferiority nor inferiority beyond the margin is shown",
        )
    }

    /// Going from `from` to `to` on `axis` improves the metric more with
    /// `larger` than with `smaller` (a contrast over four configurations).
    fn larger_effect(
        &self,
        axis: &str,
        (from, to): (&str, &str),
        larger: &Levels,
        smaller: &Levels,
        at: &Levels,
    ) -> Planned {
        let m = self.metric;
        let lv = |v: &str| vec![(axis.to_string(), v.to_string())];
        let (to_l, from_l) = (lv(to), lv(from));
        let a = self.arm(&[larger, &to_l, at]);
        let a0 = self.arm(&[larger, &from_l, at]);
        let b = self.arm(&[smaller, &to_l, at]);
        let b0 = self.arm(&[smaller, &from_l, at]);
        let what = format!(
            "{m}: effect of {axis} {from} -> {to} with {} vs with {}{}",
            a.label,
            b.label,
            context(at)
        );
        let spec = Spec {
            what,
            metric: m.into(),
            kind: Kind::Contrast,
            a,
            b,
            others: vec![a0, b0],
        };
        plan(
            self.name,
            self.study,
            "a difference of differences (Welch-Satterthwaite contrast over the four configurations, in the metric's better direction): supported when the effect is significantly larger where claimed, contradicted when significantly smaller",
            vec![spec],
            directions("the effect is significantly larger with"),
            "the difference between the two effects is not significant",
        )
    }
}

/// One test, two ways: supported when `a` shows better, contradicted when
/// `b` does, each said as `phrase` and the arm.
fn directions(phrase: &'static str) -> [Route; 2] {
    let say = move |t: &crate::Test, a: bool| {
        let arm = if a { &t.a.label } else { &t.b.label };
        if phrase.ends_with("with") {
            format!("{phrase} {arm}")
        } else {
            format!("{arm} {phrase}")
        }
    };
    [
        Route::new(
            VerdictKind::Supported,
            vec![vec![(0, Want::ABetter)]],
            move |_, t| say(t[0], true),
        ),
        Route::new(
            VerdictKind::Contradicted,
            vec![vec![(0, Want::BBetter)]],
            move |_, t| say(t[0], false),
        ),
    ]
}
