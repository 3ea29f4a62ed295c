//! Python's `json.dumps` writes NaN and the infinities as the bare tokens `NaN`,
//! `Infinity` and `-Infinity`, which JSON does not have. A worker's line that
//! holds them is read with them as null and the fields that held them named, so
//! a diverged run fails as `nan-loss` saying where, instead of its `finished`
//! line being taken for chatter and the attempt for one that never finished.

use serde_json::Value;

/// Marks a replaced token inside the rewritten text; a worker's own strings do
/// not start with a NUL character.
const MARK: &str = "\u{0}ablate-nonfinite:";

/// The tokens JSON lacks, longest first (so `-Infinity` is not read as `-`).
const TOKENS: [&str; 3] = ["-Infinity", "Infinity", "NaN"];

/// A line whose non-finite tokens were read as null.
#[derive(Debug, Clone, PartialEq)]
pub struct Lenient {
    pub value: Value,
    /// Where each token was, as `result.test.age.expected.mae (NaN)`.
    pub fields: Vec<String>,
}

/// Reads `line` with its non-finite tokens as null; None when it has none (or is
/// not JSON even with them replaced).
pub fn read(line: &str) -> Option<Lenient> {
    let text = replace_tokens(line)?;
    let mut value: Value = serde_json::from_str(&text).ok()?;
    let mut fields = Vec::new();
    collect(&mut value, "", &mut fields);
    Some(Lenient { value, fields })
}

/// The line with each token outside a string turned into a marked string, or
/// None when there is none.
fn replace_tokens(line: &str) -> Option<String> {
    let mut out = String::with_capacity(line.len() + 32);
    let mut in_string = false;
    let mut escaped = false;
    let mut replaced = false;
    let mut rest = line;
    // The last character outside whitespace, to know a token stands as a value.
    let mut before = ' ';
    while let Some(c) = rest.chars().next() {
        if in_string {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => in_string = false,
                _ => {}
            }
        } else if c == '"' {
            in_string = true;
        } else if matches!(before, ':' | ',' | '[' | ' ')
            && let Some(t) = TOKENS.iter().find(|t| stands_alone(rest, t))
        {
            out.push('"');
            out.push_str("\\u0000ablate-nonfinite:");
            out.push_str(t);
            out.push('"');
            rest = &rest[t.len()..];
            before = '"';
            replaced = true;
            continue;
        }
        out.push(c);
        if !c.is_whitespace() {
            before = c;
        }
        rest = &rest[c.len_utf8()..];
    }
    replaced.then_some(out)
}

/// `text` starts with `token`, and no letter or digit follows it.
fn stands_alone(text: &str, token: &str) -> bool {
    text.starts_with(token)
        && !text[token.len()..]
            .chars()
            .next()
            .is_some_and(|c| c.is_alphanumeric() || c == '_')
}

fn collect(v: &mut Value, path: &str, fields: &mut Vec<String>) {
    match v {
        Value::String(s) if s.starts_with(MARK) => {
            fields.push(format!("{path} ({})", &s[MARK.len()..]));
            *v = Value::Null;
        }
        Value::Object(map) => {
            for (k, x) in map.iter_mut() {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                collect(x, &p, fields);
            }
        }
        Value::Array(items) => {
            for (i, x) in items.iter_mut().enumerate() {
                collect(x, &format!("{path}[{i}]"), fields);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn pythons_tokens_are_read_as_null_and_named() {
        let line = r#"{"event": "finished", "result": {"test": {"age": {"expected": {"mae": NaN}}, "loss": -Infinity}, "cs": [0.1, Infinity]}}"#;
        let l = read(line).unwrap();
        assert_eq!(
            l.value["result"]["test"]["age"]["expected"]["mae"],
            Value::Null
        );
        let mut fields = l.fields;
        fields.sort();
        assert_eq!(
            fields,
            [
                "result.cs[1] (Infinity)",
                "result.test.age.expected.mae (NaN)",
                "result.test.loss (-Infinity)",
            ]
        );
    }

    #[test]
    fn tokens_inside_strings_or_words_are_left_alone() {
        assert_eq!(read(r#"{"a": "NaN", "b": "say \"Infinity\""}"#), None);
        assert_eq!(read(r#"{"a": NaNa}"#), None, "not JSON either way");
        assert_eq!(read("hello NaN"), None);
        let l = read(r#"{"msg": "x\\", "v": NaN}"#).unwrap();
        assert_eq!(l.fields, ["v (NaN)"]);
        assert_eq!(l.value["msg"], "x\\");
    }
}
