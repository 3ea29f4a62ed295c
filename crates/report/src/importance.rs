//! Factor importance per study and metric: the type II ANOVA of `ablate-verdict`
//! on one value per seed and configuration, written as a table with partial eta
//! squared and each factor's reach in seed standard deviations.

use std::fmt::Write as _;

use ablate_verdict::anova::{Row, anova};

use crate::configs::{configs, metrics_of};
use crate::format::esc;
use crate::format::p_text;
use crate::input::Input;

/// The "Factor importance" part of one study, or nothing when no metric has an
/// ANOVA (fewer than two levels of every factor, or no residual degrees of freedom).
pub fn study(input: &Input, name: &str, axes: &[String]) -> String {
    let cs = configs(input, name, axes);
    let mut out = String::new();
    for m in metrics_of(&cs) {
        // One row per complete seed of each configuration that has the metric.
        let mut rows: Vec<(Vec<String>, f64)> = Vec::new();
        for c in &cs {
            let arm = c.arm(m);
            let levels: Vec<String> = c.key.iter().map(|(_, v)| v.clone()).collect();
            rows.extend(arm.values.iter().map(|v| (levels.clone(), *v)));
        }
        // Factors that vary among the rows that have this metric.
        let keep: Vec<usize> = (0..axes.len())
            .filter(|i| {
                let mut l: Vec<&String> = rows.iter().map(|r| &r.0[*i]).collect();
                l.sort();
                l.dedup();
                l.len() > 1
            })
            .collect();
        let factors: Vec<String> = keep.iter().map(|i| axes[*i].clone()).collect();
        let rows: Vec<Row> = rows
            .iter()
            .map(|(l, v)| Row {
                levels: keep.iter().map(|i| l[*i].clone()).collect(),
                value: *v,
            })
            .collect();
        let Some(a) = anova(&factors, &rows) else {
            continue;
        };
        if out.is_empty() {
            let _ = writeln!(
                out,
                "Factor importance (type II ANOVA with interactions on one value per seed and configuration; partial η²; reach: the range of a factor's level means in seed standard deviations; descriptive, not among the tests behind the verdicts):\n"
            );
        }
        let _ = writeln!(out, "| {} | df | F | p | partial η² |", esc(m.label()));
        let _ = writeln!(out, "|---|---|---|---|---|");
        for t in &a.terms {
            // A term the design cannot estimate (no degrees of freedom) has no F.
            let f = if t.f.is_finite() {
                format!("{:.2}", t.f)
            } else {
                "-".into()
            };
            let _ = writeln!(
                out,
                "| {} | {} | {f} | {} | {:.3} |",
                esc(&t.factors.join(" × ")),
                t.df,
                p_text(t.p),
                t.partial_eta_sq
            );
        }
        let _ = writeln!(out, "| residual (seeds) | {} | | | |\n", a.residual_df);
        let reach: Vec<String> = a
            .reach
            .iter()
            .map(|(f, r)| {
                if r.is_finite() {
                    format!(
                        "{} moves it {r:.1} times the seed-to-seed sd ({:.3})",
                        esc(f),
                        a.seed_sd
                    )
                } else {
                    format!("{} moves it, and the seeds do not vary it at all", esc(f))
                }
            })
            .collect();
        let _ = writeln!(out, "{}: {}.\n", esc(m.label()), reach.join("; "));
    }
    out
}
