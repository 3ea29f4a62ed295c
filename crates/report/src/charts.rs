//! Charts with plotters, as PNG (text drawn with the embedded DejaVu font, so no
//! system font is needed) and SVG: per-study bars of the mean with its 95%
//! interval and every seed as a dot, learning curves (seeds thin, mean thick),
//! and CS(θ) curves. Legends sit in their own strip, never over the data.

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
const FONT: &str = "sans-serif";

fn fonts() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        for style in [FontStyle::Normal, FontStyle::Bold] {
            let _ = plotters::style::register_font(FONT, style, dejavu::sans::regular());
        }
    });
}

const PALETTE: [RGBColor; 8] = [
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

enum Spec<'a> {
    Bars(&'a Bars),
    Lines(&'a Lines),
}

fn draw<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, spec: &Spec<'_>) -> Result<(), String> {
    match spec {
        Spec::Bars(b) => draw_bars(root, b),
        Spec::Lines(l) => draw_lines(root, l),
    }
}

fn render(name: &str, title: &str, series: Vec<String>, spec: &Spec<'_>) -> Result<Chart, String> {
    fonts();
    let mut rgb = vec![255u8; (WIDTH * HEIGHT * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, (WIDTH, HEIGHT)).into_drawing_area();
        draw(&root, spec)?;
        root.present().map_err(|e| e.to_string())?;
    }
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        draw(&root, spec)?;
        root.present().map_err(|e| e.to_string())?;
    }
    let img = image::RgbImage::from_raw(WIDTH, HEIGHT, rgb).ok_or("chart buffer size")?;
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
    render(name, &b.title, series, &Spec::Bars(b))
}

/// A legend in its own strip: a swatch and a name per series, left to right.
fn legend<DB: DrawingBackend>(
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

fn draw_bars<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, b: &Bars) -> Result<(), String> {
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    root.fill(&WHITE).map_err(err)?;
    let (strip, plot) = if b.series.len() > 1 {
        let (top, rest) = root.split_vertically(30);
        (Some(top), rest)
    } else {
        (None, root.clone())
    };
    let highs = b.series.iter().flat_map(|(_, bars)| {
        bars.iter().flat_map(|x| {
            x.points
                .iter()
                .copied()
                .chain(x.ci.map(|c| c.1))
                .chain(x.mean)
        })
    });
    // Room above the highest dot or interval for the value labels.
    let top = highs.fold(0.0f64, f64::max).max(1e-9) * 1.15;
    let n = b.groups.len().max(1);
    let mut chart = ChartBuilder::on(&plot)
        .caption(&b.title, (FONT, 20))
        .margin(12)
        .x_label_area_size(60)
        .y_label_area_size(60)
        .build_cartesian_2d(-0.5f64..n as f64 - 0.5, 0f64..top)
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
        .y_desc(&b.y_label)
        .label_style((FONT, 13))
        .draw()
        .map_err(err)?;
    let k = b.series.len().max(1) as f64;
    let width = 0.8 / k;
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
                        (x0, top * 0.03),
                        style,
                    )))
                    .map_err(err)?;
                continue;
            };
            chart
                .draw_series(std::iter::once(Rectangle::new(
                    [(x0, 0.0), (x1, m)],
                    color.mix(0.35).filled(),
                )))
                .map_err(err)?;
            if let Some((lo, hi)) = bar.ci {
                chart
                    .draw_series(std::iter::once(PathElement::new(
                        vec![(mid, lo.max(0.0)), (mid, hi)],
                        BLACK.stroke_width(2),
                    )))
                    .map_err(err)?;
            }
            // Every seed, spread across the bar so equal values stay visible.
            let spread = (x1 - x0) * 0.6;
            let count = bar.points.len().max(1) as f64;
            chart
                .draw_series(bar.points.iter().enumerate().map(|(i, v)| {
                    let x = mid - spread / 2.0 + spread * (i as f64 + 0.5) / count;
                    Circle::new((x, *v), 3, color.filled())
                }))
                .map_err(err)?;
            let label_at = bar
                .ci
                .map_or(m, |c| c.1)
                .max(bar.points.iter().copied().fold(m, f64::max));
            chart
                .draw_series(std::iter::once(Text::new(
                    format!("{m:.3} (N={})", bar.n),
                    (x0, label_at + top * 0.015),
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

pub fn lines(name: &str, l: &Lines) -> Result<Chart, String> {
    let series = l
        .lines
        .iter()
        .filter(|(_, _, thick)| *thick)
        .map(|(s, _, _)| s.clone())
        .collect();
    render(name, &l.title, series, &Spec::Lines(l))
}

fn draw_lines<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, l: &Lines) -> Result<(), String> {
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    root.fill(&WHITE).map_err(err)?;
    let named: Vec<(String, RGBColor)> = l
        .lines
        .iter()
        .zip(&l.colors)
        .filter(|((_, _, thick), _)| *thick)
        .map(|((name, _, _), c)| (name.clone(), PALETTE[c % PALETTE.len()]))
        .collect();
    // One legend row holds about six names; the strip grows with them.
    let rows = named.len().div_ceil(6).max(1) as u32;
    let (strip, plot) = root.split_vertically(12 + 18 * rows);
    legend(&strip, &named)?;
    let pts = l.lines.iter().flat_map(|(_, p, _)| p.iter());
    let (mut x1, mut y0, mut y1) = (1.0f64, f64::INFINITY, f64::NEG_INFINITY);
    for (x, y) in pts {
        x1 = x1.max(*x);
        y0 = y0.min(*y);
        y1 = y1.max(*y);
    }
    if !y0.is_finite() {
        (y0, y1) = (0.0, 1.0);
    }
    let pad = ((y1 - y0) * 0.1).max(1e-6);
    let (xs, ticks) = match &l.x_ticks {
        Some(t) => (-0.5..t.len() as f64 - 0.5, t.clone()),
        None => (0f64..x1, Vec::new()),
    };
    let mut chart = ChartBuilder::on(&plot)
        .caption(&l.title, (FONT, 20))
        .margin(12)
        .x_label_area_size(45)
        .y_label_area_size(60)
        .build_cartesian_2d(xs, (y0 - pad)..(y1 + pad))
        .map_err(err)?;
    let categorical = l.x_ticks.is_some();
    let fmt = move |x: &f64| {
        if !categorical {
            return format!("{x}");
        }
        if (x - x.round()).abs() < 0.01 && *x >= 0.0 {
            ticks.get(x.round() as usize).cloned().unwrap_or_default()
        } else {
            String::new()
        }
    };
    let mut mesh = chart.configure_mesh();
    mesh.x_desc(&l.x_label)
        .y_desc(&l.y_label)
        .label_style((FONT, 13))
        .x_label_formatter(&fmt);
    if let Some(t) = &l.x_ticks {
        mesh.x_labels(t.len()).disable_x_mesh();
    }
    mesh.draw().map_err(err)?;
    for ((name, points, thick), c) in l.lines.iter().zip(&l.colors) {
        let color = PALETTE[c % PALETTE.len()];
        let style = if *thick {
            color.stroke_width(3)
        } else {
            color.mix(0.45).stroke_width(1)
        };
        let _ = name;
        chart
            .draw_series(LineSeries::new(points.iter().copied(), style))
            .map_err(err)?;
        if categorical && *thick {
            chart
                .draw_series(points.iter().map(|p| Circle::new(*p, 4, color.filled())))
                .map_err(err)?;
        }
    }
    Ok(())
}
