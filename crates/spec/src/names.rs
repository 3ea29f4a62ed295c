//! Names of sweeps, studies, datasets and stages end up in paths, job names and
//! reports, so they are held to a small safe alphabet.

use std::ops::Range;

use crate::error::Ctx;
use crate::value::{self, Value};

pub const MAX_NAME_LEN: usize = 64;

/// Why `name` is not a safe name, or `None` if it is.
pub fn problem(name: &str) -> Option<String> {
    if name.is_empty() {
        return Some("a name must not be empty".into());
    }
    if name.len() > MAX_NAME_LEN {
        return Some(format!("a name is at most {MAX_NAME_LEN} characters"));
    }
    if name.starts_with('.') {
        return Some("a name must not start with `.`".into());
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
    {
        return Some(format!("character {c:?} is not allowed in a name"));
    }
    None
}

pub(crate) fn check_str(
    ctx: &mut Ctx<'_>,
    key: &str,
    name: &str,
    span: Range<usize>,
) -> Option<String> {
    match problem(name) {
        None => Some(name.to_string()),
        Some(why) => {
            ctx.error(
                span,
                key,
                format!("invalid name {name:?}: {why}"),
                Some("names may hold ASCII letters, digits, `-`, `_` and `.` (not first), e.g. \"face-pretrain\"".into()),
            );
            None
        }
    }
}

pub(crate) fn check(ctx: &mut Ctx<'_>, key: &str, v: &Value<'_>) -> Option<String> {
    let s = value::string(ctx, key, v)?;
    check_str(ctx, key, s, v.span())
}
