//! `report.md`: summary, conclusions, one table per study (mean ± sd across seeds,
//! best in bold, missing cells shown as missing), degenerate runs, provenance.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::conclusions;
use crate::configs::{Config, best_means, configs, metrics_of};
use crate::format::esc;
use crate::input::{Input, TrialRow};
use ablate_verdict::stats::mean_sd;

/// The key of the verdicts' charts among the per-study ones (no study name has
/// a `#`).
pub const VERDICT_CHARTS: &str = "#verdicts";

pub fn render(input: &Input, charts: &[(String, Vec<crate::charts::Chart>)]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# Ablation report: {}\n", esc(&input.results.sweep));
    if let Some(d) = &input.results.description {
        let _ = writeln!(out, "{}\n", esc(d));
    }
    summary(&mut out, input);
    out.push_str(&crate::datasets::banner(&input.data));
    let forests: Vec<&crate::charts::Chart> = charts
        .iter()
        .filter(|(s, _)| s == VERDICT_CHARTS)
        .flat_map(|(_, cs)| cs)
        .collect();
    out.push_str(&conclusions::markdown(input, &forests));
    out.push_str(&crate::datasets::markdown(&input.data));
    for study in &input.results.studies {
        self::study(&mut out, input, study, charts);
    }
    flagged_runs(&mut out, input);
    stale_results(&mut out, input);
    provenance(&mut out, input);
    out
}

/// The trials by state, and a warning where stale results are kept.
fn summary(out: &mut String, input: &Input) {
    let mut states: BTreeMap<&str, usize> = BTreeMap::new();
    for t in &input.results.trials {
        *states.entry(t.state.as_str()).or_insert(0) += 1;
    }
    let states: Vec<String> = states.iter().map(|(s, n)| format!("{n} {s}")).collect();
    let _ = writeln!(
        out,
        "{} trials: {}.\n",
        input.results.trials.len(),
        states.join(", ")
    );

    if !input.stale.is_empty() {
        let n = input.stale.len();
        let (noun, verb) = if n == 1 {
            ("result", "is")
        } else {
            ("results", "are")
        };
        let _ = writeln!(
            out,
            "**{n} {noun} {verb} stale**, kept with `--keep-stale`: trained on other data or by another trainer than the sweep's now (listed under \"Stale results\"). Tables and verdicts below include them; `ablate run` without `--keep-stale` retrains them.\n"
        );
    }
}

/// A study's section: its table, factor importance and charts.
fn study(
    out: &mut String,
    input: &Input,
    study: &crate::input::StudyInfo,
    charts: &[(String, Vec<crate::charts::Chart>)],
) {
    let axes: Vec<String> = study.axes.iter().map(|(a, _)| a.clone()).collect();
    let configs = configs(input, &study.name, &axes);
    let _ = writeln!(out, "## Study: {}\n", esc(&study.name));
    if let Some(d) = &study.description {
        let _ = writeln!(out, "{}\n", esc(d));
    }
    table(out, &axes, &configs);
    out.push('\n');
    out.push_str(&crate::importance::study(input, &study.name, &axes));
    for c in charts
        .iter()
        .filter(|(s, _)| *s == study.name)
        .flat_map(|(_, cs)| cs)
    {
        let _ = writeln!(out, "![{}]({}.png)\n", esc(&c.title), c.name);
    }
}

/// A study's table: one row per configuration, mean ± sd per metric, the best
/// in bold, results still due shown as missing.
fn table(out: &mut String, axes: &[String], configs: &[Config<'_>]) {
    let metrics = metrics_of(configs);
    let mut header: Vec<String> = axes.iter().map(|a| esc(a)).collect();
    header.push("N".into());
    header.extend(metrics.iter().map(|m| {
        format!(
            "{}{}",
            m.label(),
            if m.lower_is_better() { " ↓" } else { " ↑" }
        )
    }));
    let _ = writeln!(out, "| {} |", header.join(" | "));
    let _ = writeln!(out, "|{}|", vec!["---"; header.len()].join("|"));
    let best = best_means(configs, &metrics);
    for c in configs {
        let mut row: Vec<String> = c.key.iter().map(|(_, v)| esc(v)).collect();
        let done = c.trials.iter().filter(|t| t.succeeded()).count();
        let flagged = c.trials.iter().filter(|t| t.degenerate.is_some()).count();
        let mut n = format!("{done}/{}", c.trials.len());
        if flagged > 0 {
            let _ = write!(n, " ({flagged} flagged)");
        }
        row.push(n);
        for (m, b) in metrics.iter().zip(&best) {
            let vals = c.values(*m);
            if vals.is_empty() {
                row.push(if c.missing(*m) { "missing" } else { "n/a" }.into());
                continue;
            }
            let (mean, sd) = mean_sd(&vals);
            let cell = if m.lower_is_better() {
                format!("{mean:.2} ± {sd:.2}")
            } else {
                format!("{mean:.3} ± {sd:.3}")
            };
            row.push(if Some(mean) == *b {
                format!("**{cell}**")
            } else {
                cell
            });
        }
        let _ = writeln!(out, "| {} |", row.join(" | "));
    }
}

/// Runs flagged degenerate, with their evidence and what leaving them out would change.
fn flagged_runs(out: &mut String, input: &Input) {
    let flagged: Vec<&TrialRow> = input
        .results
        .trials
        .iter()
        .filter(|t| t.degenerate.is_some())
        .collect();
    if !flagged.is_empty() {
        let _ = writeln!(out, "## Flagged runs (counted in the means)\n");
        for t in flagged {
            let evidence = t
                .degenerate
                .as_ref()
                .map(|e| e.join("; "))
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "- `{}` ({}): {}",
                ablate_spec::short_id(&t.id),
                esc(&labels(t)),
                esc(&evidence)
            );
        }
        out.push('\n');
        let changes = crate::sensitivity::without_flagged(input);
        if changes.is_empty() {
            let _ = writeln!(
                out,
                "Leaving the flagged runs out would change no table's ranking and no verdict.\n"
            );
        } else {
            let _ = writeln!(out, "Leaving the flagged runs out would change:\n");
            for c in changes {
                let _ = writeln!(out, "- {}", esc(&c));
            }
            out.push('\n');
        }
    }
}

fn stale_results(out: &mut String, input: &Input) {
    if !input.stale.is_empty() {
        let _ = writeln!(out, "## Stale results (kept with --keep-stale)\n");
        for (id, why) in &input.stale {
            let _ = writeln!(out, "- `{}`: {}", id.short(), esc(why));
        }
        out.push('\n');
    }
}

fn provenance(out: &mut String, input: &Input) {
    let p = &input.results.provenance;
    let _ = writeln!(out, "## Provenance\n");
    let _ = writeln!(out, "- sweep file sha256: `{}`", esc(&p.spec_hash));
    if !p.overrides.is_empty() {
        let _ = writeln!(
            out,
            "- command-line overrides: `{}` (the sha256 is of the file with them written in)",
            esc(&p.overrides.join(" "))
        );
    }
    let _ = writeln!(out, "- ablate versions: {}", esc(&p.versions.join(", ")));
    let _ = writeln!(
        out,
        "- git commits: {}",
        if p.commits.is_empty() {
            "none recorded".to_string()
        } else {
            esc(&p.commits.join(", "))
        }
    );
    let _ = writeln!(out, "- devices: {}", esc(&p.devices.join(", ")));
    let hours: Vec<String> = p
        .hours
        .iter()
        .map(|(d, h)| format!("{} {h:.2} h", esc(d)))
        .collect();
    let _ = writeln!(out, "- compute: {}", hours.join(", "));
    if !p.study_hours.is_empty() {
        let per: Vec<String> = p
            .study_hours
            .iter()
            .map(|(s, h)| format!("{} {h:.2} h", esc(s)))
            .collect();
        let _ = writeln!(
            out,
            "- compute per study (its trials and the pretraining they start from): {}",
            per.join(", ")
        );
        let claims: Vec<String> = input
            .claims
            .iter()
            .filter_map(|c| {
                p.study_hours
                    .get(&c.study)
                    .map(|h| format!("{} ({}) {h:.2} h", esc(&c.name), esc(&c.study)))
            })
            .collect();
        if !claims.is_empty() {
            let _ = writeln!(
                out,
                "- compute per claim (its study's): {}",
                claims.join(", ")
            );
        }
    }
    for (what, peak) in [
        ("host memory (private)", &p.peak_host),
        ("GPU memory", &p.peak_gpu),
    ] {
        if let Some((bytes, trial, n)) = peak {
            let _ = writeln!(
                out,
                "- peak {what}: {:.0} MiB (trial {}; the largest of {n} attempts' peaks)",
                *bytes as f64 / (1024.0 * 1024.0),
                esc(ablate_spec::short_id(trial))
            );
        }
    }
}

pub fn labels(t: &TrialRow) -> String {
    t.labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(" ")
}
