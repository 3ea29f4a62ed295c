//! `[report]`: how the report judges claims: the family-wise error rate, the power
//! its seed estimates aim for, and the smallest effect of interest per metric.

use std::collections::BTreeMap;

use serde::Serialize;

use ablate_vocab::Metric;

use crate::error::Ctx;
use crate::value::{self, Value};

/// Settings of `[report]`; unset ones take the report's defaults.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ReportSpec {
    pub alpha: Option<f64>,
    pub power: Option<f64>,
    /// Metric key -> smallest effect of interest (the equivalence margin).
    pub smallest_effect: BTreeMap<String, f64>,
    /// Judge the paper's four built-in claims where the studies allow (default
    /// true); false leaves them out of the report and of the error control.
    pub paper_claims: Option<bool>,
    /// Adaptive seeds: the chance of settling by the most seeds below which
    /// an open claim stops receiving seeds early (0 to 0.5; 0 turns it off).
    pub futility: Option<f64>,
}

const KEYS: &[&str] = &[
    "alpha",
    "power",
    "smallest_effect",
    "paper_claims",
    "futility",
];

fn fraction(ctx: &mut Ctx<'_>, key: &str, v: &Value<'_>) -> Option<f64> {
    value::number(
        ctx,
        key,
        v,
        |x| x > 0.0 && x < 1.0,
        "a number between 0 and 1 (exclusive), e.g. 0.05",
    )
}

pub(crate) fn parse(ctx: &mut Ctx<'_>, v: &Value<'_>) -> Option<ReportSpec> {
    let t = value::table(ctx, "report", v)?;
    let mut ok = value::known_keys(ctx, "report", t, KEYS);
    let mut r = ReportSpec::default();
    if let Some(x) = value::get(t, "alpha") {
        r.alpha = fraction(ctx, "report.alpha", x);
        ok &= r.alpha.is_some();
    }
    if let Some(x) = value::get(t, "power") {
        r.power = fraction(ctx, "report.power", x);
        ok &= r.power.is_some();
    }
    if let Some(x) = value::get(t, "paper_claims") {
        r.paper_claims = value::boolean(ctx, "report.paper_claims", x);
        ok &= r.paper_claims.is_some();
    }
    if let Some(x) = value::get(t, "futility") {
        r.futility = value::number(
            ctx,
            "report.futility",
            x,
            |f| (0.0..=0.5).contains(&f),
            "a number from 0 (never stop a claim early) to 0.5, e.g. 0.1",
        );
        ok &= r.futility.is_some();
    }
    if let Some(x) = value::get(t, "smallest_effect") {
        let table = value::table(ctx, "report.smallest_effect", x)?;
        ok &= value::known_keys(ctx, "report.smallest_effect", table, &Metric::keys());
        for (k, val) in table.iter() {
            let key = k.get_ref().to_string();
            if Metric::from_key(&key).is_err() {
                continue;
            }
            let got = value::number(
                ctx,
                &format!("report.smallest_effect.{key}"),
                val,
                |e| e > 0.0,
                "a positive number in the metric's units, e.g. 0.5 (years) or 0.01 (accuracy)",
            );
            ok &= got.is_some();
            if let Some(e) = got {
                r.smallest_effect.insert(key, e);
            }
        }
    }
    ok.then_some(r)
}
