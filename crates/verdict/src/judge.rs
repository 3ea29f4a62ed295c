//! The machinery every claim goes through: each planned comparison is tested,
//! all tests of the sweep are Holm-adjusted together, each test gets a decision
//! (a better, b better, equivalent, or open) and each claim's rule turns its
//! tests' decisions into a verdict.

use crate::arms::Arm;
use crate::stats::{self, Tost, Untestable, Welch};
use crate::{Input, builtin, custom};

#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub enum Kind {
    /// Two-sided Welch test of a difference.
    Difference,
    /// TOST: the difference lies within ±margin.
    Equivalence { margin: f64 },
    /// One-sided: `a` is not worse than `b` by `margin` or more (non-inferiority).
    NoWorse { margin: f64 },
    /// One-sided: `a` is worse than `b` by more than `margin`.
    Worse { margin: f64 },
    /// A difference of differences over four arms (`a`, `others[0]`, `b`,
    /// `others[1]`), oriented so positive means a larger improvement on the `a` side.
    Contrast,
    /// A linear trend over ordered arms (`others`, shallow to deep), oriented so
    /// positive is improvement; its estimate is the gain per step. Descriptive:
    /// never in the family, never decides.
    Trend,
}

#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub enum Stat {
    Welch(Welch),
    Tost(Tost),
    /// A one-sided test against a bound, with its p.
    OneSided {
        welch: Welch,
        bound: f64,
        p: f64,
    },
}

impl Stat {
    pub fn p(&self) -> f64 {
        match self {
            Stat::Welch(w) => w.p,
            Stat::Tost(t) => t.p,
            Stat::OneSided { p, .. } => *p,
        }
    }

    pub fn welch(&self) -> &Welch {
        match self {
            Stat::Welch(w) | Stat::OneSided { welch: w, .. } => w,
            Stat::Tost(t) => &t.welch,
        }
    }
}

/// What a test shows after the family-wise adjustment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Decision {
    /// `a` is significantly better than `b` (by the metric's direction).
    ABetter,
    BBetter,
    /// The difference is shown to lie within the smallest effect of interest.
    Equivalent,
    /// `a` is shown not worse than `b` by the margin or more.
    NoWorse,
    /// `a` is shown worse than `b` by more than the margin.
    Worse,
    /// Not shown either way.
    Open,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Test {
    pub claim: String,
    /// What is compared, e.g. `age_mae: depth = vgg11 vs vgg7 (pretrain = none)`.
    pub what: String,
    pub metric: String,
    pub lower_is_better: bool,
    pub kind: Kind,
    pub a: Arm,
    pub b: Arm,
    /// A contrast's other two arms (the `from` level on each side).
    pub others: Vec<Arm>,
    pub stat: Result<Stat, Untestable>,
    /// Holm-adjusted over every test of the sweep.
    pub adjusted_p: Option<f64>,
    pub decision: Decision,
    /// Seeds per arm that would likely settle an open test (power calculation
    /// from the observed spread and the smallest effect of interest).
    pub seeds_needed: Option<usize>,
    /// Shown for information only: left out of the family and of every rule.
    pub descriptive: bool,
}

impl Test {
    /// `a`'s improvement over `b` in standardised units (positive: a better).
    pub fn standardised_gain(&self) -> Option<f64> {
        let g = self.stat.as_ref().ok()?.welch().g;
        Some(if self.lower_is_better { -g } else { g })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum VerdictKind {
    Supported,
    Contradicted,
    Inconclusive,
    /// The sweep lacks what the claim needs (no matching study, wrong condition).
    NotJudged,
}

impl std::fmt::Display for VerdictKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            VerdictKind::Supported => "supported",
            VerdictKind::Contradicted => "contradicted",
            VerdictKind::Inconclusive => "inconclusive",
            VerdictKind::NotJudged => "not judged",
        })
    }
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Verdict {
    pub claim: String,
    /// One of the paper's built-in claims (else the sweep's own `[[claim]]`).
    pub builtin: bool,
    pub verdict: VerdictKind,
    /// The study it was judged on.
    pub study: Option<String>,
    /// The rule, in words (docs/statistics.md has each one).
    pub rule: String,
    /// Why this verdict, in words.
    pub why: String,
    /// Indices into `Judgement::tests`.
    pub tests: Vec<usize>,
    /// For an inconclusive verdict: seeds per arm that would likely settle it.
    pub seeds_needed: Option<usize>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Judgement {
    pub alpha: f64,
    /// How many tests the adjustment covered.
    pub family: usize,
    pub tests: Vec<Test>,
    pub verdicts: Vec<Verdict>,
}

/// A comparison a claim asks for.
pub(crate) struct Spec {
    pub what: String,
    pub metric: String,
    pub kind: Kind,
    pub a: Arm,
    pub b: Arm,
    pub others: Vec<Arm>,
}

impl Spec {
    pub fn descriptive(&self) -> bool {
        self.kind == Kind::Trend
    }
}

/// A claim's rule over its tests (in plan order): the verdict and why.
pub(crate) type Rule = Box<dyn Fn(&[&Test]) -> (VerdictKind, String)>;

pub(crate) enum Planned {
    Plan {
        claim: String,
        study: String,
        rule_text: String,
        specs: Vec<Spec>,
        rule: Rule,
    },
    NotJudged {
        claim: String,
        why: String,
    },
}

/// Judges every claim of `input` together.
pub fn judge(input: &Input<'_>) -> Judgement {
    let s = &input.settings;
    let alpha = s.alpha;
    // (built in, plan): the paper's claims first, then the sweep's own.
    let mut planned: Vec<(bool, Planned)> = Vec::new();
    if s.paper_claims {
        planned.extend(builtin::plans(input).into_iter().map(|p| (true, p)));
    }
    planned.extend(custom::plans(input).into_iter().map(|p| (false, p)));
    let mut tests: Vec<Test> = Vec::new();
    let mut owned: Vec<Vec<usize>> = Vec::new();
    for (_, p) in &planned {
        let mut mine = Vec::new();
        if let Planned::Plan { claim, specs, .. } = p {
            for spec in specs {
                let lower = crate::lower_is_better(&spec.metric).unwrap_or(false);
                let stat = compute(spec, lower, alpha);
                mine.push(tests.len());
                tests.push(Test {
                    claim: claim.clone(),
                    what: spec.what.clone(),
                    metric: spec.metric.clone(),
                    // A contrast is oriented already: positive is better.
                    lower_is_better: lower && !matches!(spec.kind, Kind::Contrast | Kind::Trend),
                    kind: spec.kind,
                    a: spec.a.clone(),
                    b: spec.b.clone(),
                    others: spec.others.clone(),
                    stat,
                    adjusted_p: None,
                    decision: Decision::Open,
                    seeds_needed: None,
                    descriptive: spec.descriptive(),
                });
            }
        }
        owned.push(mine);
    }
    // Descriptive tests (trends) are shown, never adjusted or decided.
    let testable: Vec<usize> = (0..tests.len())
        .filter(|i| tests[*i].stat.is_ok() && !tests[*i].descriptive)
        .collect();
    let raw: Vec<f64> = testable
        .iter()
        .filter_map(|i| tests[*i].stat.as_ref().ok().map(Stat::p))
        .collect();
    let family = testable.len();
    for (i, adj) in testable.iter().zip(stats::holm(&raw)) {
        let t = &mut tests[*i];
        t.adjusted_p = Some(adj);
        if adj <= alpha
            && let Ok(stat) = &t.stat
        {
            t.decision = match stat {
                Stat::Tost(_) => Decision::Equivalent,
                Stat::OneSided { .. } if matches!(t.kind, Kind::NoWorse { .. }) => {
                    Decision::NoWorse
                }
                Stat::OneSided { .. } => Decision::Worse,
                Stat::Welch(w) => {
                    if (w.diff < 0.0) == t.lower_is_better {
                        Decision::ABetter
                    } else {
                        Decision::BBetter
                    }
                }
            };
        }
    }
    // Seeds for open tests, at the first (strictest) step of Holm's procedure.
    let level = alpha / family.max(1) as f64;
    for t in &mut tests {
        if t.decision != Decision::Open || t.descriptive {
            continue;
        }
        let sd = match &t.stat {
            Ok(s) => s.welch().pooled_sd,
            Err(_) => pooled(&t.a.values, &t.b.values),
        };
        let Some(effect) = s.smallest_effect.get(&t.metric).copied() else {
            continue;
        };
        t.seeds_needed = match t.kind {
            Kind::Difference | Kind::Worse { .. } => {
                stats::seeds_for_difference(sd, effect, level, s.power)
            }
            // Four arms: each contrast term carries an arm's variance.
            Kind::Contrast | Kind::Trend => {
                stats::seeds_for_difference(sd * 2f64.sqrt(), effect, level, s.power)
            }
            Kind::Equivalence { margin } | Kind::NoWorse { margin } => {
                stats::seeds_for_equivalence(sd, margin, level, s.power)
            }
        };
    }
    let verdicts = planned
        .into_iter()
        .zip(owned)
        .map(|((builtin, p), mine)| match p {
            Planned::NotJudged { claim, why } => Verdict {
                claim,
                builtin,
                verdict: VerdictKind::NotJudged,
                study: None,
                rule: String::new(),
                why,
                tests: Vec::new(),
                seeds_needed: None,
            },
            Planned::Plan {
                claim,
                study,
                rule_text,
                rule,
                ..
            } => {
                let own: Vec<&Test> = mine.iter().map(|i| &tests[*i]).collect();
                let (verdict, why) = rule(&own);
                let seeds_needed = (verdict == VerdictKind::Inconclusive)
                    .then(|| own.iter().filter_map(|t| t.seeds_needed).max())
                    .flatten();
                Verdict {
                    claim,
                    builtin,
                    verdict,
                    study: Some(study),
                    rule: rule_text,
                    why,
                    tests: mine,
                    seeds_needed,
                }
            }
        })
        .collect();
    Judgement {
        alpha,
        family,
        tests,
        verdicts,
    }
}

/// The statistic of one planned comparison.
fn compute(spec: &Spec, lower_is_better: bool, alpha: f64) -> Result<Stat, Untestable> {
    let (a, b) = (&spec.a.values, &spec.b.values);
    // "Worse" is a positive difference where lower is better, a negative one otherwise.
    let worse_sign = if lower_is_better { 1.0 } else { -1.0 };
    match spec.kind {
        Kind::Difference => stats::welch(a, b, alpha).map(Stat::Welch),
        Kind::Equivalence { margin } => stats::tost(a, b, margin, alpha).map(Stat::Tost),
        Kind::NoWorse { margin } => {
            // H0: a is worse by the margin or more; rejecting shows it is not.
            let (welch, p) = stats::one_sided(a, b, worse_sign * margin, !lower_is_better, alpha)?;
            Ok(Stat::OneSided {
                welch,
                bound: worse_sign * margin,
                p,
            })
        }
        Kind::Worse { margin } => {
            let (welch, p) = stats::one_sided(a, b, worse_sign * margin, lower_is_better, alpha)?;
            Ok(Stat::OneSided {
                welch,
                bound: worse_sign * margin,
                p,
            })
        }
        Kind::Trend => {
            let dir = if lower_is_better { -1.0 } else { 1.0 };
            let k = spec.others.len() as f64;
            // Centred step numbers, scaled so the estimate is the gain per step.
            let c: Vec<f64> = (0..spec.others.len())
                .map(|i| i as f64 - (k - 1.0) / 2.0)
                .collect();
            let norm: f64 = c.iter().map(|x| x * x).sum();
            let arms: Vec<(&[f64], f64)> = spec
                .others
                .iter()
                .zip(&c)
                .map(|(arm, ci)| (arm.values.as_slice(), dir * ci / norm))
                .collect();
            stats::contrast(&arms, alpha).map(Stat::Welch)
        }
        Kind::Contrast => {
            let dir = if lower_is_better { -1.0 } else { 1.0 };
            let (Some(a0), Some(b0)) = (spec.others.first(), spec.others.get(1)) else {
                return Err(Untestable::TooFew { a: 0, b: 0 });
            };
            stats::contrast(
                &[(a, dir), (&a0.values, -dir), (b, -dir), (&b0.values, dir)],
                alpha,
            )
            .map(Stat::Welch)
        }
    }
}

/// Pooled standard deviation of whatever the arms have (NaN with too little).
fn pooled(a: &[f64], b: &[f64]) -> f64 {
    let parts: Vec<(f64, f64)> = [a, b]
        .iter()
        .filter(|x| x.len() >= 2)
        .map(|x| (stats::mean_sd(x).1, x.len() as f64 - 1.0))
        .collect();
    let dof: f64 = parts.iter().map(|p| p.1).sum();
    if dof <= 0.0 {
        return f64::NAN;
    }
    (parts.iter().map(|(sd, d)| sd * sd * d).sum::<f64>() / dof).sqrt()
}
