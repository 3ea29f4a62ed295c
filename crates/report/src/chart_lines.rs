//! Line charts: learning curves (seeds thin, the mean thick), CS(θ) curves,
//! and the interaction charts of two-factor studies (category x axis).

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::charts::{Chart, FONT, Figure, GRID, GRID_BOLD, Lines, PALETTE, legend, render};

impl Figure for Lines {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        draw_lines(root, self)
    }
}

pub fn lines(name: &str, l: &Lines) -> Result<Chart, String> {
    let series = l
        .lines
        .iter()
        .filter(|(_, _, thick)| *thick)
        .map(|(s, _, _)| s.clone())
        .collect();
    render(name, &l.title, series, l)
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
    mesh.max_light_lines(1)
        .light_line_style(GRID)
        .bold_line_style(GRID_BOLD)
        .x_desc(&l.x_label)
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
