//! What a `finished` result must hold before it counts as a success: a success
//! is permanent and its metrics go into tables and verdicts, so a result that is
//! not an object, names another trial, or lacks a metric its tasks need (or holds
//! one out of range) fails the attempt as `protocol`, naming the field, and one
//! with NaN or an infinity fails it as `nan-loss`.

use ablate_spec::types::Objective;
use serde_json::Value;

use crate::event::Reported;
use crate::failure::FailureClass;

/// Why a `finished` event does not count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub class: FailureClass,
    pub message: String,
}

impl Violation {
    fn protocol(message: impl std::fmt::Display) -> Self {
        Violation {
            class: FailureClass::Protocol,
            message: format!("{message} (docs/worker-protocol.md, `finished`)"),
        }
    }
}

/// What values a metric may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Range {
    /// A rate: accuracy, CS(theta), epsilon-error.
    Fraction,
    /// An error in the label's units: MAE.
    NonNegative,
}

/// The metrics a trial of `objective` must report (JSON pointer into the result).
pub fn required_metrics(objective: &Objective) -> Vec<&'static str> {
    match objective {
        Objective::Faces { gender, age } => {
            let mut m = Vec::new();
            if gender.is_some() {
                m.push("/test/gender/accuracy");
            }
            if age.is_some() {
                m.push("/test/age/expected/mae");
            }
            m
        }
        Objective::Identity => vec!["/test/identity/accuracy"],
        Objective::General => vec!["/test/general/accuracy"],
    }
}

/// Every metric the report reads, with its range: checked wherever present.
const RANGES: [(&str, Range); 8] = [
    ("/test/gender/accuracy", Range::Fraction),
    ("/test/identity/accuracy", Range::Fraction),
    ("/test/general/accuracy", Range::Fraction),
    ("/test/age/expected/mae", Range::NonNegative),
    ("/test/age/argmax/mae", Range::NonNegative),
    ("/test/age/baseline_mae", Range::NonNegative),
    ("/test/age/expected/epsilon_error", Range::Fraction),
    ("/test/age/argmax/epsilon_error", Range::Fraction),
];

/// Arrays of rates: CS(theta) for theta = 0, 1, ...
const RATE_ARRAYS: [&str; 2] = ["/test/age/expected/cs", "/test/age/argmax/cs"];

/// Checks a `finished` event of trial `trial`. `nonfinite`: the fields of the
/// event that held NaN or an infinity (read as null, see `nonfinite`).
pub fn check_finished(
    result: &Reported,
    nonfinite: &[String],
    trial: &str,
    objective: &Objective,
) -> Result<(), Violation> {
    if let Some(field) = nonfinite.first() {
        return Err(Violation {
            class: FailureClass::NanLoss,
            message: format!(
                "the `finished` result holds a non-finite number: {field}{}",
                more(nonfinite.len())
            ),
        });
    }
    let r = result.value();
    if !r.is_object() {
        return Err(Violation::protocol(match r {
            Value::Null => "the `finished` event has no `result` object".into(),
            other => format!("`result` is {}, not an object", kind(other)),
        }));
    }
    match r.get("trial") {
        Some(Value::String(t)) if t == trial => {}
        Some(Value::String(t)) => {
            return Err(Violation::protocol(format!(
                "result.trial is {t:?}, another trial; this attempt runs {trial}"
            )));
        }
        other => {
            return Err(Violation::protocol(format!(
                "result.trial is {}; it must be this trial's id, {trial}",
                other.map_or("missing".into(), kind)
            )));
        }
    }
    check_degenerate(r.get("degenerate"))?;
    for pointer in required_metrics(objective) {
        if r.pointer(pointer).is_none_or(Value::is_null) {
            return Err(Violation::protocol(format!(
                "{} is missing; this trial's tasks need it",
                field(pointer)
            )));
        }
    }
    for (pointer, range) in RANGES {
        if let Some(v) = r.pointer(pointer).filter(|v| !v.is_null()) {
            in_range(&field(pointer), v, range)?;
        }
    }
    for pointer in RATE_ARRAYS {
        match r.pointer(pointer) {
            None | Some(Value::Null) => {}
            Some(Value::Array(items)) => {
                for (i, v) in items.iter().enumerate() {
                    in_range(&format!("{}[{i}]", field(pointer)), v, Range::Fraction)?;
                }
            }
            Some(other) => {
                return Err(Violation::protocol(format!(
                    "{} is {}; it must be an array of rates in [0, 1]",
                    field(pointer),
                    kind(other)
                )));
            }
        }
    }
    for part in ["train", "val", "test"] {
        if let Some(v) = r
            .pointer(&format!("/images/{part}"))
            .filter(|v| !v.is_null())
            && v.as_u64().is_none()
        {
            return Err(Violation::protocol(format!(
                "result.images.{part} is {}; it must be a count (a whole number, 0 or more)",
                kind(v)
            )));
        }
    }
    Ok(())
}

/// `degenerate` is absent, null, false, or `{"evidence": [strings]}`.
fn check_degenerate(d: Option<&Value>) -> Result<(), Violation> {
    match d {
        None | Some(Value::Null | Value::Bool(false)) => Ok(()),
        Some(Value::Object(o))
            if o.get("evidence").is_some_and(|e| {
                e.as_array()
                    .is_some_and(|a| !a.is_empty() && a.iter().all(Value::is_string))
            }) =>
        {
            Ok(())
        }
        Some(other) => Err(Violation::protocol(format!(
            "result.degenerate is {}; it must be null or false (not flagged), or {{\"evidence\": [\"why\", ...]}} (flagged)",
            kind(other)
        ))),
    }
}

fn in_range(name: &str, v: &Value, range: Range) -> Result<(), Violation> {
    let ok = v.as_f64().is_some_and(|x| match range {
        Range::Fraction => (0.0..=1.0).contains(&x),
        Range::NonNegative => x >= 0.0,
    });
    if ok {
        return Ok(());
    }
    let want = match range {
        Range::Fraction => "a number in [0, 1]",
        Range::NonNegative => "a number, 0 or more",
    };
    Err(Violation::protocol(format!(
        "{name} is {}; it must be {want}",
        kind(v)
    )))
}

/// A pointer as the field path a user reads: `/test/age/cs` -> `result.test.age.cs`.
fn field(pointer: &str) -> String {
    format!("result{}", pointer.replace('/', "."))
}

/// A value as a message shows it: short, with its JSON type where that is the problem.
fn kind(v: &Value) -> String {
    let text = v.to_string();
    let shown: String = text.chars().take(60).collect();
    let cut = if shown.len() < text.len() { "..." } else { "" };
    match v {
        Value::Number(_) | Value::Bool(_) | Value::Null => shown,
        Value::String(_) => format!("the string {shown}{cut}"),
        Value::Array(_) => format!("an array {shown}{cut}"),
        Value::Object(_) => format!("an object {shown}{cut}"),
    }
}

fn more(n: usize) -> String {
    if n > 1 {
        format!(" (and {} more)", n - 1)
    } else {
        String::new()
    }
}
