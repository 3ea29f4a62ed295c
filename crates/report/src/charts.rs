//! Charts with plotters, as PNG (text drawn with the embedded DejaVu font, so no
//! system font is needed) and SVG: per-study means with their 95% intervals and
//! every seed as a dot, on an axis scaled to the data; learning curves (seeds
//! thin, mean thick), and CS(θ) curves; light grids. Legends sit in their own
//! strip, never over the data. The forest plot of the verdicts' tests is in
//! `forest.rs`.

use std::sync::Once;

use plotters::coord::Shift;
use plotters::prelude::*;

/// A chart in both formats.
#[derive(Debug, Clone)]
pub struct Chart {
    pub name: String,
    pub title: String,
    pub png: Vec<u8>,
    pub svg: String,
    /// Series drawn, for tests and alt text.
    pub series: Vec<String>,
}

pub const WIDTH: u32 = 900;
pub const HEIGHT: u32 = 480;
pub(crate) const FONT: &str = "sans-serif";

fn fonts() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        for style in [FontStyle::Normal, FontStyle::Bold] {
            let _ = plotters::style::register_font(FONT, style, dejavu::sans::regular());
        }
    });
}

pub(crate) const PALETTE: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
];

/// One bar: the seeds' values, their mean and 95% interval. Without values it is
/// drawn as "n/a" (the configuration has no such metric, e.g. regression has no
/// ArgMax read-out) or "missing" (results still due).
#[derive(Debug, Clone)]
pub struct Bar {
    pub mean: Option<f64>,
    pub ci: Option<(f64, f64)>,
    pub points: Vec<f64>,
    pub n: usize,
    pub applies: bool,
}

/// Grouped bars: one group per configuration, one bar per series in each group.
#[derive(Debug, Clone)]
pub struct Bars {
    pub title: String,
    pub y_label: String,
    pub groups: Vec<String>,
    /// (series name, one bar per group).
    pub series: Vec<(String, Vec<Bar>)>,
}

/// One line: series name, points, and whether it is a thick (mean) line.
pub type Line = (String, Vec<(f64, f64)>, bool);

/// Lines: (series name, points, thick?).
#[derive(Debug, Clone)]
pub struct Lines {
    pub title: String,
    pub x_label: String,
    /// Category names at x = 0, 1, ... (an interaction chart); None: numeric x.
    pub x_ticks: Option<Vec<String>>,
    pub y_label: String,
    pub lines: Vec<Line>,
    /// Colour index per line (lines of one configuration share a colour).
    pub colors: Vec<usize>,
}

/// Something drawn on a chart, the same way into PNG and SVG.
pub(crate) trait Figure {
    /// Width and height in pixels.
    fn size(&self) -> (u32, u32) {
        (WIDTH, HEIGHT)
    }
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String>;
}

impl Figure for Bars {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        draw_bars(root, self)
    }
}

/// Grid lines light enough to read values by, not to compete with the data.
pub(crate) const GRID: RGBColor = RGBColor(232, 232, 232);
pub(crate) const GRID_BOLD: RGBColor = RGBColor(210, 210, 210);

pub(crate) fn render<F: Figure>(
    name: &str,
    title: &str,
    series: Vec<String>,
    f: &F,
) -> Result<Chart, String> {
    fonts();
    let (w, h) = f.size();
    let mut rgb = vec![255u8; (w * h * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, (w, h)).into_drawing_area();
        f.draw(&root)?;
        root.present().map_err(|e| e.to_string())?;
    }
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (w, h)).into_drawing_area();
        f.draw(&root)?;
        root.present().map_err(|e| e.to_string())?;
    }
    let img = image::RgbImage::from_raw(w, h, rgb).ok_or("chart buffer size")?;
    let mut png = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .map_err(|e| e.to_string())?;
    Ok(Chart {
        name: name.to_string(),
        title: title.to_string(),
        png,
        svg,
        series,
    })
}

pub fn bars(name: &str, b: &Bars) -> Result<Chart, String> {
    let series = b.series.iter().map(|(s, _)| s.clone()).collect();
    render(name, &b.title, series, b)
}

/// A legend in its own strip: a swatch and a name per series, left to right.
pub(crate) fn legend<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    items: &[(String, RGBColor)],
) -> Result<(), String> {
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    let (mut x, mut y) = (70i32, 8i32);
    let width = area.dim_in_pixel().0 as i32;
    for (name, color) in items {
        let w = 24 + 7 * name.chars().count() as i32;
        if x + w > width - 10 {
            x = 70;
            y += 18;
        }
        area.draw(&Rectangle::new([(x, y), (x + 12, y + 10)], color.filled()))
            .map_err(err)?;
        area.draw(&Text::new(
            name.clone(),
            (x + 16, y - 1),
            (FONT, 12).into_font(),
        ))
        .map_err(err)?;
        x += w;
    }
    Ok(())
}

/// The value range a bar chart shows: its means, intervals and seeds, padded,
/// so a 0.854 vs 0.900 difference is not flattened onto a 0-1 axis.
pub(crate) fn value_range(b: &Bars) -> (f64, f64) {
    let values = b.series.iter().flat_map(|(_, bars)| {
        bars.iter().flat_map(|x| {
            x.points
                .iter()
                .copied()
                .chain(x.ci.into_iter().flat_map(|c| [c.0, c.1]))
                .chain(x.mean)
        })
    });
    let (lo, hi) = values
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
            (a.min(v), b.max(v))
        });
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    let span = (hi - lo).max(hi.abs() * 0.02).max(1e-6);
    // Room below for "n/a", above for the value labels.
    (lo - span * 0.12, hi + span * 0.22)
}

/// Each configuration's mean (a bar across its slot) with its 95% interval
/// (whiskers) and every seed (dots), on an axis scaled to the data.
fn draw_bars<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, b: &Bars) -> Result<(), String> {
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    root.fill(&WHITE).map_err(err)?;
    let (strip, plot) = if b.series.len() > 1 {
        let (top, rest) = root.split_vertically(30);
        (Some(top), rest)
    } else {
        (None, root.clone())
    };
    let (y0, y1) = value_range(b);
    let n = b.groups.len().max(1);
    let mut chart = ChartBuilder::on(&plot)
        .caption(&b.title, (FONT, 18))
        .margin(12)
        .x_label_area_size(60)
        .y_label_area_size(70)
        .build_cartesian_2d(-0.5f64..n as f64 - 0.5, y0..y1)
        .map_err(err)?;
    let groups = b.groups.clone();
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(n)
        // Groups sit at integer x, which are the axis' natural key points.
        .x_label_formatter(&|x| {
            if (x - x.round()).abs() < 0.01 && *x >= 0.0 {
                groups.get(x.round() as usize).cloned().unwrap_or_default()
            } else {
                String::new()
            }
        })
        .max_light_lines(1)
        .light_line_style(GRID)
        .bold_line_style(GRID_BOLD)
        .y_desc(&b.y_label)
        .label_style((FONT, 13))
        .draw()
        .map_err(err)?;
    let k = b.series.len().max(1) as f64;
    let width = 0.8 / k;
    let span = y1 - y0;
    for (s, (_, bars)) in b.series.iter().enumerate() {
        let color = PALETTE[s % PALETTE.len()];
        for (g, bar) in bars.iter().enumerate() {
            let x0 = g as f64 - 0.4 + s as f64 * width;
            let x1 = x0 + width * 0.9;
            let mid = (x0 + x1) / 2.0;
            let Some(m) = bar.mean else {
                let (text, style) = if bar.applies {
                    ("missing", (FONT, 12).into_font().color(&RED))
                } else {
                    (
                        "n/a",
                        (FONT, 12).into_font().color(&RGBColor(120, 120, 120)),
                    )
                };
                chart
                    .draw_series(std::iter::once(Text::new(
                        text.to_string(),
                        (x0, y0 + span * 0.06),
                        style,
                    )))
                    .map_err(err)?;
                continue;
            };
            // Every seed first, spread across the slot so equal values stay visible.
            let spread = (x1 - x0) * 0.7;
            let count = bar.points.len().max(1) as f64;
            chart
                .draw_series(bar.points.iter().enumerate().map(|(i, v)| {
                    let x = mid - spread / 2.0 + spread * (i as f64 + 0.5) / count;
                    Circle::new((x, *v), 3, color.mix(0.55).filled())
                }))
                .map_err(err)?;
            if let Some((lo, hi)) = bar.ci {
                let cap = (x1 - x0) * 0.18;
                for path in [
                    vec![(mid, lo), (mid, hi)],
                    vec![(mid - cap, lo), (mid + cap, lo)],
                    vec![(mid - cap, hi), (mid + cap, hi)],
                ] {
                    chart
                        .draw_series(std::iter::once(PathElement::new(
                            path,
                            BLACK.stroke_width(2),
                        )))
                        .map_err(err)?;
                }
            }
            let half = (x1 - x0) * 0.32;
            chart
                .draw_series(std::iter::once(PathElement::new(
                    vec![(mid - half, m), (mid + half, m)],
                    color.stroke_width(4),
                )))
                .map_err(err)?;
            let label_at = bar
                .ci
                .map_or(m, |c| c.1)
                .max(bar.points.iter().copied().fold(m, f64::max));
            chart
                .draw_series(std::iter::once(Text::new(
                    format!("{} (N={})", short(m), bar.n),
                    (x0, label_at + span * 0.03),
                    (FONT, 11).into_font(),
                )))
                .map_err(err)?;
        }
    }
    if let Some(strip) = strip {
        let items: Vec<(String, RGBColor)> = b
            .series
            .iter()
            .enumerate()
            .map(|(i, (name, _))| (name.clone(), PALETTE[i % PALETTE.len()]))
            .collect();
        legend(&strip, &items)?;
    }
    Ok(())
}

/// A value for a label: three decimals below 10, two above.
pub(crate) fn short(v: f64) -> String {
    if v.abs() < 10.0 {
        format!("{v:.3}")
    } else {
        format!("{v:.2}")
    }
}
