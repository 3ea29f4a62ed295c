//! Errors of reading datasets and caches; each names the path and says what to do.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("dataset folder {} does not exist; check `path` in the sweep file (relative paths are relative to the sweep file's folder){}", path.display(), if hint.is_empty() { String::new() } else { format!(". {hint}") })]
    NotFound { path: PathBuf, hint: String },
    #[error("{} datasets are missing, and nothing was prepared or trained:\n{}", list.len(), list.iter().map(|e| format!("  - {e}")).collect::<Vec<_>>().join("\n"))]
    Missing { list: Vec<DataError> },
    #[error("{} is not a {expected}", path.display())]
    WrongKind {
        path: PathBuf,
        expected: &'static str,
    },
    #[error("cannot read {}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: no usable image ({skipped} skipped{}); a {kind} dataset expects {layout}", path.display(), first_reason.as_ref().map(|r| format!(", e.g. {r}")).unwrap_or_default())]
    NothingUsable {
        path: PathBuf,
        kind: &'static str,
        layout: &'static str,
        skipped: usize,
        first_reason: Option<String>,
    },
    #[error("{}: {skipped} files skipped and the dataset is strict (first: {first}); fix or remove them, or set strict = false", path.display())]
    Strict {
        path: PathBuf,
        skipped: usize,
        first: String,
    },
    #[error("{}:{line}: {message}", path.display())]
    Manifest {
        path: PathBuf,
        line: u64,
        message: String,
    },
    #[error("cache {} is unusable ({why}); delete it and run `ablate data prepare` again", path.display())]
    BadCache { path: PathBuf, why: String },
    #[error(
        "a split of {what} leaves the {part} part empty ({count} units); use a larger dataset or other fractions"
    )]
    EmptySplit {
        what: String,
        part: &'static str,
        count: usize,
    },
    #[error("fold {fold} does not exist: the split has {folds} folds")]
    NoSuchFold { fold: u32, folds: u32 },
    #[error("unknown dataset kind {kind:?}: expected one of {}", crate::inspect::KINDS.join(", "))]
    UnknownKind { kind: String },
}

impl DataError {
    /// Every data error is about what the user pointed ablate at (a folder, a
    /// manifest, a cache to rebuild, split settings): `ablate` exits 2 for it.
    pub fn is_invalid_input(&self) -> bool {
        true
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        DataError::Io {
            path: path.into(),
            source,
        }
    }
}
