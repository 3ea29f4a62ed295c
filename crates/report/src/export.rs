//! `results.csv` (one row per trial: id, every factor, every metric, both age
//! read-outs) and `results.json` (the whole report input).

use std::collections::BTreeSet;

use crate::input::{Input, METRICS};

/// A leading `'` for cells a spreadsheet would run as formulas: those starting
/// with `=`, `+`, `-`, `@`, a tab or a carriage return (OWASP's list; spreadsheets
/// skip the last two and read what follows), unless the cell is a plain number.
/// Quoting is the csv crate's (RFC 4180).
fn guard(s: &str) -> String {
    if s.starts_with(['=', '+', '-', '@', '\t', '\r']) && s.parse::<f64>().is_err() {
        format!("'{s}")
    } else {
        s.to_string()
    }
}

fn write_rows(rows: &[Vec<String>]) -> String {
    let mut w = csv::WriterBuilder::new()
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(Vec::new());
    for r in rows {
        // Writing into memory cannot fail.
        let _ = w.write_record(r);
    }
    let bytes = w.into_inner().unwrap_or_default();
    String::from_utf8_lossy(&bytes).into_owned()
}

pub fn csv(input: &Input) -> String {
    let factors: BTreeSet<&str> = input
        .results
        .trials
        .iter()
        .flat_map(|t| t.labels.keys().map(String::as_str))
        .collect();
    let mut header: Vec<String> = ["trial_id", "kind", "state", "studies", "seed", "fold"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    header.extend(factors.iter().map(|f| f.to_string()));
    header.extend(METRICS.iter().map(|m| m.key().to_string()));
    header.push("degenerate".into());
    let mut rows = vec![header];
    for t in &input.results.trials {
        let mut row = vec![
            guard(&t.id),
            guard(t.kind.as_str()),
            guard(t.state.as_str()),
            guard(
                &(t.studies.iter().map(ToString::to_string))
                    .collect::<Vec<_>>()
                    .join(";"),
            ),
            t.seed.to_string(),
            t.fold.map_or(String::new(), |f| f.to_string()),
        ];
        row.extend(
            factors
                .iter()
                .map(|f| guard(t.labels.get(*f).map_or("", String::as_str))),
        );
        row.extend(
            METRICS
                .iter()
                .map(|m| t.metrics.get(m).map_or(String::new(), |v| format!("{v}"))),
        );
        row.push(guard(
            &t.degenerate
                .as_ref()
                .map(|e| e.join("; "))
                .unwrap_or_default(),
        ));
        rows.push(row);
    }
    write_rows(&rows)
}

pub fn json(input: &Input) -> String {
    serde_json::to_string_pretty(input).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}

#[cfg(test)]
mod tests {
    use super::{guard, write_rows};

    fn cell(s: &str) -> String {
        write_rows(&[vec![guard(s)]])
            .trim_end_matches('\n')
            .to_string()
    }

    #[test]
    fn cells_a_spreadsheet_would_run_are_defused_numbers_are_not() {
        for s in ["=1+1", "+cmd", "-2+3", "@SUM(A1)", "\t=1+1", "\r=1+1"] {
            assert!(
                cell(s).trim_start_matches('"').starts_with('\''),
                "{s:?} -> {:?}",
                cell(s)
            );
        }
        assert_eq!(cell("-0.5"), "-0.5");
        assert_eq!(cell("+3"), "+3");
        assert_eq!(cell("a,b"), "\"a,b\"");
        assert_eq!(cell("\rx"), "\"'\rx\"", "guarded, then quoted for the CR");
    }
}
