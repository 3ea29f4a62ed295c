//! Values of command-line flags checked as clap parses them: a bad value is
//! exit 2 naming the flag and what is valid, before anything runs, never a
//! panic or a value quietly clamped into one that means something else.

/// A duration flag's value: seconds, finite, above 0 and at most `MAX`, so
/// that no value can panic or mean "kill every trial at once".
pub fn seconds<const MAX: u64>(text: &str) -> Result<f64, String> {
    let v = parse_seconds::<MAX>(text)?;
    if v > 0.0 {
        Ok(v)
    } else {
        Err(format!("expected seconds above 0 and at most {MAX}"))
    }
}

/// A time budget's value: as `seconds`, but 0 (start nothing) is allowed.
pub fn budget_seconds<const MAX: u64>(text: &str) -> Result<f64, String> {
    let v = parse_seconds::<MAX>(text)?;
    if v >= 0.0 {
        Ok(v)
    } else {
        Err(format!("expected seconds, 0 or more and at most {MAX}"))
    }
}

fn parse_seconds<const MAX: u64>(text: &str) -> Result<f64, String> {
    let v: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("expected seconds, a number at most {MAX}"))?;
    if v.is_finite() && v <= MAX as f64 {
        Ok(v)
    } else {
        Err(format!("expected seconds, a finite number at most {MAX}"))
    }
}

pub fn line_bytes(text: &str) -> Result<usize, String> {
    const RANGE: std::ops::RangeInclusive<usize> = 1024..=1 << 30;
    text.trim()
        .parse::<usize>()
        .ok()
        .filter(|n| RANGE.contains(n))
        .ok_or_else(|| "expected bytes, at least 1024 and at most 1073741824".to_string())
}

/// `--batch-norm` values: on/off (or true/false).
pub fn on_off(s: &str) -> Result<bool, String> {
    match s {
        "on" | "true" => Ok(true),
        "off" | "false" => Ok(false),
        other => Err(format!(
            "{other:?}: expected on or off (or off,on for both)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_finite_positive_and_bounded() {
        assert_eq!(seconds::<60>("1.5"), Ok(1.5));
        assert_eq!(seconds::<60>("60"), Ok(60.0));
        for bad in ["0", "-1", "61", "inf", "-inf", "nan", "1e30", "soon", ""] {
            assert!(seconds::<60>(bad).is_err(), "{bad}");
        }
        assert_eq!(budget_seconds::<60>("0"), Ok(0.0));
        assert!(budget_seconds::<60>("-0.1").is_err());
        assert!(line_bytes("1023").is_err());
        assert_eq!(line_bytes("1048576"), Ok(1 << 20));
    }
}
