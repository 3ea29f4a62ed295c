//! The machinery every claim goes through: each planned comparison is tested,
//! all tests of the sweep are Holm-adjusted together, each test gets a decision
//! (a better, b better, equivalent, or open) and each claim's rule turns its
//! tests' decisions into a verdict.

use crate::looks::Looks;
use crate::model::{Decision, Judgement, Kind, Planned, Spec, Stat, Test, Verdict, VerdictKind};
use crate::stats::{self, Untestable};
use crate::{Input, builtin, custom};

/// Judges every claim of `input` together, and says for each open one what
/// more seeds would likely do (simulated: see `advice.rs`; slower than
/// [`judge`], which leaves `advice` empty).
pub fn judge_advised(input: &Input<'_>) -> Judgement {
    let mut j = judge(input);
    let advice = crate::advice::advise(input, &j);
    for (v, a) in j.verdicts.iter_mut().zip(advice) {
        v.advice = a;
    }
    j
}

/// Judges every claim of `input` together.
pub fn judge(input: &Input<'_>) -> Judgement {
    judge_look(input, &Looks::fixed(), 0, &[])
}

/// A claim settled at an earlier look: its verdict and tests as they were.
pub(crate) type Frozen = Option<(Verdict, Vec<Test>)>;

/// Judges every claim of `input` at look `k` of `looks`; a plan with an entry
/// in `frozen` keeps the verdict it settled with (its decided tests count as
/// rejected, its open ones as never rejecting).
pub(crate) fn judge_look(
    input: &Input<'_>,
    looks: &Looks,
    k: usize,
    frozen: &[Frozen],
) -> Judgement {
    let s = &input.settings;
    let alpha = s.alpha;
    // (built in, plan): the paper's claims first, then the sweep's own.
    let mut planned: Vec<(bool, Planned)> = Vec::new();
    if s.paper_claims {
        planned.extend(builtin::plans(input).into_iter().map(|p| (true, p)));
    }
    planned.extend(custom::plans(input).into_iter().map(|p| (false, p)));
    // Intervals at the look's own level: valid whenever the sweep stops.
    let ci_alpha = 2.0 * looks.nominal(k, alpha / 2.0);
    let (mut tests, owned) = test_all(&planned, ci_alpha, frozen);
    let family = decide(&mut tests, alpha, looks, k, &owned, frozen);
    estimate_seeds(&mut tests, input, family);
    let verdicts = planned
        .into_iter()
        .zip(owned)
        .enumerate()
        .map(|(i, ((builtin, p), mine))| match frozen.get(i) {
            Some(Some((v, _))) => Verdict {
                tests: mine,
                ..v.clone()
            },
            _ => verdict(builtin, p, mine, &tests),
        })
        .collect();
    Judgement {
        alpha,
        family,
        tests,
        verdicts,
    }
}

/// Every planned comparison's test, in plan order, and the indices of each
/// plan's own tests.
fn test_all(
    planned: &[(bool, Planned)],
    alpha: f64,
    frozen: &[Frozen],
) -> (Vec<Test>, Vec<Vec<usize>>) {
    let mut tests: Vec<Test> = Vec::new();
    let mut owned: Vec<Vec<usize>> = Vec::new();
    for (i, (_, p)) in planned.iter().enumerate() {
        let mut mine = Vec::new();
        if let Some(Some((_, kept))) = frozen.get(i) {
            mine.extend(tests.len()..tests.len() + kept.len());
            tests.extend(kept.iter().cloned());
        } else if let Planned::Plan { claim, specs, .. } = p {
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
    (tests, owned)
}

/// Holm-adjusts every testable test together and decides those significant at
/// `alpha`; returns the family's size. At look `k` of several, each p first
/// becomes the smallest overall level at which it crosses that look's
/// boundary; a frozen plan's decided tests enter as rejected, its open ones as
/// never rejecting.
fn decide(
    tests: &mut [Test],
    alpha: f64,
    looks: &Looks,
    k: usize,
    owned: &[Vec<usize>],
    frozen: &[Frozen],
) -> usize {
    let mut kept = vec![false; tests.len()];
    for (mine, f) in owned.iter().zip(frozen) {
        if f.is_some() {
            mine.iter().for_each(|i| kept[*i] = true);
        }
    }
    // Descriptive tests (trends) are shown, never adjusted or decided.
    let testable: Vec<usize> = (0..tests.len())
        .filter(|i| tests[*i].stat.is_ok() && !tests[*i].descriptive)
        .collect();
    let raw: Vec<f64> = (testable.iter())
        .map(|&i| {
            let t = &tests[i];
            match (&t.stat, kept[i]) {
                (_, true) if t.decision == Decision::Open => 1.0,
                (_, true) => 0.0,
                (Ok(Stat::Welch(w)), false) => looks.overall_two_sided(k, w.p),
                (Ok(stat), false) => looks.overall(k, stat.p()),
                (Err(_), false) => 1.0,
            }
        })
        .collect();
    let part = partition(tests, &testable);
    for (i, adj) in testable.iter().zip(stats::holm_partitioned(&raw, &part)) {
        if kept[*i] {
            continue;
        }
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
    testable.len()
}

/// Each testable difference or equivalence test's comparison (its metric and
/// its two arms' data, in either order) and side; None for other kinds. A
/// comparison's "no difference" and "differs by the margin or more" cannot
/// both hold, so the adjustment does not count them twice.
fn partition(tests: &[Test], testable: &[usize]) -> Vec<Option<(usize, stats::Side)>> {
    // An arm as a key: its label and its values' bits.
    type ArmKey = (String, Vec<u64>);
    let arm = |a: &crate::Arm| -> ArmKey {
        let bits = a.values.iter().map(|v| v.to_bits()).collect();
        (a.label.clone(), bits)
    };
    let mut keys: Vec<(String, ArmKey, ArmKey)> = Vec::new();
    (testable.iter())
        .map(|&i| {
            let t = &tests[i];
            let side = match t.kind {
                Kind::Difference => stats::Side::Difference,
                Kind::Equivalence { .. } => stats::Side::Equivalence,
                _ => return None,
            };
            let (a, b) = (arm(&t.a), arm(&t.b));
            let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
            let key = (t.metric.clone(), lo, hi);
            let at = keys.iter().position(|k| *k == key).unwrap_or_else(|| {
                keys.push(key);
                keys.len() - 1
            });
            Some((at, side))
        })
        .collect()
}

/// Seeds per arm that would likely settle each open test.
fn estimate_seeds(tests: &mut [Test], input: &Input<'_>, family: usize) {
    let s = &input.settings;
    // Seeds for open tests, at the first (strictest) step of Holm's procedure.
    let level = s.alpha / family.max(1) as f64;
    for t in tests {
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
            // More seeds cannot show equivalence (or no-worse) when the observed
            // difference already lies beyond the margin.
            Kind::Equivalence { margin } | Kind::NoWorse { margin } if beyond(t, margin) => None,
            Kind::Equivalence { margin } | Kind::NoWorse { margin } => {
                stats::seeds_for_equivalence(sd, margin, level, s.power)
            }
        };
    }
}

/// Whether an open equivalence (or no-worse) test's observed difference lies
/// beyond its margin: outside ±margin, or worse than it for no-worse.
fn beyond(t: &Test, margin: f64) -> bool {
    let Ok(stat) = &t.stat else { return false };
    let diff = stat.welch().diff;
    match t.kind {
        Kind::NoWorse { .. } => {
            let worse = if t.lower_is_better { diff } else { -diff };
            worse >= margin
        }
        _ => diff.abs() >= margin,
    }
}

/// A plan's verdict: its rule over its own tests (`mine`), or why it was not judged.
fn verdict(builtin: bool, p: Planned, mine: Vec<usize>, tests: &[Test]) -> Verdict {
    match p {
        Planned::NotJudged { claim, why } => Verdict {
            claim,
            builtin,
            verdict: VerdictKind::NotJudged,
            study: None,
            rule: String::new(),
            why,
            tests: Vec::new(),
            advice: None,
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
            Verdict {
                claim,
                builtin,
                verdict,
                study: Some(study),
                rule: rule_text,
                why,
                tests: mine,
                advice: None,
            }
        }
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
