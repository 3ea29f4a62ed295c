//! `gender_values = { male = ["1"], female = ["0"] }` of a csv dataset: which
//! codes of its gender column mean which gender. Codes are a convention of each
//! dataset (UTKFace codes 0 as male, IMDB-WIKI 1), so a column of bare codes is
//! read only once its section declares them; words (male/female, m/f) need none.

use toml::de::DeValue;

use crate::error::Ctx;
use crate::types::GenderValues;
use crate::value::{self, Value, join};

/// Reads `gender_values`; `Some(None)` when absent, None when malformed (reported).
pub(crate) fn parse(
    ctx: &mut Ctx<'_>,
    section: &str,
    v: Option<&Value<'_>>,
) -> Option<Option<GenderValues>> {
    let Some(v) = v else { return Some(None) };
    let key = join(section, "gender_values");
    let t = value::table(ctx, &key, v)?;
    if !value::known_keys(ctx, &key, t, &["male", "female"]) {
        return None;
    }
    let list = |ctx: &mut Ctx<'_>, name: &str| -> Option<Vec<String>> {
        let k = join(&key, name);
        let Some(x) = value::get(t, name) else {
            ctx.error(
                v.span(),
                &key,
                format!("missing key `{name}`"),
                Some(
                    "declare both, e.g. `gender_values = { male = [\"1\"], female = [\"0\"] }`"
                        .into(),
                ),
            );
            return None;
        };
        let items: Vec<&Value<'_>> = match x.get_ref() {
            DeValue::Array(a) => a.iter().collect(),
            _ => vec![x],
        };
        let mut out = Vec::new();
        for item in items {
            let code = match item.get_ref() {
                DeValue::String(s) => s.trim().to_string(),
                DeValue::Integer(_) => {
                    value::integer(ctx, &k, item, i64::MIN..=i64::MAX)?.to_string()
                }
                other => {
                    ctx.error(
                        item.span(),
                        &k,
                        format!(
                            "expected a string or an integer, found {}",
                            value::type_name(other)
                        ),
                        Some(format!("for example `{name} = [\"1\"]`")),
                    );
                    return None;
                }
            };
            if code.is_empty() {
                ctx.error(item.span(), &k, "must not be empty", None);
                return None;
            }
            out.push(code);
        }
        if out.is_empty() {
            ctx.error(
                x.span(),
                &k,
                "lists no value",
                Some(format!(
                    "give the column's value(s) for {name}, e.g. `{name} = [\"1\"]`"
                )),
            );
            return None;
        }
        Some(out)
    };
    let male = list(ctx, "male");
    let female = list(ctx, "female");
    let (male, female) = (male?, female?);
    if let Some(both) = male
        .iter()
        .find(|m| female.iter().any(|f| f.eq_ignore_ascii_case(m)))
    {
        ctx.error(
            v.span(),
            &key,
            format!("\"{both}\" is listed for both male and female"),
            Some("each value of the gender column means one gender".into()),
        );
        return None;
    }
    Some(Some(GenderValues { male, female }))
}
