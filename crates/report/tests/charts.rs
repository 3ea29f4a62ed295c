//! Charts a reader can read: means with intervals on an axis scaled to the data
//! (not bars from zero, which flatten a 0.854 vs 0.900 difference), and a
//! forest plot of every test behind the verdicts, the sweep's own claims first.
#![allow(clippy::unwrap_used)]

mod common;

use ablate_report::render;
use common::input;

/// The numbers an SVG shows as text (axis ticks and value labels).
fn numbers(svg: &str) -> Vec<f64> {
    svg.split("</text>")
        .filter_map(|t| t.rsplit('>').next())
        .filter_map(|t| t.trim().parse::<f64>().ok())
        .collect()
}

#[test]
fn the_value_axis_is_scaled_to_the_data() {
    let i = input(
        &[0.85, 0.86, 0.85, 0.856],
        &[0.90, 0.901, 0.899, 0.90],
        &[],
        "",
    );
    let r = render(&i);
    let chart = r
        .charts
        .iter()
        .flat_map(|(_, cs)| cs)
        .find(|c| c.name == "depth-gender")
        .unwrap();
    let ticks = numbers(&chart.svg);
    assert!(!ticks.is_empty(), "{}", chart.svg);
    let lowest = ticks.iter().copied().fold(f64::INFINITY, f64::min);
    assert!(lowest > 0.8, "the axis reaches down to {lowest}: {ticks:?}");
}

#[test]
fn a_forest_plot_shows_every_test_behind_the_verdicts_after_their_table() {
    let i = input(
        &[0.80, 0.81, 0.80, 0.79],
        &[0.90, 0.91, 0.90, 0.89],
        &[],
        "",
    );
    let r = render(&i);
    let (_, forests) = r.charts.iter().find(|(k, _)| k == "#verdicts").unwrap();
    let names: Vec<&str> = forests.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        names,
        ["verdicts-gender_accuracy"],
        "one per metric with tests"
    );
    let svg = &forests[0].svg;
    assert!(
        svg.contains("the deeper net recognises gender better"),
        "the claim heads its rows"
    );
    assert!(svg.contains("depth = vgg9 vs depth = vgg7"), "{svg}");
    // A dot per test, and the legend's colours.
    assert_eq!(svg.matches("<circle").count(), 1);
    assert!(svg.contains("shown different") && svg.contains("open"));
    let md = &r.markdown;
    let image = md
        .find("![Tests behind the verdicts: gender accuracy](verdicts-gender_accuracy.png)")
        .unwrap_or_else(|| panic!("{md}"));
    assert!(image > md.find("| claim | verdict").unwrap());
    assert!(
        image < md.find("- **the deeper net").unwrap(),
        "before the long text"
    );
    assert!(
        r.html.contains("data:image/png;base64,"),
        "embedded in the page"
    );
}
