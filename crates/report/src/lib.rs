//! `ablate-report` owns what a finished (or partial) sweep says: per-study tables
//! of mean ± sd across seeds, the paper's four conclusions judged with Welch's
//! t-test, provenance, and exports (`report.md`, `results.csv`, `results.json`).
//!
//! It reads the store only and writes files; it knows nothing of scheduling or
//! training. Every string from a sweep file or the database is escaped.

mod conclusions;
mod export;
mod input;
mod markdown;
pub mod stats;

use std::path::{Path, PathBuf};

pub use input::{Input, METRICS, Metric, Provenance, StudyInfo, TrialRow, load};

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

/// The rendered report, before it is written.
#[derive(Debug, Clone)]
pub struct Report {
    pub markdown: String,
    pub csv: String,
    pub json: String,
}

pub fn render(input: &Input) -> Report {
    Report {
        markdown: markdown::render(input),
        csv: export::csv(input),
        json: export::json(input),
    }
}

/// Writes `report.md`, `results.csv` and `results.json` into `dir`; returns the paths.
pub fn write(report: &Report, dir: &Path) -> Result<Vec<PathBuf>, ReportError> {
    std::fs::create_dir_all(dir).map_err(|source| ReportError::Write {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut written = Vec::new();
    for (name, text) in [
        ("report.md", &report.markdown),
        ("results.csv", &report.csv),
        ("results.json", &report.json),
    ] {
        let path = dir.join(name);
        let tmp = dir.join(format!(".{name}.tmp"));
        std::fs::write(&tmp, text)
            .and_then(|()| std::fs::rename(&tmp, &path))
            .map_err(|source| ReportError::Write {
                path: path.clone(),
                source,
            })?;
        written.push(path);
    }
    Ok(written)
}
