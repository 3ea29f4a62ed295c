//! The machinery every claim goes through: each planned comparison is tested,
//! each claim's two routes (to "supported", to "contradicted") get a p from
//! the tests they need, every route of the sweep is judged in one family
//! (`routes.rs`), and a claim's verdict is its rejected route's.

use crate::looks::Looks;
use crate::model::{Decision, Judgement, Kind, Planned, Spec, Stat, Test, Verdict, VerdictKind};
use crate::routes;
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
/// in `frozen` keeps the verdict it settled with (its route taken counts as
/// rejected, passing its share on; its other route never rejects).
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
    let mut taken = route_ps(&planned, &tests, &owned, looks, k, frozen);
    decide(
        &planned,
        &mut tests,
        &owned,
        &mut taken,
        alpha,
        (looks, k),
        frozen,
    );
    estimate_seeds(&planned, &mut tests, &owned, &taken, input);
    let family = taken.len();
    let verdicts = planned
        .into_iter()
        .zip(owned)
        .enumerate()
        .map(|(i, ((builtin, p), mine))| match frozen.get(i) {
            Some(Some((v, _))) => Verdict {
                tests: mine,
                ..v.clone()
            },
            _ => {
                let mine_taken: Vec<&Taken> = taken.iter().filter(|t| t.plan == i).collect();
                verdict(builtin, p, mine, &tests, &mine_taken)
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

/// Each route's p: a frozen plan's route to its verdict at 0 (it stays
/// rejected, passing its share on), its other route at 1.
fn route_ps(
    planned: &[(bool, Planned)],
    tests: &[Test],
    owned: &[Vec<usize>],
    looks: &Looks,
    k: usize,
    frozen: &[Frozen],
) -> Vec<Taken> {
    let mut out = Vec::new();
    for (i, (_, p)) in planned.iter().enumerate() {
        let Planned::Plan { routes, .. } = p else {
            continue;
        };
        let own: Vec<&Test> = owned[i].iter().map(|t| &tests[*t]).collect();
        for (r, route) in routes.iter().enumerate() {
            let (p, alt) = match frozen.get(i) {
                Some(Some((v, _))) if v.verdict == route.verdict => (0.0, 0),
                Some(Some(_)) => (1.0, 0),
                _ => routes::route_p(route, &own, looks, k),
            };
            out.push(Taken {
                plan: i,
                route: r,
                kind: route.verdict,
                p,
                alt,
                rejected: false,
                share: 0.0,
            });
        }
    }
    out
}

/// One route in the family: its plan and place, p, the alternative behind
/// its p, and what the procedure made of it.
pub(crate) struct Taken {
    plan: usize,
    route: usize,
    kind: VerdictKind,
    p: f64,
    alt: usize,
    rejected: bool,
    share: f64,
}

/// Runs the procedure over every route (see `routes.rs`); then each test of
/// a route not frozen gets its p against its route's share of alpha (the
/// smallest over the routes that use it), and the tests of a rejected
/// route's alternative their decisions.
fn decide(
    planned: &[(bool, Planned)],
    tests: &mut [Test],
    owned: &[Vec<usize>],
    taken: &mut [Taken],
    alpha: f64,
    (looks, k): (&Looks, usize),
    frozen: &[Frozen],
) {
    let p: Vec<f64> = taken.iter().map(|t| t.p).collect();
    let kinds: Vec<VerdictKind> = taken.iter().map(|t| t.kind).collect();
    let out = routes::reject(&p, &kinds, alpha);
    for (i, t) in taken.iter_mut().enumerate() {
        (t.rejected, t.share) = (out.rejected[i], out.share[i]);
    }
    for t in taken.iter() {
        if matches!(frozen.get(t.plan), Some(Some(_))) {
            continue;
        }
        let Planned::Plan { routes, .. } = &planned[t.plan].1 else {
            continue;
        };
        let route = &routes[t.route];
        let n = route.alternatives.len() as f64;
        for (a, alt) in route.alternatives.iter().enumerate() {
            for (ti, want) in alt {
                let test = &mut tests[owned[t.plan][*ti]];
                let adj = (routes::component_p(test, *want, looks, k) * n / t.share).min(1.0);
                test.adjusted_p = Some(test.adjusted_p.map_or(adj, |x| x.min(adj)));
                if t.rejected && a == t.alt {
                    test.decision = routes::decision(test, *want);
                }
            }
        }
    }
}

/// Seeds per arm that would likely settle each open test, at the one-sided
/// level its route gives it.
fn estimate_seeds(
    planned: &[(bool, Planned)],
    tests: &mut [Test],
    owned: &[Vec<usize>],
    taken: &[Taken],
    input: &Input<'_>,
) {
    let s = &input.settings;
    let mut level = vec![0.0f64; tests.len()];
    for t in taken {
        let Planned::Plan { routes, .. } = &planned[t.plan].1 else {
            continue;
        };
        let alts = &routes[t.route].alternatives;
        for (ti, _) in alts.iter().flatten() {
            let l = &mut level[owned[t.plan][*ti]];
            *l = l.max(s.alpha * t.share / alts.len() as f64);
        }
    }
    for (t, level) in tests.iter_mut().zip(level) {
        let passes = t.adjusted_p.is_some_and(|p| p <= s.alpha);
        if t.decision != Decision::Open || t.descriptive || level <= 0.0 || passes {
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
            // Two-sided at twice the level: one-sided at the level.
            Kind::Difference | Kind::Worse { .. } => {
                stats::seeds_for_difference(sd, effect, 2.0 * level, s.power)
            }
            // Four arms: each contrast term carries an arm's variance.
            Kind::Contrast | Kind::Trend => {
                stats::seeds_for_difference(sd * 2f64.sqrt(), effect, 2.0 * level, s.power)
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

/// A plan's verdict: its first rejected route's (supported before
/// contradicted), or inconclusive; or why it was not judged.
fn verdict(
    builtin: bool,
    p: Planned,
    mine: Vec<usize>,
    tests: &[Test],
    taken: &[&Taken],
) -> Verdict {
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
            routes,
            open,
            ..
        } => {
            let own: Vec<&Test> = mine.iter().map(|i| &tests[*i]).collect();
            let (verdict, why) = match taken.iter().find(|t| t.rejected) {
                Some(t) => (t.kind, (routes[t.route].why)(t.alt, &own)),
                None => (VerdictKind::Inconclusive, open),
            };
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
