//! What judging works on and produces, below the code that plans and judges
//! claims: the comparisons a claim plans (`Spec`, `Rule`, `Planned`), and the
//! tests, decisions and verdicts that come out (`Test`, `Decision`, `Verdict`,
//! `Judgement`). `judge`, `builtin` and `custom` all use these; this module uses
//! none of them.

use crate::arms::Arm;
use crate::stats::{Tost, Untestable, Welch};

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
    /// For an inconclusive verdict: what more seeds would likely do
    /// ([`crate::judge_advised`] fills it in).
    pub advice: Option<Advice>,
}

/// What more seeds would likely do to an open claim, from sweeps simulated at
/// more seeds (see `advice.rs`).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Advice {
    /// Seeds per arm at which it settles in at least `[report] power` of the
    /// simulated sweeps; None when no count tried does.
    pub seeds: Option<usize>,
    /// The verdict those sweeps reach (supported or contradicted); None when
    /// no simulated sweep settles it.
    pub route: Option<VerdictKind>,
    /// The share of simulated sweeps settled that way: at `seeds`, or at the
    /// largest count tried.
    pub chance: f64,
    /// The smallest count at which at least half the simulated sweeps settle
    /// it (either way): with `seeds`, the spread of what more seeds may take.
    pub half: Option<usize>,
    /// The largest count tried.
    pub tried: usize,
    /// Simulated sweeps per count.
    pub draws: usize,
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

/// What one test must show for a route: a direction of a difference (one
/// sided), a difference either way, equivalence, non-inferiority or inferiority.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Want {
    ABetter,
    BBetter,
    Differs,
    Equivalent,
    NoWorse,
    Worse,
}

/// Why a route held, in words: given the alternative that held and the plan's
/// tests (in plan order).
pub(crate) type Why = Box<dyn Fn(usize, &[&Test]) -> String>;

/// A further condition on a route's tests (an estimate, not a test): when it
/// fails, the route cannot be taken, which only lowers its error.
pub(crate) type Gate = Box<dyn Fn(&[&Test]) -> bool>;

/// One way a claim can be settled: the verdict it gives, when any one of its
/// alternatives holds, each a set of tests (indices into the plan's specs)
/// that must all show what is wanted (an intersection-union test).
pub(crate) struct Route {
    pub verdict: VerdictKind,
    pub alternatives: Vec<Vec<(usize, Want)>>,
    pub why: Why,
    pub gate: Option<Gate>,
}

impl Route {
    pub fn new(
        verdict: VerdictKind,
        alternatives: Vec<Vec<(usize, Want)>>,
        why: impl Fn(usize, &[&Test]) -> String + 'static,
    ) -> Route {
        Route {
            verdict,
            alternatives,
            why: Box::new(why),
            gate: None,
        }
    }
}

pub(crate) enum Planned {
    Plan {
        claim: String,
        study: String,
        rule_text: String,
        specs: Vec<Spec>,
        /// Its route to "supported", then its route to "contradicted".
        routes: [Route; 2],
        /// Why it is inconclusive when no route holds.
        open: String,
    },
    NotJudged {
        claim: String,
        why: String,
    },
}
