//! `[sweep] seeds`: a count (`3`: seeds 0, 1, 2), a list (`[1, 7, 42]`), or
//! adaptive seeds (`{ min = 3, max = 15, step = 2 }`): every claim is judged
//! after `min` seeds per arm and again after each `step` more, and the trials
//! a still-open claim reads get more seeds until it settles or `max` is run.

use serde::Serialize;
use toml::de::DeValue;

use crate::error::Ctx;
use crate::value::{self, Value};

/// Adaptive seeds: seeds `first`, `first + 1`, ... up to `max` of them, judged
/// after `min`, `min + step`, ... and `max` seeds per arm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct AdaptiveSeeds {
    pub min: usize,
    pub max: usize,
    pub step: usize,
    /// The first seed (`first = 100`: seeds 100, 101, ...), for other draws.
    pub first: u64,
}

impl AdaptiveSeeds {
    /// Every seed the sweep may run, in order.
    pub fn seeds(&self) -> Vec<u64> {
        (self.first..self.first + self.max as u64).collect()
    }

    /// Seeds per arm at each look: `min`, `min + step`, ..., then `max`.
    pub fn counts(&self) -> Vec<usize> {
        let mut out: Vec<usize> = (self.min..self.max).step_by(self.step.max(1)).collect();
        out.push(self.max);
        out
    }
}

/// What `[sweep] seeds` says: every seed the sweep may run, in order, and how
/// they are spent when adaptive.
pub(crate) struct Seeds {
    pub list: Vec<u64>,
    pub adaptive: Option<AdaptiveSeeds>,
    /// Where it was written, for errors found later (nothing to judge).
    pub span: Option<std::ops::Range<usize>>,
}

impl Default for Seeds {
    fn default() -> Self {
        Seeds {
            list: vec![0],
            adaptive: None,
            span: None,
        }
    }
}

pub(crate) fn parse(ctx: &mut Ctx<'_>, v: &Value<'_>) -> Option<Seeds> {
    let (list, adaptive) = match v.get_ref() {
        DeValue::Integer(_) => {
            let n = value::integer(ctx, "sweep.seeds", v, 1..=10_000)?;
            ((0..n.unsigned_abs()).collect(), None)
        }
        DeValue::Table(_) => {
            let a = adaptive(ctx, v)?;
            (a.seeds(), Some(a))
        }
        DeValue::Array(_) => (list(ctx, v)?, None),
        other => {
            ctx.error(
                v.span(),
                "sweep.seeds",
                format!(
                    "expected a count, a list of seeds or adaptive seeds, found {}",
                    value::type_name(other)
                ),
                Some("for example seeds = 3 (meaning 0, 1, 2), seeds = [1, 7, 42] or seeds = { min = 3, max = 15, step = 2 }".into()),
            );
            return None;
        }
    };
    Some(Seeds {
        list,
        adaptive,
        span: Some(v.span()),
    })
}

fn adaptive(ctx: &mut Ctx<'_>, v: &Value<'_>) -> Option<AdaptiveSeeds> {
    let t = value::table(ctx, "sweep.seeds", v)?;
    value::known_keys(ctx, "sweep.seeds", t, &["min", "max", "step", "first"]);
    let count = |ctx: &mut Ctx<'_>, key: &str, low: i64| -> Option<usize> {
        let full = format!("sweep.seeds.{key}");
        let Some(x) = value::get(t, key) else {
            ctx.error(
                v.span(),
                &full,
                format!("missing key `{key}`"),
                Some("adaptive seeds need min, max and step, e.g. seeds = { min = 3, max = 15, step = 2 }".into()),
            );
            return None;
        };
        let n = value::integer(ctx, &full, x, low..=10_000)?;
        usize::try_from(n).ok()
    };
    // Two seeds per arm are the fewest a spread can be estimated from.
    let min = count(ctx, "min", 2)?;
    let max = count(ctx, "max", 2)?;
    let step = count(ctx, "step", 1)?;
    let first = match value::get(t, "first") {
        Some(f) => value::seed(ctx, "sweep.seeds.first", f)?,
        None => 0,
    };
    if min > max {
        ctx.error(
            v.span(),
            "sweep.seeds",
            format!("min = {min} is more than max = {max}"),
            Some("min is the seeds per arm of the first round, max the most any arm gets: min <= max".into()),
        );
        return None;
    }
    if first.checked_add(max as u64).is_none() {
        ctx.error(
            v.span(),
            "sweep.seeds.first",
            format!("first = {first} leaves no room for {max} seeds"),
            Some("use a smaller first seed".into()),
        );
        return None;
    }
    Some(AdaptiveSeeds {
        min,
        max,
        step,
        first,
    })
}

fn list(ctx: &mut Ctx<'_>, v: &Value<'_>) -> Option<Vec<u64>> {
    let items = value::array(ctx, "sweep.seeds", v)?;
    if items.is_empty() {
        ctx.error(
            v.span(),
            "sweep.seeds",
            "the seed list is empty",
            Some("give at least one seed, e.g. seeds = [0]".into()),
        );
        return None;
    }
    let mut seeds = Vec::new();
    for item in items.iter() {
        let s = value::seed(ctx, "sweep.seeds", item)?;
        if seeds.contains(&s) {
            ctx.error(
                item.span(),
                "sweep.seeds",
                format!("seed {s} is listed twice"),
                None,
            );
            return None;
        }
        seeds.push(s);
    }
    Some(seeds)
}

#[cfg(test)]
mod tests {
    use super::AdaptiveSeeds;

    #[test]
    fn looks_run_from_min_by_step_and_end_at_max() {
        let a = |min, max, step| {
            AdaptiveSeeds {
                min,
                max,
                step,
                first: 0,
            }
            .counts()
        };
        assert_eq!(a(3, 15, 2), [3, 5, 7, 9, 11, 13, 15]);
        assert_eq!(a(3, 10, 4), [3, 7, 10]);
        assert_eq!(a(5, 5, 1), [5]);
    }
}
