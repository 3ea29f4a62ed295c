//! Which charts a study gets, chosen from what it varies and measures: one bar
//! panel per task metric (age with ArgMax and Expected value side by side),
//! learning curves, and CS(θ) curves for age models.

use crate::chart_lines;
use crate::charts::{self, Bar, Bars, Chart, Lines};
use crate::configs::{Config, configs};
use crate::input::Metric;
use crate::input::{Input, TrialRow};
use ablate_verdict::stats::{self, mean_sd};

/// A bar panel: file suffix, y label, and (metric, series name) pairs.
type Panel = (
    &'static str,
    &'static str,
    &'static [(Metric, &'static str)],
);

fn bar(c: &Config<'_>, metric: Metric) -> Bar {
    let v = c.values(metric);
    let (m, _) = mean_sd(&v);
    Bar {
        mean: (!v.is_empty()).then_some(m),
        ci: stats::mean_ci(&v, 0.05),
        n: v.len(),
        // No value and nothing still due: the metric does not apply here.
        applies: !v.is_empty() || c.trials.iter().any(|t| !t.succeeded()),
        points: v,
    }
}

/// Whether a configuration should show `metric`: it has it, or results are still due.
fn applies(c: &Config<'_>, metric: Metric) -> bool {
    c.trials.iter().any(|t| t.metrics.contains_key(&metric))
        || c.trials.iter().any(|t| !t.succeeded())
}

fn file_stem(study: &str, what: &str) -> String {
    // Study names are restricted to a safe alphabet by the spec; keep the file names so.
    format!(
        "{}-{what}",
        study.replace(
            |c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'),
            "_"
        )
    )
}

/// The bar panels of study `study`: file stem and the bars (mean, 95% CI and
/// every seed per configuration), what the PNG charts and the live page draw.
pub fn study_bars(input: &Input, study: &crate::input::StudyInfo) -> Vec<(String, Bars)> {
    let axes: Vec<String> = study.axes.iter().map(|(a, _)| a.clone()).collect();
    let cfgs = configs(input, &study.name, &axes);
    let panels: [Panel; 4] = [
        (
            "gender",
            "gender accuracy",
            &[(Metric::GenderAccuracy, "accuracy")],
        ),
        (
            "age",
            "age MAE (years)",
            &[
                (Metric::AgeMae, "Expected value"),
                (Metric::AgeMaeArgmax, "ArgMax"),
            ],
        ),
        (
            "identity",
            "identity top-1",
            &[(Metric::IdentityAccuracy, "top-1")],
        ),
        (
            "general",
            "general top-1",
            &[(Metric::GeneralAccuracy, "top-1")],
        ),
    ];
    let mut out = Vec::new();
    for (what, y, metrics) in panels {
        let shown: Vec<&Config<'_>> = cfgs.iter().filter(|c| applies(c, metrics[0].0)).collect();
        if shown.is_empty() {
            continue;
        }
        let series: Vec<(String, Vec<Bar>)> = metrics
            .iter()
            .filter(|(m, _)| {
                shown
                    .iter()
                    .any(|c| c.trials.iter().any(|t| t.metrics.contains_key(m)))
                    || *m == metrics[0].0
            })
            .map(|(m, name)| {
                let bars = shown.iter().map(|c| bar(c, *m)).collect();
                (name.to_string(), bars)
            })
            .collect();
        let groups = shown
            .iter()
            .map(|c| {
                c.key
                    .iter()
                    .map(|(_, v)| v.as_str())
                    .collect::<Vec<_>>()
                    .join(" / ")
            })
            .collect();
        let b = Bars {
            title: format!("{}: {y}, mean and 95% CI, each seed a dot", study.name),
            y_label: y.to_string(),
            groups,
            series,
        };
        out.push((file_stem(&study.name, what), b));
    }
    out
}

pub fn study_charts(input: &Input) -> Vec<(String, Vec<Chart>)> {
    let mut out = Vec::new();
    for study in &input.results.studies {
        let axes: Vec<String> = study.axes.iter().map(|(a, _)| a.clone()).collect();
        let cfgs = configs(input, &study.name, &axes);
        let mut charts: Vec<Chart> = study_bars(input, study)
            .iter()
            .filter_map(|(stem, b)| charts::bars(stem, b).ok())
            .collect();
        for (kind, y) in [(true, "validation age MAE"), (false, "validation accuracy")] {
            let picked: Vec<&Config<'_>> = cfgs
                .iter()
                .filter(|c| {
                    c.trials.iter().any(|t| {
                        t.labels.get("tasks").is_some_and(|x| x.contains("age")) == kind
                            && !t.curve.is_empty()
                    })
                })
                .collect();
            if picked.is_empty() {
                continue;
            }
            let (lines, colors) = curves(&picked, |t| {
                t.curve
                    .iter()
                    .enumerate()
                    .map(|(i, v)| ((i + 1) as f64, *v))
                    .collect()
            });
            let l = Lines {
                title: format!("{}: learning curves (seeds thin, mean thick)", study.name),
                x_label: "epoch".into(),
                x_ticks: None,
                y_label: y.into(),
                lines,
                colors,
            };
            if let Ok(c) = chart_lines::lines(
                &file_stem(&study.name, if kind { "curves-age" } else { "curves" }),
                &l,
            ) {
                charts.push(c);
            }
        }
        let with_cs: Vec<&Config<'_>> = cfgs
            .iter()
            .filter(|c| c.trials.iter().any(|t| t.cs.is_some()))
            .collect();
        if !with_cs.is_empty() {
            let (lines, colors) = curves(&with_cs, |t| {
                t.cs.as_ref()
                    .map(|cs| cs.iter().enumerate().map(|(i, v)| (i as f64, *v)).collect())
                    .unwrap_or_default()
            });
            let l = Lines {
                title: format!(
                    "{}: CS(θ), share of test images with age error ≤ θ",
                    study.name
                ),
                x_label: "θ (years)".into(),
                x_ticks: None,
                y_label: "CS(θ)".into(),
                lines,
                colors,
            };
            if let Ok(c) = chart_lines::lines(&file_stem(&study.name, "cs"), &l) {
                charts.push(c);
            }
        }
        if let [first, second] = axes.as_slice() {
            charts.extend(interaction(&study.name, &cfgs, first, second));
        }
        out.push((study.name.clone(), charts));
    }
    out
}

/// For a two-factor study: each metric's mean over the first factor's levels,
/// one line per level of the second (parallel lines: no interaction).
fn interaction(study: &str, cfgs: &[Config<'_>], first: &str, second: &str) -> Vec<Chart> {
    let mut out = Vec::new();
    for (metric, y) in [
        (Metric::GenderAccuracy, "gender accuracy"),
        (Metric::AgeMae, "age MAE (years)"),
    ] {
        let level = |c: &Config<'_>, axis: &str| {
            c.key
                .iter()
                .find(|(a, _)| a == axis)
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        let with: Vec<&Config<'_>> = cfgs
            .iter()
            .filter(|c| !c.values(metric).is_empty())
            .collect();
        let mut xs: Vec<String> = Vec::new();
        let mut lines: Vec<String> = Vec::new();
        for c in &with {
            let (x, l) = (level(c, first), level(c, second));
            if !xs.contains(&x) {
                xs.push(x);
            }
            if !lines.contains(&l) {
                lines.push(l);
            }
        }
        if xs.len() < 2 || lines.len() < 2 {
            continue;
        }
        let mut drawn = Vec::new();
        let mut colors = Vec::new();
        for (i, l) in lines.iter().enumerate() {
            let points: Vec<(f64, f64)> = xs
                .iter()
                .enumerate()
                .filter_map(|(k, x)| {
                    let c = with
                        .iter()
                        .find(|c| &level(c, first) == x && &level(c, second) == l)?;
                    Some((k as f64, mean_sd(&c.values(metric)).0))
                })
                .collect();
            if points.len() < xs.len() {
                // Not a crossed design (a zip, or excluded cells): no interaction to show.
                drawn.clear();
                break;
            }
            drawn.push((format!("{second} = {l}"), points, true));
            colors.push(i);
        }
        if drawn.is_empty() {
            continue;
        }
        let chart = Lines {
            title: format!("{study}: {y} by {first} and {second} (means)"),
            x_label: first.to_string(),
            x_ticks: Some(xs),
            y_label: y.to_string(),
            lines: drawn,
            colors,
        };
        let what = format!(
            "interaction-{}",
            metric.key().split('_').next().unwrap_or(metric.key())
        );
        if let Ok(c) = chart_lines::lines(&file_stem(study, &what), &chart) {
            out.push(c);
        }
    }
    out
}

type Curves = (Vec<charts::Line>, Vec<usize>);

/// Per configuration: each trial's curve thin, the pointwise mean thick.
fn curves(cfgs: &[&Config<'_>], points: impl Fn(&TrialRow) -> Vec<(f64, f64)>) -> Curves {
    let (mut lines, mut colors) = (Vec::new(), Vec::new());
    for (i, c) in cfgs.iter().enumerate() {
        let per: Vec<Vec<(f64, f64)>> = c
            .trials
            .iter()
            .filter(|t| t.succeeded())
            .map(|t| points(t))
            .filter(|p| !p.is_empty())
            .collect();
        for p in &per {
            lines.push((String::new(), p.clone(), false));
            colors.push(i);
        }
        let len = per.iter().map(Vec::len).min().unwrap_or(0);
        if len > 0 {
            let mean = (0..len)
                .map(|k| {
                    (
                        per[0][k].0,
                        per.iter().map(|p| p[k].1).sum::<f64>() / per.len() as f64,
                    )
                })
                .collect();
            let name = c
                .key
                .iter()
                .map(|(_, v)| v.as_str())
                .collect::<Vec<_>>()
                .join(" / ");
            lines.push((name, mean, true));
            colors.push(i);
        }
    }
    (lines, colors)
}
