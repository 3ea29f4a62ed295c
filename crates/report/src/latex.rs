//! `tables.tex`: one booktabs table per study for a paper: mean ± sd over seeds
//! (folds averaged within a seed, as the verdicts count them), the best value in
//! bold, and a dagger on values significantly worse than the best (Welch's test
//! against the best configuration, Holm-adjusted within the column).

use std::fmt::Write as _;

use ablate_verdict::Arm;
use ablate_verdict::stats::{self, mean_sd};

use crate::configs::{configs, metrics_of};
use crate::input::Input;

/// Escapes text for LaTeX.
pub fn tex(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\textbackslash{}"),
            '&' | '%' | '$' | '#' | '_' | '{' | '}' => {
                out.push('\\');
                out.push(c);
            }
            '~' => out.push_str("\\textasciitilde{}"),
            '^' => out.push_str("\\textasciicircum{}"),
            '<' => out.push_str("\\textless{}"),
            '>' => out.push_str("\\textgreater{}"),
            '\n' | '\r' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

fn cell(x: f64) -> String {
    if x.abs() >= 10.0 {
        format!("{x:.2}")
    } else {
        format!("{x:.3}")
    }
}

pub fn render(input: &Input) -> String {
    let alpha = input.settings.alpha;
    let mut out = format!(
        "% Tables of sweep {}, written by ablate. Needs \\usepackage{{booktabs}}.\n\n",
        tex(&input.results.sweep)
    );
    for study in &input.results.studies {
        let axes: Vec<String> = study.axes.iter().map(|(a, _)| a.clone()).collect();
        let cs = configs(input, &study.name, &axes);
        let metrics = metrics_of(&cs);
        if cs.is_empty() || metrics.is_empty() {
            continue;
        }
        // Per configuration and metric: one value per complete seed.
        let arms: Vec<Vec<Arm>> = cs
            .iter()
            .map(|c| metrics.iter().map(|m| c.arm(*m)).collect())
            .collect();
        let mut cells: Vec<Vec<String>> = vec![Vec::new(); cs.len()];
        for (j, m) in metrics.iter().enumerate() {
            let means: Vec<f64> = arms.iter().map(|a| mean_sd(&a[j].values).0).collect();
            let best = (0..cs.len())
                .filter(|i| means[*i].is_finite())
                .min_by(|a, b| {
                    let o = means[*a].total_cmp(&means[*b]);
                    if m.lower_is_better() { o } else { o.reverse() }
                });
            // Each other configuration against the best, adjusted within the column.
            let tested: Vec<(usize, f64)> = best
                .map(|b| {
                    (0..cs.len())
                        .filter(|i| *i != b)
                        .filter_map(|i| {
                            stats::welch(&arms[i][j].values, &arms[b][j].values, alpha)
                                .ok()
                                .map(|w| (i, w.p))
                        })
                        .collect()
                })
                .unwrap_or_default();
            let adjusted = stats::holm(&tested.iter().map(|t| t.1).collect::<Vec<_>>());
            for (i, row) in cells.iter_mut().enumerate() {
                let v = &arms[i][j].values;
                if v.is_empty() {
                    row.push("--".into());
                    continue;
                }
                let (mean, sd) = mean_sd(v);
                let mut text = format!("{} $\\pm$ {}", cell(mean), cell(sd));
                if Some(i) == best {
                    text = format!("\\textbf{{{text}}}");
                }
                if tested
                    .iter()
                    .zip(&adjusted)
                    .any(|((k, _), p)| *k == i && *p <= alpha)
                {
                    text.push_str("$^\\dagger$");
                }
                row.push(text);
            }
        }
        let cols = "l".repeat(axes.len()) + "r" + &"r".repeat(metrics.len());
        let _ = writeln!(out, "\\begin{{table}}[t]\n\\centering");
        let _ = writeln!(
            out,
            "\\caption{{Study {}: mean $\\pm$ sd over seeds (N: seeds with every fold finished). Best in bold; $^\\dagger$: significantly worse than the best (Welch, Holm-adjusted within the column, $\\alpha = {alpha}$).}}",
            tex(&study.name)
        );
        let label: String = study
            .name
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect();
        let _ = writeln!(out, "\\label{{tab:ablate-{label}}}");
        let _ = writeln!(out, "\\begin{{tabular}}{{{cols}}}\n\\toprule");
        let mut head: Vec<String> = axes.iter().map(|a| tex(a)).collect();
        head.push("N".into());
        head.extend(metrics.iter().map(|m| {
            format!(
                "{} {}",
                tex(m.label()),
                if m.lower_is_better() {
                    "$\\downarrow$"
                } else {
                    "$\\uparrow$"
                }
            )
        }));
        let _ = writeln!(out, "{} \\\\\n\\midrule", head.join(" & "));
        for (i, c) in cs.iter().enumerate() {
            let mut row: Vec<String> = c.key.iter().map(|(_, v)| tex(v)).collect();
            let n = arms[i].iter().map(|a| a.values.len()).max().unwrap_or(0);
            row.push(n.to_string());
            row.extend(cells[i].iter().cloned());
            let _ = writeln!(out, "{} \\\\", row.join(" & "));
        }
        let _ = writeln!(out, "\\bottomrule\n\\end{{tabular}}\n\\end{{table}}\n");
    }
    out
}
