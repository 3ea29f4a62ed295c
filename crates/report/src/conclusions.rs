//! The verdicts section: the report's trials handed to `ablate-verdict` (which
//! judges every claim with one family-wise error control), and its judgement
//! written out: a verdict table first, then each claim's rule and every test.

use std::fmt::Write as _;

use ablate_verdict::{Advice, Decision, Judgement, Kind, Stat, Test, Verdict, VerdictKind};

use crate::configs::{judge, judge_advised};
use crate::format::{esc, p_text};
use crate::input::Input;

fn num(x: f64) -> String {
    if !x.is_finite() {
        return "-".into();
    }
    let a = x.abs();
    if a != 0.0 && !(0.001..10_000.0).contains(&a) {
        format!("{x:.2e}")
    } else if a < 1.0 {
        format!("{x:.4}")
    } else {
        format!("{x:.3}")
    }
}

fn p_is(name: &str, p: f64) -> String {
    let t = p_text(p);
    if t.starts_with('<') {
        format!("{name} {t}")
    } else {
        format!("{name} = {t}")
    }
}

fn sentence(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
        .unwrap_or_default()
}

/// The test that says most about a verdict: the smallest adjusted p.
fn key<'a>(j: &'a Judgement, v: &Verdict) -> Option<&'a Test> {
    v.tests
        .iter()
        .map(|i| &j.tests[*i])
        .filter(|t| t.adjusted_p.is_some())
        .min_by(|a, b| {
            a.adjusted_p
                .unwrap_or(1.0)
                .total_cmp(&b.adjusted_p.unwrap_or(1.0))
        })
        .or_else(|| v.tests.first().map(|i| &j.tests[*i]))
}

fn decision(t: &Test) -> String {
    match t.decision {
        Decision::ABetter => format!("{} better", t.a.label),
        Decision::BBetter => format!("{} better", t.b.label),
        Decision::Equivalent => "equivalent".into(),
        Decision::NoWorse => format!("{} no worse", t.a.label),
        Decision::Worse => format!("{} worse", t.a.label),
        Decision::Open => "open".into(),
    }
}

/// A descriptive trend: the gain per step, its interval, in seed sds.
fn trend_line(t: &Test) -> String {
    let n: Vec<String> = t
        .others
        .iter()
        .map(|a| a.values.len().to_string())
        .collect();
    let body = match &t.stat {
        Err(why) => format!("not computable: {why}"),
        Ok(stat) => {
            let w = stat.welch();
            format!(
                "gain per step {} [95% CI {}, {}], {:.2} seed standard deviations per step",
                num(w.diff),
                num(w.ci.0),
                num(w.ci.1),
                w.g
            )
        }
    };
    format!(
        "{}: {body}; N = {} (descriptive, not among the adjusted tests)",
        esc(&t.what),
        n.join(", ")
    )
}

/// One test, in full.
fn test_line(t: &Test, power: f64, alpha: f64) -> String {
    if t.kind == Kind::Trend {
        return trend_line(t);
    }
    let n = format!("N = {} vs {}", t.a.values.len(), t.b.values.len());
    let missing = t.a.incomplete + t.b.incomplete;
    let missing = if missing > 0 {
        format!(" ({missing} seed(s) unfinished, left out)")
    } else {
        String::new()
    };
    let body = match &t.stat {
        Err(why) => format!("not testable: {why}; {n}{missing}"),
        Ok(stat) => {
            let w = stat.welch();
            let test = match (stat, t.kind) {
                (Stat::Tost(x), Kind::Equivalence { margin }) => format!(
                    "TOST within ±{} (Welch; lower {}, upper {}), {}",
                    num(margin),
                    p_is("p", x.p_lower),
                    p_is("p", x.p_upper),
                    p_is("p", x.p)
                ),
                (Stat::OneSided { bound, p, .. }, _) => format!(
                    "one-sided Welch t({:.1}) against a difference of {}, {}",
                    w.df,
                    num(*bound),
                    p_is("p", *p)
                ),
                (_, Kind::Contrast) => format!(
                    "Welch-Satterthwaite contrast t({:.1}) = {:.2}, {}",
                    w.df,
                    w.t,
                    p_is("p", w.p)
                ),
                _ => format!("Welch t({:.1}) = {:.2}, {}", w.df, w.t, p_is("p", w.p)),
            };
            let level = if matches!(
                t.kind,
                Kind::Equivalence { .. } | Kind::NoWorse { .. } | Kind::Worse { .. }
            ) {
                "90%"
            } else {
                "95%"
            };
            format!(
                "difference {} [{level} CI {}, {}], Hedges g {:.2}; {test}, {}; {n}{missing}",
                num(w.diff),
                num(w.ci.0),
                num(w.ci.1),
                w.g,
                t.adjusted_p
                    .map_or("adjusted p -".into(), |p| p_is("adjusted p", p))
            )
        }
    };
    let seeds = t
        .seeds_needed
        .map(|s| {
            let pct = (100.0 * power).round();
            format!("; about {s} seeds per arm would give it {pct}% power")
        })
        .unwrap_or_default();
    let shown = if t.decision == Decision::Open && t.adjusted_p.is_some_and(|p| p <= alpha) {
        "passes at its route's level (the route waits on its other tests)".to_string()
    } else {
        decision(t)
    };
    format!("{}: {body} → {}{seeds}", esc(&t.what), esc(&shown))
}

/// A verdict as the report shows it: settled only when it does not rest on
/// flagged (degenerate) runs.
struct Shown<'a> {
    v: &'a Verdict,
    verdict: VerdictKind,
    /// What the flagged runs behind it do to it, if there are any.
    flagged: Option<String>,
}

/// Each verdict with what leaving out its study's flagged runs does to it:
/// a supported or contradicted verdict that would change without them is
/// shown as inconclusive, saying so in its own row.
fn shown<'a>(input: &Input, all: &'a Judgement, kept: &Judgement) -> Vec<Shown<'a>> {
    all.verdicts
        .iter()
        .zip(&kept.verdicts)
        .map(|(v, k)| {
            let n = v.study.as_ref().map_or(0, |s| {
                input
                    .results
                    .trials
                    .iter()
                    .filter(|t| t.kind == ablate_spec::TrialKind::Train && t.degenerate.is_some())
                    .filter(|t| t.in_study(s))
                    .count()
            });
            let settled = matches!(
                v.verdict,
                VerdictKind::Supported | VerdictKind::Contradicted
            );
            let (runs, them) = if n == 1 {
                ("1 flagged run".to_string(), "it")
            } else {
                (format!("{n} flagged runs"), "them")
            };
            let (verdict, flagged) = match n {
                0 => (v.verdict, None),
                _ if v.verdict == k.verdict => (
                    v.verdict,
                    Some(format!("{runs} in its study; the same without {them}")),
                ),
                _ if settled => (
                    VerdictKind::Inconclusive,
                    Some(format!(
                        "{} only with the {runs} of its study, {} without {them}: not settled",
                        v.verdict, k.verdict
                    )),
                ),
                _ => (
                    v.verdict,
                    Some(format!("{runs} in its study; {} without {them}", k.verdict)),
                ),
            };
            Shown {
                v,
                verdict,
                flagged,
            }
        })
        .collect()
}

/// One row of the verdict table.
fn row(j: &Judgement, s: &Shown<'_>) -> String {
    let v = s.v;
    let (what, diff, adj, n) = match key(j, v) {
        Some(t) => {
            let diff = t.stat.as_ref().ok().map_or("-".into(), |s| {
                let w = s.welch();
                format!("{} [{}, {}]", num(w.diff), num(w.ci.0), num(w.ci.1))
            });
            (
                esc(&t.what),
                diff,
                t.adjusted_p.map_or("-".into(), p_text),
                format!("{} vs {}", t.a.values.len(), t.b.values.len()),
            )
        }
        None => ("-".into(), "-".into(), "-".into(), "-".into()),
    };
    let seeds = v.advice.as_ref().map_or("-".into(), advice_cell);
    let note = s
        .flagged
        .as_ref()
        .map(|f| format!(" ({})", esc(f)))
        .unwrap_or_default();
    format!(
        "| {} | **{}**{note} | {what} | {diff} | {adj} | {n} | {seeds} |",
        esc(&v.claim),
        s.verdict
    )
}

/// The verdicts section of report.md: the sweep's own claims first, then the
/// paper's where its studies can judge them, one line for those they cannot.
/// `forests`: the forest plots of the tests, shown after the table.
pub fn markdown(input: &Input, forests: &[&crate::charts::Chart]) -> String {
    // An adaptive sweep's judgement comes with where each claim stopped.
    let seq = crate::configs::sequential(input, true);
    let all = seq
        .as_ref()
        .map_or_else(|| judge_advised(input), |s| s.judgement.clone());
    let mut rest = input.clone();
    rest.results.trials.retain(|t| t.degenerate.is_none());
    let kept = judge(&rest);
    let shown = shown(input, &all, &kept);
    let hours = &input.results.provenance.study_hours;
    let mut order: Vec<&Shown<'_>> = shown.iter().filter(|s| !s.v.builtin).collect();
    order.extend(
        shown
            .iter()
            .filter(|s| s.v.builtin && s.v.verdict != VerdictKind::NotJudged),
    );
    let not_judged: Vec<&Verdict> = all
        .verdicts
        .iter()
        .filter(|v| v.builtin && v.verdict == VerdictKind::NotJudged)
        .collect();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "## Verdicts on the claims of {}
",
        esc(&input.results.sweep)
    );
    if order.is_empty() {
        let _ = writeln!(
            out,
            "This sweep states no claims of its own (`[[claim]]` in the sweep file, docs/sweep.md), and its studies can judge none of the paper's.
"
        );
    } else {
        if !all.tests.iter().any(|t| t.stat.is_ok() && !t.descriptive) {
            out.push_str("No test behind these verdicts could be computed yet (each needs at least 2 finished seeds per arm). ");
        }
        let _ = writeln!(
            out,
            "Each judged claim has two routes, one to \"supported\" and one to \"contradicted\", and all {} routes are judged together (weighted Holm over the routes, each needing all its tests at its level; family-wise error rate {}): a verdict is \"supported\" or \"contradicted\" only when its route is taken, and \"no difference\" only when an equivalence test (TOST, within the smallest effect of interest) shows it; one that rests on runs flagged degenerate is not settled. A test's adjusted p is its p for what its route needs of it over its route's share of alpha. The rules are in docs/statistics.md.\n",
            all.family, all.alpha
        );
        let _ = writeln!(
            out,
            "| claim | verdict | key comparison | difference [CI] | adjusted p | N | seeds per arm to settle |"
        );
        let _ = writeln!(out, "| --- | --- | --- | --- | --- | --- | --- |");
        for s in &order {
            let _ = writeln!(out, "{}", row(&all, s));
        }
        out.push('\n');
        if let (Some(seeds), Some(seq)) = (&input.adaptive, &seq) {
            out.push_str(&crate::rounds::markdown(seeds, seq));
        }
    }
    if !not_judged.is_empty() {
        let list: Vec<String> = not_judged
            .iter()
            .map(|v| format!("\"{}\" ({})", esc(&v.claim), esc(&v.why)))
            .collect();
        let _ = writeln!(
            out,
            "Not judged on this sweep, for want of the studies they need: the paper's {} ([report] paper_claims = false leaves them out).\n",
            list.join("; ")
        );
    }
    for c in forests {
        let _ = writeln!(out, "![{}]({}.png)\n", esc(&c.title), c.name);
    }
    for s in &order {
        let v = s.v;
        let study = v
            .study
            .as_ref()
            .map(|s| match hours.get(s) {
                Some(h) => format!(" Study `{}` ({h:.2} compute hours).", esc(s)),
                None => format!(" Study `{}`.", esc(s)),
            })
            .unwrap_or_default();
        let settle = v.advice.as_ref().map(advice_text).unwrap_or_default();
        let flagged = s
            .flagged
            .as_ref()
            .map(|f| format!(" {}.", esc(&sentence(f))))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "- **{}**: {}.{study} {}.{flagged}{settle}",
            esc(&v.claim),
            s.verdict,
            esc(&sentence(&v.why))
        );
        if !v.rule.is_empty() {
            let _ = writeln!(out, "  - Rule: {}.", esc(&v.rule));
        }
        for i in &v.tests {
            let _ = writeln!(
                out,
                "  - {}",
                test_line(&all.tests[*i], input.settings.power, all.alpha)
            );
        }
    }
    out.push('\n');
    out
}

/// The verdict table's "seeds per arm to settle" cell.
fn advice_cell(a: &Advice) -> String {
    match (a.seeds, a.route) {
        (Some(n), Some(r)) => format!("{n} ({r})"),
        _ => format!("over {}", a.tried),
    }
}

/// What more seeds would likely do, in a sentence after the verdict.
fn advice_text(a: &Advice) -> String {
    let pct = (100.0 * a.chance).round();
    let how = format!(
        "of {} sweeps simulated with this sweep's means and spreads taken as the truth",
        a.draws
    );
    let half = match a.half {
        Some(h) if a.seeds != Some(h) => format!(", and half settle it by {h}"),
        _ => String::new(),
    };
    match (a.seeds, a.route) {
        (Some(n), Some(r)) => format!(
            " About {n} seeds per arm would likely settle it as {r}: {pct}% {how} do at {n}{half}."
        ),
        (None, Some(r)) => format!(
            " More seeds alone are unlikely to settle it: at {} seeds per arm, {pct}% {how} settle it as {r}{half}.",
            a.tried
        ),
        (None, None) | (Some(_), None) => format!(
            " More seeds alone are unlikely to settle it: at {} seeds per arm, none {how} settles it.",
            a.tried
        ),
    }
}
