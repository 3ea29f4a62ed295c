//! Loaders: each reads a dataset as distributed (file names, folders, name lists,
//! manifests) into labelled samples, and reports every file it leaves out and why.
//! No pixel is decoded here.

pub(crate) mod csv;
mod fgnet;
mod lfw;
mod utkface;

use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use ablate_spec::types::Source;

use crate::error::DataError;
use crate::sample::{FileStamp, Scan, SkipReason, Skipped, is_image};

/// Scans the dataset `source` describes; relative paths are resolved against `base`.
pub fn scan(source: &Source, base: &Path) -> Result<Scan, DataError> {
    scan_source(source, base).map_err(|e| match e {
        DataError::NotFound { path, .. } => DataError::NotFound {
            path,
            hint: where_to_get(source),
        },
        other => other,
    })
}

/// The "does not exist" error of a source whose files are absent (its folder, or
/// a csv source's manifest), with where to get the data; None when present or
/// generated. Cheap: a run checks every dataset with it before preparing any.
pub fn missing(source: &Source, base: &Path) -> Option<DataError> {
    let path = base.join(source.path()?);
    if std::fs::metadata(&path).is_ok() {
        return None;
    }
    Some(DataError::NotFound {
        path,
        hint: where_to_get(source),
    })
}

/// Where a user gets a dataset of this kind, for the "does not exist" error.
fn where_to_get(source: &Source) -> String {
    match source {
        Source::Utkface { .. } => "UTKFace is downloaded from https://susanqq.github.io/UTKFace/ (its \"Aligned&Cropped Faces\"); point `path` at the folder of its images, named AGE_GENDER_RACE_DATETIME.jpg.chip.jpg".into(),
        Source::Lfw { .. } => "LFW is downloaded from https://vis-www.cs.umass.edu/lfw/ (its deep-funneled images); point `path` at the folder that holds one PERSON/PERSON_NNNN.jpg folder per person and the gender lists male_names.txt and female_names.txt".into(),
        Source::Fgnet { .. } => "FG-NET (SSSAnn.JPG images) is distributed by its authors on request; point `path` at its images folder".into(),
        Source::Csv { .. } => "write a csv manifest with one row per image (a path column plus label columns) and point `path` at it".into(),
        Source::SyntheticFaces { .. } | Source::SyntheticObjects { .. } => String::new(),
    }
}

fn scan_source(source: &Source, base: &Path) -> Result<Scan, DataError> {
    match source {
        Source::Utkface { path } => utkface::scan(&base.join(path)),
        Source::Lfw { path, min_images } => lfw::scan(&base.join(path), *min_images),
        Source::Fgnet { path } => fgnet::scan(&base.join(path)),
        Source::Csv {
            path,
            root,
            columns,
        } => {
            let manifest = base.join(path);
            let root = match root {
                Some(r) => base.join(r),
                None => manifest.parent().map(Path::to_path_buf).unwrap_or_default(),
            };
            csv::scan(&manifest, &root, columns)
        }
        Source::SyntheticFaces { .. } | Source::SyntheticObjects { .. } => {
            Ok(crate::synthetic::scan(source))
        }
    }
}

/// Where a source's files are (None for generated sets).
pub fn root(source: &Source, base: &Path) -> Option<PathBuf> {
    match source {
        Source::Csv { path, root, .. } => Some(match root {
            Some(r) => base.join(r),
            None => base
                .join(path)
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_default(),
        }),
        other => other.path().map(|p| base.join(p)),
    }
}

/// A folder that must exist.
pub(crate) fn require_dir(path: &Path) -> Result<(), DataError> {
    match std::fs::metadata(path) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => Err(DataError::WrongKind {
            path: path.to_path_buf(),
            expected: "folder",
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(DataError::NotFound {
            path: path.to_path_buf(),
            hint: String::new(),
        }),
        Err(e) => Err(DataError::io(path, e)),
    }
}

/// Every file under `root` (recursively, hidden ones left out), as sorted paths relative to it.
pub(crate) fn walk(root: &Path) -> Result<Vec<String>, DataError> {
    let mut out = Vec::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let dir = root.join(&rel);
        let entries = std::fs::read_dir(&dir).map_err(|e| DataError::io(&dir, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| DataError::io(&dir, e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                continue;
            }
            let child = rel.join(&name);
            let kind = entry
                .file_type()
                .map_err(|e| DataError::io(entry.path(), e))?;
            // Follow symlinks to files and folders alike: datasets are often linked in.
            let is_dir = kind.is_dir() || (kind.is_symlink() && entry.path().is_dir());
            if is_dir {
                stack.push(child);
            } else {
                out.push(child.to_string_lossy().into_owned());
            }
        }
    }
    out.sort();
    Ok(out)
}

pub(crate) fn stamp(root: &Path, rel: &str) -> Result<FileStamp, DataError> {
    let path = root.join(rel);
    let meta = std::fs::metadata(&path).map_err(|e| DataError::io(&path, e))?;
    let mtime_ns = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    Ok(FileStamp {
        path: rel.to_string(),
        len: meta.len(),
        mtime_ns,
    })
}

/// Splits non-image files off as skipped; returns the image paths.
pub(crate) fn images_only(files: Vec<String>, skipped: &mut Vec<Skipped>) -> Vec<String> {
    let (images, others): (Vec<String>, Vec<String>) = files.into_iter().partition(|f| is_image(f));
    skipped.extend(others.into_iter().map(|path| Skipped {
        path,
        reason: SkipReason::NotAnImage,
    }));
    images
}

/// The last path component.
pub(crate) fn file_name(rel: &str) -> &str {
    rel.rsplit(['/', '\\']).next().unwrap_or(rel)
}

/// An error for a folder where nothing parsed, naming the first reason.
pub(crate) fn nothing_usable(
    path: &Path,
    kind: &'static str,
    layout: &'static str,
    scan: &Scan,
) -> DataError {
    DataError::NothingUsable {
        path: path.to_path_buf(),
        kind,
        layout,
        skipped: scan.skipped.len(),
        first_reason: scan
            .skipped
            .first()
            .map(|s| format!("{}: {}", s.path, s.reason)),
    }
}
