//! `ablate run FILE key=value ...`: Hydra-style overrides of a sweep file's keys
//! (`train.epochs=1`, `sweep.seeds=1`, `study.depth.grid.depth=["vgg7"]`). Each
//! is written into the file's TOML (format kept) and the result is parsed and
//! checked exactly as a file is, so an unknown key gets the same "did you mean"
//! and trial ids follow the resolved values. The text records the overrides in
//! a first comment line, so the database's copy of the sweep says how it ran.

use toml_edit::{DocumentMut, InlineTable, Item, Table, TableLike, Value};

/// The first line of a sweep text with overrides applied.
pub const MARK: &str = "# ablate overrides (command line):";

/// What is wrong with one override.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadOverride {
    pub arg: String,
    pub why: String,
}

/// `text` with every override written in, and the overrides in its first line.
pub fn apply(text: &str, overrides: &[String]) -> Result<String, BadOverride> {
    let bad = |arg: &str, why: String| BadOverride {
        arg: arg.to_string(),
        why,
    };
    // A file that is not TOML is reported by the parser, with its line.
    let Ok(mut doc) = text.parse::<DocumentMut>() else {
        return Ok(text.to_string());
    };
    for arg in overrides {
        let Some((key, raw)) = arg.split_once('=') else {
            return Err(bad(arg, "expected KEY=VALUE, e.g. train.epochs=1".into()));
        };
        let path: Vec<&str> = key.trim().split('.').map(str::trim).collect();
        if path.iter().any(|p| p.is_empty()) {
            return Err(bad(
                arg,
                "the key is empty or has an empty part; write it as in the file, e.g. train.epochs"
                    .into(),
            ));
        }
        // TOML where it parses (numbers, booleans, arrays, quoted strings), else
        // the text as a string (`train.optimizer=adamw`).
        let value = raw
            .trim()
            .parse::<Value>()
            .unwrap_or_else(|_| Value::from(raw.trim()));
        set(doc.as_table_mut(), &path, value, false, "").map_err(|why| bad(arg, why))?;
    }
    Ok(format!("{MARK} {}\n{doc}", overrides.join(" ")))
}

/// Sets `path` under `t` to `value`, making the tables on the way; `inline`:
/// `t` is an inline table (`fixed = { ... }`), whose sub-tables must be too.
fn set(
    t: &mut dyn TableLike,
    path: &[&str],
    value: Value,
    inline: bool,
    done: &str,
) -> Result<(), String> {
    let Some((first, rest)) = path.split_first() else {
        return Ok(());
    };
    let here = format!("{done}{first}");
    if rest.is_empty() {
        if t.get(first)
            .is_some_and(|i| i.is_table() || i.is_array_of_tables())
        {
            return Err(format!(
                "`{here}` is a table: set one of its keys, e.g. {here}.KEY=VALUE"
            ));
        }
        t.insert(first, Item::Value(value));
        return Ok(());
    }
    if t.get(first).is_some_and(Item::is_array_of_tables) {
        // `study.NAME.key`: the [[study]] whose name is NAME.
        let Some(Item::ArrayOfTables(list)) = t.get_mut(first) else {
            return Ok(());
        };
        let names: Vec<String> = list
            .iter()
            .filter_map(|e| e.get("name").and_then(Item::as_str).map(str::to_string))
            .collect();
        let name = rest[0];
        let Some(entry) = list
            .iter_mut()
            .find(|e| e.get("name").and_then(Item::as_str) == Some(name))
        else {
            return Err(format!(
                "no [[{first}]] named {name:?}; its names are: {}",
                names.join(", ")
            ));
        };
        if rest.len() < 2 {
            return Err(format!("name a key of it, e.g. {here}.{name}.KEY=VALUE"));
        }
        return set(entry, &rest[1..], value, false, &format!("{here}.{name}."));
    }
    if t.get(first).is_none() {
        let item = if inline {
            Item::Value(Value::InlineTable(InlineTable::new()))
        } else {
            let mut new = Table::new();
            new.set_implicit(true);
            Item::Table(new)
        };
        t.insert(first, item);
    }
    let Some(item) = t.get_mut(first) else {
        return Ok(());
    };
    let inner_inline = inline || item.is_inline_table();
    match item.as_table_like_mut() {
        Some(inner) => set(inner, rest, value, inner_inline, &format!("{here}.")),
        None => Err(format!("`{here}` is a value, not a table")),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const FILE: &str = "[sweep]\nname = \"s\" # mine\n[train]\nepochs = 8\n[[study]]\nname = \"d\"\nfixed = { tasks = [\"gender\"] }\ngrid.depth = [\"vgg7\", \"vgg9\"]\n";

    fn one(o: &str) -> Result<String, BadOverride> {
        apply(FILE, &[o.to_string()])
    }

    #[test]
    fn values_land_where_the_file_has_them_and_the_rest_is_kept() {
        let t = apply(FILE, &["train.epochs=1".into(), "sweep.seeds=2".into()]).unwrap();
        assert!(
            t.starts_with("# ablate overrides (command line): train.epochs=1 sweep.seeds=2\n"),
            "{t}"
        );
        assert!(t.contains("epochs = 1") && !t.contains("epochs = 8"), "{t}");
        assert!(
            t.contains("seeds = 2") && t.contains("name = \"s\" # mine"),
            "{t}"
        );
        let t = one("study.d.grid.depth=[\"vgg11\"]").unwrap();
        assert!(t.contains("grid.depth = [\"vgg11\"]"), "{t}");
        let t = one("study.d.fixed.depth=vgg13").unwrap();
        assert!(
            t.contains("depth = \"vgg13\""),
            "a bare word is a string: {t}"
        );
        let t = one("report.alpha=0.01").unwrap();
        assert!(t.contains("[report]\nalpha = 0.01"), "a new table: {t}");
    }

    #[test]
    fn a_bad_override_says_what_is_wrong() {
        assert!(one("train.epochs").unwrap_err().why.contains("KEY=VALUE"));
        assert!(
            one("train..epochs=1")
                .unwrap_err()
                .why
                .contains("empty part")
        );
        let e = one("study.nope.epochs=1").unwrap_err().why;
        assert!(
            e.contains("no [[study]] named \"nope\"; its names are: d"),
            "{e}"
        );
        let e = one("train=1").unwrap_err().why;
        assert!(e.contains("`train` is a table"), "{e}");
        let e = one("sweep.name.x=1").unwrap_err().why;
        assert!(e.contains("`sweep.name` is a value"), "{e}");
    }
}
