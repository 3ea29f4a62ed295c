//! Typed reads of spanned TOML values; every failure becomes a located diagnostic.

use std::ops::RangeInclusive;

use toml::Spanned;
use toml::de::{DeArray, DeTable, DeValue};

use crate::error::{Ctx, choices_help};

pub(crate) type Value<'i> = Spanned<DeValue<'i>>;
pub(crate) type Table<'i> = DeTable<'i>;

/// Names a TOML value's type the way a user writing the file thinks of it.
pub(crate) fn type_name(v: &DeValue<'_>) -> &'static str {
    match v {
        DeValue::String(_) => "a string",
        DeValue::Integer(_) => "an integer",
        DeValue::Float(_) => "a float",
        DeValue::Boolean(_) => "a boolean",
        DeValue::Datetime(_) => "a date-time",
        DeValue::Array(_) => "an array",
        DeValue::Table(_) => "a table",
    }
}

fn wrong_type(ctx: &mut Ctx<'_>, key: &str, v: &Value<'_>, expected: &str, example: &str) {
    ctx.error(
        v.span(),
        key,
        format!("expected {expected}, found {}", type_name(v.get_ref())),
        Some(format!("for example `{}`", example)),
    );
}

pub(crate) fn string<'a>(ctx: &mut Ctx<'_>, key: &str, v: &'a Value<'_>) -> Option<&'a str> {
    match v.get_ref() {
        DeValue::String(s) => Some(s.as_ref()),
        _ => {
            let leaf = key.rsplit('.').next().unwrap_or(key);
            wrong_type(ctx, key, v, "a string", &format!("{leaf} = \"...\""));
            None
        }
    }
}

pub(crate) fn boolean(ctx: &mut Ctx<'_>, key: &str, v: &Value<'_>) -> Option<bool> {
    match v.get_ref() {
        DeValue::Boolean(b) => Some(*b),
        _ => {
            let leaf = key.rsplit('.').next().unwrap_or(key);
            wrong_type(ctx, key, v, "a boolean", &format!("{leaf} = true"));
            None
        }
    }
}

/// An integer within `range`; TOML's hex/octal/binary forms are accepted.
pub(crate) fn integer(
    ctx: &mut Ctx<'_>,
    key: &str,
    v: &Value<'_>,
    range: RangeInclusive<i64>,
) -> Option<i64> {
    let DeValue::Integer(i) = v.get_ref() else {
        let leaf = key.rsplit('.').next().unwrap_or(key);
        wrong_type(
            ctx,
            key,
            v,
            "an integer",
            &format!("{leaf} = {}", range.start()),
        );
        return None;
    };
    let parsed = i64::from_str_radix(i.as_str(), i.radix()).ok();
    match parsed {
        Some(n) if range.contains(&n) => Some(n),
        _ => {
            ctx.error(
                v.span(),
                key,
                format!("{} is out of range", i.as_str()),
                Some(format!(
                    "expected an integer from {} to {}",
                    range.start(),
                    range.end()
                )),
            );
            None
        }
    }
}

pub(crate) fn unsigned(
    ctx: &mut Ctx<'_>,
    key: &str,
    v: &Value<'_>,
    range: RangeInclusive<u32>,
) -> Option<u32> {
    let wide = i64::from(*range.start())..=i64::from(*range.end());
    integer(ctx, key, v, wide).and_then(|n| u32::try_from(n).ok())
}

pub(crate) fn seed(ctx: &mut Ctx<'_>, key: &str, v: &Value<'_>) -> Option<u64> {
    integer(ctx, key, v, 0..=i64::MAX).and_then(|n| u64::try_from(n).ok())
}

/// A finite number (integers accepted) satisfying `ok`, whose failure is explained by `rule`.
pub(crate) fn number(
    ctx: &mut Ctx<'_>,
    key: &str,
    v: &Value<'_>,
    ok: impl Fn(f64) -> bool,
    rule: &str,
) -> Option<f64> {
    let parsed = match v.get_ref() {
        DeValue::Float(f) => f.as_str().replace('_', "").parse::<f64>().ok(),
        DeValue::Integer(i) => i64::from_str_radix(i.as_str(), i.radix())
            .ok()
            .map(|n| n as f64),
        _ => {
            let leaf = key.rsplit('.').next().unwrap_or(key);
            wrong_type(ctx, key, v, "a number", &format!("{leaf} = 0.5"));
            return None;
        }
    };
    match parsed {
        Some(x) if x.is_finite() && ok(x) => Some(x),
        _ => {
            let text = match v.get_ref() {
                DeValue::Float(f) => f.as_str().to_string(),
                DeValue::Integer(i) => i.as_str().to_string(),
                _ => String::new(),
            };
            ctx.error(
                v.span(),
                key,
                format!("{text} is not valid here"),
                Some(format!("expected {rule}")),
            );
            None
        }
    }
}

pub(crate) fn table<'a, 'i>(
    ctx: &mut Ctx<'_>,
    key: &str,
    v: &'a Value<'i>,
) -> Option<&'a Table<'i>> {
    match v.get_ref() {
        DeValue::Table(t) => Some(t),
        _ => {
            let leaf = key.rsplit('.').next().unwrap_or(key);
            wrong_type(
                ctx,
                key,
                v,
                "a table",
                &format!("[{leaf}] or {leaf} = {{ ... }}"),
            );
            None
        }
    }
}

pub(crate) fn array<'a, 'i>(
    ctx: &mut Ctx<'_>,
    key: &str,
    v: &'a Value<'i>,
) -> Option<&'a DeArray<'i>> {
    match v.get_ref() {
        DeValue::Array(a) => Some(a),
        _ => {
            let leaf = key.rsplit('.').next().unwrap_or(key);
            wrong_type(ctx, key, v, "an array", &format!("{leaf} = [ ... ]"));
            None
        }
    }
}

/// One of a fixed set of words, with "did you mean" for near misses.
pub(crate) fn choice<'c>(
    ctx: &mut Ctx<'_>,
    key: &str,
    v: &Value<'_>,
    valid: &[&'c str],
) -> Option<&'c str> {
    let s = string(ctx, key, v)?;
    match valid.iter().find(|c| **c == s) {
        Some(c) => Some(c),
        None => {
            ctx.error(
                v.span(),
                key,
                format!("unknown value \"{s}\""),
                Some(choices_help(s, valid)),
            );
            None
        }
    }
}

/// Reports keys of `table` not in `allowed`; returns false if any was unknown.
pub(crate) fn known_keys(
    ctx: &mut Ctx<'_>,
    section: &str,
    t: &Table<'_>,
    allowed: &[&str],
) -> bool {
    let mut ok = true;
    for key in t.keys() {
        let name: &str = key.get_ref();
        if !allowed.contains(&name) {
            ok = false;
            ctx.error(
                key.span(),
                &join(section, name),
                format!("unknown key `{name}` in {}", describe_section(section)),
                Some(choices_help(name, allowed)),
            );
        }
    }
    ok
}

/// Looks up a key, giving its value with the key's own span for messages about absence elsewhere.
pub(crate) fn get<'a, 'i>(t: &'a Table<'i>, key: &str) -> Option<&'a Value<'i>> {
    t.get(key)
}

pub(crate) fn join(section: &str, key: &str) -> String {
    if section.is_empty() {
        key.to_string()
    } else {
        format!("{section}.{key}")
    }
}

fn describe_section(section: &str) -> String {
    if section.is_empty() {
        "the top level".to_string()
    } else {
        format!("[{section}]")
    }
}
