//! The report's account of adaptive seeds: how the sweep spent its seeds, and
//! per claim the seeds per arm it was judged on, the look it stopped at and why.

use std::fmt::Write as _;

use ablate_spec::AdaptiveSeeds;
use ablate_verdict::{Sequential, StopReason};

use crate::format::esc;

/// The paragraph and table after the verdict table of an adaptive sweep.
pub fn markdown(seeds: &AdaptiveSeeds, s: &Sequential) -> String {
    let counts: Vec<String> = seeds.counts().iter().map(ToString::to_string).collect();
    let mut out = format!(
        "Adaptive seeds (`seeds = {{ min = {}, max = {}, step = {} }}`): every claim is judged after {} seeds per arm, each look at its own level so that the family-wise error over all looks and claims stays at alpha (alpha spent by the Lan-DeMets O'Brien-Fleming function; a p is shown adjusted to the overall level it needs at its look, and intervals are each look's repeated confidence intervals, valid whenever the sweep stops). A claim settled at a look keeps that verdict, and its trials get no more seeds; so does an open claim that few continuations of the sweep (its results so far, and more seeds drawn from them) would settle by the most seeds, which leaves its share of alpha unspent (`[report] futility`, docs/statistics.md). {} of at most {} looks judged{}.\n\n",
        seeds.min,
        seeds.max,
        seeds.step,
        counts.join(", "),
        s.looks_judged,
        s.looks,
        if s.done {
            "; every claim has stopped"
        } else {
            "; the sweep goes on: `ablate run` runs the next round"
        }
    );
    let _ = writeln!(out, "| claim | seeds per arm | look | why it stopped |");
    let _ = writeln!(out, "| --- | --- | --- | --- |");
    let judged = (s.judgement.verdicts.iter().zip(&s.stops))
        .filter(|(v, _)| v.verdict != ablate_verdict::VerdictKind::NotJudged);
    for (v, stop) in judged {
        let (n, look, why) = match stop {
            Some(st) => (
                st.seeds.to_string(),
                format!("{} of {}", st.look + 1, s.looks),
                match st.reason {
                    StopReason::Settled => format!("settled: {}", v.verdict),
                    StopReason::Max => "still open at max".to_string(),
                    StopReason::NotJudged => "not judged".to_string(),
                    StopReason::Futile => format!(
                        "stopped early, open: {:.0}% of simulated continuations to {} seeds per arm settle it",
                        100.0 * st.chance.unwrap_or(0.0),
                        seeds.max
                    ),
                },
            ),
            None => ("-".into(), "-".into(), "open: more seeds to come".into()),
        };
        let _ = writeln!(out, "| {} | {n} | {look} | {why} |", esc(&v.claim));
    }
    out.push('\n');
    out
}
