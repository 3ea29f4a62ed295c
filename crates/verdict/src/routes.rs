//! How a sweep's claims share alpha. Each claim has two routes, one to
//! "supported" and one to "contradicted"; a route's null hypothesis is that
//! its condition is false. A route is tested by intersection-union over the
//! tests one of its alternatives needs (each at the route's full level: all
//! must hold, so none adds error) and Bonferroni over its alternatives.
//!
//! The routes of all claims form one family under a sequentially rejective
//! weighted Bonferroni procedure (Goeman & Solari 2010; the graphical approach
//! of Bretz et al. 2009): half of alpha goes to the routes to "supported" and
//! half to those to "contradicted", equally per claim; a rejected route's
//! share goes to the routes of its kind still open (Holm within each kind),
//! and once every route of one kind is rejected, that half goes to the other
//! kind's. A route that can no longer succeed (a claim's other route once it
//! settled) thus holds only its own first share, never the shares others
//! pass on. The weights depend only on which routes are rejected, only grow
//! as more are, and never sum above one, so the chance of any wrong verdict
//! stays at alpha under any dependence between the tests.

use crate::looks::Looks;
use crate::model::{Decision, Kind, Route, Stat, Test, VerdictKind, Want};

/// A test's one-sided p for what `want` asks of it (two-sided for
/// `Differs`), as the overall level it needs at look `k`; 1 where the test
/// cannot show it.
pub(crate) fn component_p(t: &Test, want: Want, looks: &Looks, k: usize) -> f64 {
    let Ok(stat) = &t.stat else { return 1.0 };
    match (want, stat) {
        (Want::Differs, Stat::Welch(w)) => looks.overall_two_sided(k, w.p),
        (Want::ABetter | Want::BBetter, Stat::Welch(w)) => {
            let a_better = (w.diff < 0.0) == t.lower_is_better;
            let toward = a_better == (want == Want::ABetter);
            let one = if toward { w.p / 2.0 } else { 1.0 - w.p / 2.0 };
            looks.overall(k, one)
        }
        (Want::Equivalent, Stat::Tost(x)) => looks.overall(k, x.p),
        (Want::NoWorse, Stat::OneSided { p, .. }) if matches!(t.kind, Kind::NoWorse { .. }) => {
            looks.overall(k, *p)
        }
        (Want::Worse, Stat::OneSided { p, .. }) if matches!(t.kind, Kind::Worse { .. }) => {
            looks.overall(k, *p)
        }
        _ => 1.0,
    }
}

/// What a test shows when it holds as `want` asks.
pub(crate) fn decision(t: &Test, want: Want) -> Decision {
    match want {
        Want::ABetter => Decision::ABetter,
        Want::BBetter => Decision::BBetter,
        Want::Differs => match &t.stat {
            Ok(s) if (s.welch().diff < 0.0) == t.lower_is_better => Decision::ABetter,
            _ => Decision::BBetter,
        },
        Want::Equivalent => Decision::Equivalent,
        Want::NoWorse => Decision::NoWorse,
        Want::Worse => Decision::Worse,
    }
}

/// A route's p over the plan's tests (`own`, in plan order): the smallest of
/// its alternatives' (each the largest p among the tests it needs) times
/// their number; and the alternative behind it.
pub(crate) fn route_p(route: &Route, own: &[&Test], looks: &Looks, k: usize) -> (f64, usize) {
    if route.gate.as_ref().is_some_and(|g| !g(own)) {
        return (1.0, 0);
    }
    let n = route.alternatives.len().max(1) as f64;
    (route.alternatives.iter().enumerate())
        .map(|(i, alt)| {
            let p = (alt.iter())
                .map(|(t, want)| component_p(own[*t], *want, looks, k))
                .fold(0.0, f64::max);
            ((n * p).min(1.0), i)
        })
        .min_by(|a, b| a.0.total_cmp(&b.0))
        .unwrap_or((1.0, 0))
}

/// The route kinds that share alpha: half each.
fn kind(v: VerdictKind) -> usize {
    usize::from(v != VerdictKind::Supported)
}

/// Each route's share of alpha given which are rejected (see the module doc).
pub(crate) fn weights(kinds: &[VerdictKind], rejected: &[bool]) -> Vec<f64> {
    let total = kinds.len() as f64;
    let mut count = [0usize; 2];
    let mut done = [0usize; 2];
    for (v, r) in kinds.iter().zip(rejected) {
        count[kind(*v)] += 1;
        done[kind(*v)] += usize::from(*r);
    }
    (kinds.iter())
        .map(|v| {
            let (me, other) = (kind(*v), 1 - kind(*v));
            let mut mass = count[me] as f64 / total;
            if done[other] == count[other] {
                mass += count[other] as f64 / total;
            }
            let open = (count[me] - done[me]).max(1);
            mass / open as f64
        })
        .collect()
}

/// The procedure's result: per route, whether it is rejected at `alpha` and
/// its share of alpha (for a rejected route, the share it would hold were it
/// open and every other route as it ended).
pub(crate) struct Rejections {
    pub rejected: Vec<bool>,
    pub share: Vec<f64>,
}

/// Rejects routes with p-values `p` and kinds `kinds` at family-wise `alpha`.
pub(crate) fn reject(p: &[f64], kinds: &[VerdictKind], alpha: f64) -> Rejections {
    let mut rejected = vec![false; p.len()];
    loop {
        let w = weights(kinds, &rejected);
        let next: Vec<usize> = (0..p.len())
            .filter(|i| !rejected[*i] && p[*i] <= alpha * w[*i])
            .collect();
        if next.is_empty() {
            break;
        }
        next.into_iter().for_each(|i| rejected[i] = true);
    }
    let share = (0..p.len())
        .map(|i| {
            let mut others = rejected.clone();
            others[i] = false;
            weights(kinds, &others)[i]
        })
        .collect();
    Rejections { rejected, share }
}

#[cfg(test)]
mod tests {
    use super::*;
    use VerdictKind::{Contradicted as C, Supported as S};

    #[test]
    fn weights_start_equal_and_pass_within_their_kind() {
        let kinds = [S, C, S, C, S, C, S, C];
        let w = weights(&kinds, &[false; 8]);
        assert!(w.iter().all(|x| (x - 0.125).abs() < 1e-12), "{w:?}");
        let w = weights(
            &kinds,
            &[true, false, true, false, true, false, false, false],
        );
        assert!((w[6] - 0.5).abs() < 1e-12 && (w[1] - 0.125).abs() < 1e-12);
        // Every route to "supported" rejected: their half goes to the others.
        let w = weights(
            &kinds,
            &[true, false, true, false, true, false, true, false],
        );
        assert!((w[1] - 0.25).abs() < 1e-12, "{w:?}");
    }

    /// Weights only grow as more routes are rejected, and never sum above one:
    /// every subset of 3 claims' routes, against every superset.
    #[test]
    fn weights_are_monotone_and_sum_to_at_most_one() {
        let kinds = [S, C, S, C, S, C];
        let set = |bits: u32| -> Vec<bool> { (0..6).map(|i| bits >> i & 1 == 1).collect() };
        for a in 0u32..64 {
            let wa = weights(&kinds, &set(a));
            let open: f64 = (0..6).filter(|i| a >> i & 1 == 0).map(|i| wa[i]).sum();
            assert!(open <= 1.0 + 1e-12, "{a:b}: {open}");
            for b in (0u32..64).filter(|b| b & a == a) {
                let wb = weights(&kinds, &set(b));
                for i in (0..6).filter(|i| b >> i & 1 == 0) {
                    assert!(wb[i] >= wa[i] - 1e-12, "{a:b} -> {b:b}: route {i}");
                }
            }
        }
    }

    #[test]
    fn rejections_step_down_through_a_kind() {
        let kinds = [S, C, S, C];
        // 0.02 > 0.05/4 at first, but below 0.05/2 once the other is rejected.
        let r = reject(&[0.001, 0.9, 0.02, 0.9], &kinds, 0.05);
        assert_eq!(r.rejected, [true, false, true, false]);
        let r = reject(&[0.03, 0.9, 0.02, 0.9], &kinds, 0.05);
        assert_eq!(r.rejected, [false; 4]);
    }
}
