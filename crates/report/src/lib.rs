//! `ablate-report` owns what a finished (or partial) sweep says: per-study tables
//! of mean ± sd across seeds and charts, the sweep's claims (its own first, the
//! paper's where its studies can judge them) with every test behind them and a
//! forest plot of those tests, provenance, and exports (`report.md`,
//! `results.csv`, `results.json`).
//!
//! It reads the store only and writes files; it knows nothing of scheduling or
//! training. Every string from a sweep file or the database is escaped.

mod chart_lines;
mod charts;
mod conclusions;
mod configs;
mod datasets;
mod export;
mod figures;
mod forest;
mod format;
mod html;
mod importance;
mod input;
mod latex;
mod markdown;
pub mod plan;
mod rounds;
mod sensitivity;
pub mod status;
pub mod text;
pub mod web;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

pub use datasets::DataInfo;
pub use input::{Input, METRICS, Metric, Provenance, StudyInfo, SweepResults, TrialRow, load};

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error(transparent)]
    Store(#[from] ablate_store::StoreError),
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl ReportError {
    /// Only a missing database is the user's doing; writing files is not.
    pub fn is_invalid_input(&self) -> bool {
        match self {
            ReportError::Store(e) => e.is_invalid_input(),
            ReportError::Write { .. } => false,
        }
    }
}

pub use charts::Chart;

/// The rendered report, before it is written.
#[derive(Debug, Clone)]
pub struct Report {
    pub markdown: String,
    pub html: String,
    pub csv: String,
    pub json: String,
    /// `tables.tex`: booktabs tables per study.
    pub latex: String,
    /// Charts per study.
    pub charts: Vec<(String, Vec<Chart>)>,
}

/// Renders without charts (fast; what the snapshot tests compare).
pub fn render_text(input: &Input) -> Report {
    let markdown = markdown::render(input, &[]);
    let html = html::render(
        &markdown,
        &format!("Ablation report: {}", input.results.sweep),
        &HashMap::new(),
    );
    Report {
        markdown,
        html,
        csv: export::csv(input),
        json: export::json(input),
        latex: latex::render(input),
        charts: Vec::new(),
    }
}

/// Renders everything, charts included.
pub fn render(input: &Input) -> Report {
    let mut charts = figures::study_charts(input);
    charts.push((markdown::VERDICT_CHARTS.to_string(), forest::charts(input)));
    let markdown = markdown::render(input, &charts);
    let images: HashMap<String, Vec<u8>> = charts
        .iter()
        .flat_map(|(_, cs)| {
            cs.iter()
                .map(|c| (format!("{}.png", c.name), c.png.clone()))
        })
        .collect();
    let html = html::render(
        &markdown,
        &format!("Ablation report: {}", input.results.sweep),
        &images,
    );
    Report {
        markdown,
        html,
        csv: export::csv(input),
        json: export::json(input),
        latex: latex::render(input),
        charts,
    }
}

/// Writes index.html, report.md, results.csv, results.json and each chart as PNG
/// and SVG into `dir` (each through a temporary file); returns the paths.
pub fn write(report: &Report, dir: &Path) -> Result<Vec<PathBuf>, ReportError> {
    std::fs::create_dir_all(dir).map_err(|source| ReportError::Write {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut files: Vec<(String, &[u8])> = vec![
        ("index.html".into(), report.html.as_bytes()),
        ("report.md".into(), report.markdown.as_bytes()),
        ("results.csv".into(), report.csv.as_bytes()),
        ("results.json".into(), report.json.as_bytes()),
        ("tables.tex".into(), report.latex.as_bytes()),
    ];
    for c in report.charts.iter().flat_map(|(_, cs)| cs) {
        files.push((format!("{}.png", c.name), &c.png));
        files.push((format!("{}.svg", c.name), c.svg.as_bytes()));
    }
    let mut written = Vec::new();
    for (name, bytes) in files {
        let path = dir.join(&name);
        let tmp = dir.join(format!(".{name}.tmp"));
        std::fs::write(&tmp, bytes)
            .and_then(|()| std::fs::rename(&tmp, &path))
            .map_err(|source| ReportError::Write {
                path: path.clone(),
                source,
            })?;
        written.push(path);
    }
    Ok(written)
}
