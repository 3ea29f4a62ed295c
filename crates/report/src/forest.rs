//! The forest plot of the verdicts: every test behind them, one row each, its
//! difference (first arm minus second) with its interval against zero, the
//! margin of an equivalence or non-inferiority test shaded, coloured by what
//! the adjusted test decided; the sweep's own claims first. One chart per
//! metric, so every row of a chart is in one unit.

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::charts::{Chart, FONT, Figure, GRID, GRID_BOLD, legend, render};
use crate::input::{Input, METRICS, Metric};
use ablate_verdict::{Decision, Judgement, Kind, Test, Verdict};

/// What the adjusted test decided, as a colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// One arm shown better than the other.
    Differs,
    /// Equivalent, or no worse, within the margin.
    Within,
    /// Shown worse beyond the margin.
    Worse,
    Open,
}

impl Outcome {
    fn of(t: &Test) -> Outcome {
        match t.decision {
            Decision::ABetter | Decision::BBetter => Outcome::Differs,
            Decision::Equivalent | Decision::NoWorse => Outcome::Within,
            Decision::Worse => Outcome::Worse,
            Decision::Open => Outcome::Open,
        }
    }

    fn color(self) -> RGBColor {
        match self {
            Outcome::Differs => RGBColor(31, 119, 180),
            Outcome::Within => RGBColor(44, 160, 44),
            Outcome::Worse => RGBColor(214, 39, 40),
            Outcome::Open => RGBColor(140, 140, 140),
        }
    }

    /// What it decided, in the words of the chart's legend.
    pub fn words(self) -> &'static str {
        Outcome::ALL
            .iter()
            .find(|(o, _)| *o == self)
            .map_or("open", |(_, w)| w)
    }

    const ALL: [(Outcome, &'static str); 4] = [
        (Outcome::Differs, "shown different"),
        (Outcome::Within, "shown within the margin"),
        (Outcome::Worse, "shown worse than the margin"),
        (Outcome::Open, "open"),
    ];
}

/// A test as a row shows it: the difference, its interval, the margin of a
/// margin test, and the decision.
pub type Interval = (f64, (f64, f64), Option<f64>, Outcome);

/// A row: a claim's name (a heading, no interval) or one of its tests.
#[derive(Debug, Clone)]
pub struct Row {
    pub label: String,
    pub test: Option<Interval>,
}

#[derive(Debug, Clone)]
pub struct Forest {
    pub title: String,
    pub x_label: String,
    pub rows: Vec<Row>,
}

const ROW: u32 = 24;

impl Figure for Forest {
    fn size(&self) -> (u32, u32) {
        (1000, 130 + ROW * self.rows.len() as u32)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        draw(root, self)
    }
}

/// Text cut to `n` characters, with an ellipsis.
fn cut(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(n - 1).collect::<String>())
    }
}

/// The forest plots of `input`'s verdicts, one per metric with tests.
pub fn charts(input: &Input) -> Vec<Chart> {
    let j = crate::configs::judge(input);
    forests(&j, None)
        .into_iter()
        .filter_map(|(m, f)| {
            render(&format!("verdicts-{}", m.key()), &f.title, Vec::new(), &f).ok()
        })
        .collect()
}

/// The forests of judgement `j`, one per metric with tests: the sweep's own
/// claims first, each claim's name a row over its tests; only the claims
/// judged on `study` when one is given.
pub fn forests(j: &Judgement, study: Option<&str>) -> Vec<(Metric, Forest)> {
    let mine = |v: &&Verdict| study.is_none_or(|s| v.study.as_deref() == Some(s));
    let mut order: Vec<&Verdict> = j
        .verdicts
        .iter()
        .filter(|v| !v.builtin)
        .filter(mine)
        .collect();
    order.extend(j.verdicts.iter().filter(|v| v.builtin).filter(mine));
    let mut out = Vec::new();
    for m in METRICS {
        let rows: Vec<Row> = order.iter().flat_map(|v| claim_rows(j, v, m)).collect();
        if rows.is_empty() {
            continue;
        }
        let f = Forest {
            title: format!("Tests behind the verdicts: {}", m.label()),
            x_label: format!(
                "difference, first minus second ({}); 95% interval (90% for margin tests); colour: the Holm-adjusted decision",
                if m.lower_is_better() {
                    "below 0: first better"
                } else {
                    "above 0: first better"
                }
            ),
            rows,
        };
        out.push((m, f));
    }
    out
}

/// A claim's heading row and one row per test of it on metric `m` (none when
/// it has no such test).
fn claim_rows(j: &Judgement, v: &Verdict, m: Metric) -> Vec<Row> {
    let tests: Vec<&Test> = (v.tests.iter())
        .map(|i| &j.tests[*i])
        .filter(|t| t.metric == m.key() && !t.descriptive && t.stat.is_ok())
        .collect();
    if tests.is_empty() {
        return Vec::new();
    }
    let mut rows = vec![Row {
        label: cut(&v.claim, 90),
        test: None,
    }];
    for t in tests {
        let Ok(stat) = &t.stat else { continue };
        let w = stat.welch();
        let margin = match t.kind {
            Kind::Equivalence { margin } | Kind::NoWorse { margin } | Kind::Worse { margin } => {
                Some(margin)
            }
            _ => None,
        };
        let what = t.what.split_once(": ").map_or(t.what.as_str(), |(_, w)| w);
        // The same two arms may be tested for a difference and for
        // equivalence: say which row is which.
        let what = match t.kind {
            Kind::Equivalence { margin } => format!("{what}, within ±{margin}"),
            Kind::Contrast => format!("{what} (contrast)"),
            _ => what.to_string(),
        };
        rows.push(Row {
            label: cut(&what, 72),
            test: Some((w.diff, w.ci, margin, Outcome::of(t))),
        });
    }
    rows
}

fn x_range(f: &Forest) -> (f64, f64) {
    let (mut lo, mut hi) = (0.0f64, 0.0f64);
    for (d, (a, b), m, _) in f.rows.iter().filter_map(|r| r.test) {
        lo = lo.min(a).min(d).min(-m.unwrap_or(0.0));
        hi = hi.max(b).max(d).max(m.unwrap_or(0.0));
    }
    let pad = ((hi - lo) * 0.08).max(1e-6);
    (lo - pad, hi + pad)
}

fn draw<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, f: &Forest) -> Result<(), String> {
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    root.fill(&WHITE).map_err(err)?;
    let (strip, plot) = root.split_vertically(30);
    let items: Vec<(String, RGBColor)> = Outcome::ALL
        .iter()
        .map(|(o, name)| (name.to_string(), o.color()))
        .collect();
    legend(&strip, &items)?;
    let n = f.rows.len().max(1);
    let (x0, x1) = x_range(f);
    // Row i sits at y = -i, so the first row is at the top.
    let mut chart = ChartBuilder::on(&plot)
        .caption(&f.title, (FONT, 18))
        .margin(12)
        .x_label_area_size(45)
        .y_label_area_size(460)
        .build_cartesian_2d(x0..x1, -(n as f64) + 0.5..0.5)
        .map_err(err)?;
    // A test's label beside its row; a claim's name (a heading) in the plot.
    let labels: Vec<String> = f
        .rows
        .iter()
        .map(|r| {
            if r.test.is_some() {
                r.label.clone()
            } else {
                String::new()
            }
        })
        .collect();
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(n + 1)
        .y_label_formatter(&|y| {
            if (y - y.round()).abs() < 0.01 && *y <= 0.0 {
                labels
                    .get((-y.round()) as usize)
                    .cloned()
                    .unwrap_or_default()
            } else {
                String::new()
            }
        })
        .max_light_lines(1)
        .light_line_style(GRID)
        .bold_line_style(GRID_BOLD)
        .x_desc(&f.x_label)
        .label_style((FONT, 12))
        .draw()
        .map_err(err)?;
    chart
        .draw_series(std::iter::once(PathElement::new(
            vec![(0.0, -(n as f64) + 0.5), (0.0, 0.5)],
            BLACK.stroke_width(1),
        )))
        .map_err(err)?;
    for (i, r) in f.rows.iter().enumerate() {
        let y = -(i as f64);
        let Some((d, (lo, hi), margin, outcome)) = r.test else {
            let bold = FontDesc::new(FontFamily::Name(FONT), 13.0, FontStyle::Bold);
            chart
                .draw_series(std::iter::once(Text::new(
                    r.label.clone(),
                    (x0, y + 0.25),
                    bold.color(&BLACK),
                )))
                .map_err(err)?;
            continue;
        };
        if let Some(m) = margin {
            chart
                .draw_series(std::iter::once(Rectangle::new(
                    [(-m, y - 0.4), (m, y + 0.4)],
                    Outcome::Within.color().mix(0.12).filled(),
                )))
                .map_err(err)?;
        }
        let c = outcome.color();
        chart
            .draw_series(std::iter::once(PathElement::new(
                vec![(lo, y), (hi, y)],
                c.stroke_width(2),
            )))
            .map_err(err)?;
        chart
            .draw_series(std::iter::once(Circle::new((d, y), 5, c.filled())))
            .map_err(err)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_range_holds_zero_every_interval_and_every_margin() {
        let f = Forest {
            title: String::new(),
            x_label: String::new(),
            rows: vec![
                Row {
                    label: "a".into(),
                    test: Some((1.0, (0.5, 1.5), None, Outcome::Differs)),
                },
                Row {
                    label: "b".into(),
                    test: Some((0.1, (-0.1, 0.2), Some(0.5), Outcome::Within)),
                },
            ],
        };
        let (lo, hi) = x_range(&f);
        assert!(lo < -0.5 && hi > 1.5, "{lo} {hi}");
        assert_eq!(cut("abcdef", 4), "abc…");
    }
}
