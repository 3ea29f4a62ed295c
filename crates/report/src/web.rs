//! The report as data for a live page (`ablate serve`): a study's table, bar
//! panels and forest rows from the same model the PNG charts are drawn from,
//! its claims as judged so far, and its trials filtered, sorted and paged on the
//! server so a page stays small whatever the sweep's size. Values only: the
//! page escapes and draws them.

use std::collections::{BTreeMap, BTreeSet};

use ablate_results::Judged;
use ablate_verdict::Judgement;
use ablate_verdict::stats::mean_sd;
use serde_json::{Value, json};

use crate::charts::Bars;
use crate::configs::{Config, best_means, configs, metrics_of};
use crate::input::{Input, METRICS, Metric, StudyInfo, TrialRow};

/// The most rows one page of trials has.
pub const MAX_LIMIT: usize = 500;

/// Which trials a table shows, in which order, which page.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TrialQuery {
    /// Only this study's trials (None: every trial, pretraining ones too).
    pub study: Option<String>,
    /// Factor -> the values kept (a factor not named keeps every value).
    pub values: BTreeMap<String, BTreeSet<String>>,
    /// Metric key -> inclusive range kept (a trial without it is left out).
    pub ranges: BTreeMap<String, (f64, f64)>,
    /// Only trials in this state.
    pub state: Option<String>,
    /// A metric key, a factor, `seed` or `state` (None: the sweep's order).
    pub sort: Option<String>,
    pub desc: bool,
    pub offset: usize,
    pub limit: usize,
}

fn metric_json(m: Metric) -> Value {
    json!({ "key": m.key(), "label": m.label(), "lower_is_better": m.lower_is_better() })
}

/// Whether a study's verdicts are provisional: an adaptive sweep may still add
/// seeds; a fixed one waits on trials not yet finished.
fn provisional(input: &Input, judged: Option<&Judged>, study: &str) -> bool {
    if let Some(s) = judged.and_then(Judged::sequential) {
        return !s.done;
    }
    (input.results.trials.iter())
        .filter(|t| t.in_study(study))
        .any(|t| t.verdict_trial().pending)
}

/// Study `name` as its page draws it, with the claims `judged` on it; None
/// when the sweep has no such study.
pub fn study(input: &Input, judged: Option<&Judged>, name: &str) -> Option<Value> {
    let judgement = judged.map(Judged::judgement);
    let info = input.results.studies.iter().find(|s| s.name == name)?;
    let axes: Vec<String> = info.axes.iter().map(|(a, _)| a.clone()).collect();
    let cfgs = configs(input, name, &axes);
    let bars: Vec<Value> = (crate::figures::study_bars(input, info).iter())
        .map(|(stem, b)| bars_json(stem, b))
        .collect();
    let (claims, forests) = match judgement {
        Some(j) => (claims_json(j, name), forests_json(j, name)),
        None => (Vec::new(), Vec::new()),
    };
    Some(json!({
        "study": name,
        "description": info.description,
        "axes": info.axes,
        "provisional": provisional(input, judged, name),
        "table": table_json(&axes, &cfgs),
        "bars": bars,
        "claims": claims,
        "forests": forests,
        "metrics": METRICS.iter().map(|m| metric_json(*m)).collect::<Vec<_>>(),
        "factors": factors(input, Some(info)),
    }))
}

fn table_json(axes: &[String], cfgs: &[Config<'_>]) -> Value {
    let metrics = metrics_of(cfgs);
    let best = best_means(cfgs, &metrics);
    let rows: Vec<Value> = (cfgs.iter())
        .map(|c| {
            let cells: Vec<Value> = (metrics.iter().zip(&best))
                .map(|(m, b)| {
                    let v = c.values(*m);
                    if v.is_empty() {
                        return json!({ "missing": c.missing(*m) });
                    }
                    let (mean, sd) = mean_sd(&v);
                    json!({ "mean": mean, "sd": sd, "n": v.len(), "best": Some(mean) == *b })
                })
                .collect();
            json!({
                "key": c.key.iter().map(|(_, v)| v).collect::<Vec<_>>(),
                "done": c.trials.iter().filter(|t| t.succeeded()).count(),
                "trials": c.trials.len(),
                "flagged": c.trials.iter().filter(|t| t.degenerate.is_some()).count(),
                "cells": cells,
            })
        })
        .collect();
    json!({
        "axes": axes,
        "metrics": metrics.iter().map(|m| metric_json(*m)).collect::<Vec<_>>(),
        "rows": rows,
    })
}

fn bars_json(stem: &str, b: &Bars) -> Value {
    let series: Vec<Value> = (b.series.iter())
        .map(|(name, bars)| {
            let bars: Vec<Value> = (bars.iter())
                .map(|x| {
                    json!({
                        "mean": x.mean,
                        "ci": x.ci.map(|(lo, hi)| [lo, hi]),
                        "points": x.points,
                        "n": x.n,
                        "applies": x.applies,
                    })
                })
                .collect();
            json!({ "name": name, "bars": bars })
        })
        .collect();
    json!({
        "name": stem,
        "title": b.title,
        "y_label": b.y_label,
        "groups": b.groups,
        "series": series,
    })
}

fn claims_json(j: &Judgement, study: &str) -> Vec<Value> {
    (j.verdicts.iter())
        .filter(|v| v.study.as_deref() == Some(study))
        .map(|v| {
            json!({
                "claim": v.claim,
                "builtin": v.builtin,
                "verdict": v.verdict.to_string(),
                "rule": v.rule,
                "why": v.why,
            })
        })
        .collect()
}

fn forests_json(j: &Judgement, study: &str) -> Vec<Value> {
    (crate::forest::forests(j, Some(study)).into_iter())
        .map(|(m, f)| {
            let rows: Vec<Value> = (f.rows.iter())
                .map(|r| match r.test {
                    None => json!({ "label": r.label }),
                    Some((diff, (lo, hi), margin, outcome)) => json!({
                        "label": r.label,
                        "diff": diff,
                        "ci": [lo, hi],
                        "margin": margin,
                        "outcome": outcome.words(),
                    }),
                })
                .collect();
            json!({ "metric": metric_json(m), "title": f.title, "x_label": f.x_label, "rows": rows })
        })
        .collect()
}

/// Every factor of the trials shown (a study's, or every label of the sweep)
/// with the values it takes, for the table's filters.
fn factors(input: &Input, study: Option<&StudyInfo>) -> BTreeMap<String, BTreeSet<String>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let rows = (input.results.trials.iter()).filter(|t| study.is_none_or(|s| t.in_study(&s.name)));
    for t in rows {
        for (k, v) in &t.labels {
            out.entry(k.clone()).or_default().insert(v.clone());
        }
    }
    out
}

fn kept(t: &TrialRow, q: &TrialQuery) -> bool {
    q.study.as_deref().is_none_or(|s| t.in_study(s))
        && q.state.as_deref().is_none_or(|s| t.state.as_str() == s)
        && (q.values.iter()).all(|(k, vs)| t.labels.get(k).is_some_and(|v| vs.contains(v)))
        && (q.ranges.iter()).all(|(k, (lo, hi))| {
            (t.metrics.iter()).any(|(m, v)| m.key() == k && *v >= *lo && *v <= *hi)
        })
}

fn metric_of(t: &TrialRow, key: &str) -> Option<f64> {
    (t.metrics.iter())
        .find(|(m, _)| m.key() == key)
        .map(|(_, v)| *v)
}

/// The order of `sort`: a metric (trials without it last, whichever way), a
/// factor, the seed or the state.
fn compare(a: &TrialRow, b: &TrialRow, sort: &str) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    if METRICS.iter().any(|m| m.key() == sort) {
        return match (metric_of(a, sort), metric_of(b, sort)) {
            (Some(x), Some(y)) => x.total_cmp(&y),
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => Ordering::Equal,
        };
    }
    match sort {
        "seed" => a.seed.cmp(&b.seed),
        "state" => a.state.as_str().cmp(b.state.as_str()),
        f => a.labels.get(f).cmp(&b.labels.get(f)),
    }
}

fn row_json(t: &TrialRow) -> Value {
    let metrics: BTreeMap<&str, f64> = t.metrics.iter().map(|(m, v)| (m.key(), *v)).collect();
    json!({
        "id": t.id,
        "state": t.state.as_str(),
        "kind": t.kind.as_str(),
        "seed": t.seed,
        "labels": t.labels,
        "metrics": metrics,
        "flagged": t.degenerate.is_some(),
    })
}

/// One page of the trials `q` keeps, sorted: `total` kept, `rows` from `offset`.
pub fn trials(input: &Input, q: &TrialQuery) -> Value {
    let mut rows: Vec<&TrialRow> = input.results.trials.iter().filter(|t| kept(t, q)).collect();
    if let Some(sort) = &q.sort {
        // Trials without the metric stay last in either direction.
        rows.sort_by(|a, b| {
            let o = compare(a, b, sort);
            let missing = metric_of(a, sort).is_none() != metric_of(b, sort).is_none();
            if q.desc && !missing { o.reverse() } else { o }
        });
    }
    let limit = q.limit.clamp(1, MAX_LIMIT);
    let page: Vec<Value> = (rows.iter().skip(q.offset).take(limit))
        .map(|t| row_json(t))
        .collect();
    json!({ "total": rows.len(), "offset": q.offset, "limit": limit, "rows": page })
}

/// Parallel coordinates of study `name`: its factors' values and its metrics,
/// one line per succeeded trial; None for an unknown study.
pub fn points(input: &Input, name: &str) -> Option<Value> {
    let info = input.results.studies.iter().find(|s| s.name == name)?;
    let done: Vec<&TrialRow> = (input.results.trials.iter())
        .filter(|t| t.in_study(name) && t.succeeded())
        .collect();
    let metrics: Vec<Metric> = (METRICS.iter().copied())
        .filter(|m| done.iter().any(|t| t.metrics.contains_key(m)))
        .collect();
    let lines: Vec<Value> = (done.iter())
        .map(|t| {
            let mut line: Vec<Value> = vec![json!(t.id)];
            line.extend(info.axes.iter().map(|(a, _)| json!(t.labels.get(a))));
            line.extend(metrics.iter().map(|m| json!(t.metrics.get(m))));
            Value::Array(line)
        })
        .collect();
    Some(json!({
        "factors": info.axes,
        "metrics": metrics.iter().map(|m| metric_json(*m)).collect::<Vec<_>>(),
        "lines": lines,
    }))
}
