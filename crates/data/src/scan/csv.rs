//! A csv manifest: a header row, a path column and any of age, age_std, gender,
//! identity and class columns (MORPH-II, IMDB-WIKI or ChaLearn LAP exports).

use std::collections::BTreeMap;
use std::path::Path;

use ablate_spec::types::CsvColumns;

use super::stamp;
use crate::error::DataError;
use crate::sample::{Sample, Scan, SkipReason, Skipped, is_image};

pub(crate) fn scan(manifest: &Path, root: &Path, columns: &CsvColumns) -> Result<Scan, DataError> {
    if !manifest.is_file() {
        return Err(if manifest.exists() {
            DataError::WrongKind {
                path: manifest.to_path_buf(),
                expected: "csv file",
            }
        } else {
            DataError::NotFound {
                path: manifest.to_path_buf(),
                hint: String::new(),
            }
        });
    }
    let mut reader = ::csv::ReaderBuilder::new()
        .flexible(false)
        .from_path(manifest)
        .map_err(|e| manifest_error(manifest, &e))?;
    let headers = reader
        .headers()
        .map_err(|e| manifest_error(manifest, &e))?
        .clone();
    let find = |name: &Option<String>| -> Result<Option<usize>, DataError> {
        let Some(name) = name else { return Ok(None) };
        match headers.iter().position(|h| h.trim() == name) {
            Some(i) => Ok(Some(i)),
            None => Err(DataError::Manifest {
                path: manifest.to_path_buf(),
                line: 1,
                message: format!(
                    "no column {name:?} in the header; columns are: {}",
                    headers.iter().collect::<Vec<_>>().join(", ")
                ),
            }),
        }
    };
    let path_col = find(&Some(columns.path.clone()))?.unwrap_or(0);
    let (age_col, std_col, gender_col, id_col, class_col) = (
        find(&columns.age)?,
        find(&columns.age_std)?,
        find(&columns.gender)?,
        find(&columns.identity)?,
        find(&columns.class)?,
    );

    let mut scan = Scan::default();
    let manifest_name = manifest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if let Some(dir) = manifest.parent() {
        scan.stamps.push(stamp(dir, &manifest_name)?);
    }
    let mut identities: BTreeMap<String, u32> = BTreeMap::new();
    let mut classes: BTreeMap<String, u32> = BTreeMap::new();
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| manifest_error(manifest, &e))?;
        let line = record.position().map_or(0, |p| p.line());
        let get = |c: Option<usize>| {
            c.and_then(|i| record.get(i))
                .map(str::trim)
                .filter(|v| !v.is_empty())
        };
        let Some(rel) = get(Some(path_col)) else {
            scan.skipped.push(Skipped {
                path: format!("{manifest_name}:{line}"),
                reason: SkipReason::BadRow("empty path".into()),
            });
            continue;
        };
        match parse_row(get(age_col), get(std_col), get(gender_col)) {
            Ok((age, age_std, gender)) => {
                let id = get(id_col).map(str::to_string);
                let class = get(class_col).map(str::to_string);
                rows.push((rel.to_string(), line, age, age_std, gender, id, class));
            }
            Err(why) => scan.skipped.push(Skipped {
                path: rel.to_string(),
                reason: SkipReason::BadRow(format!("line {line}: {why}")),
            }),
        }
    }
    for (_, _, _, _, _, id, class) in &rows {
        if let Some(id) = id {
            identities.entry(id.clone()).or_insert(0);
        }
        if let Some(c) = class {
            classes.entry(c.clone()).or_insert(0);
        }
    }
    // Indices follow sorted names, so they do not depend on row order.
    for (i, v) in identities.values_mut().enumerate() {
        *v = i as u32;
    }
    for (i, v) in classes.values_mut().enumerate() {
        *v = i as u32;
    }
    for (rel, _line, age, age_std, gender, id, class) in rows {
        if !is_image(&rel) {
            scan.skipped.push(Skipped {
                path: rel,
                reason: SkipReason::NotAnImage,
            });
            continue;
        }
        match stamp(root, &rel) {
            Ok(s) => scan.stamps.push(s),
            Err(_) => {
                scan.skipped.push(Skipped {
                    path: rel,
                    reason: SkipReason::Missing,
                });
                continue;
            }
        }
        scan.samples.push(Sample {
            path: rel,
            age,
            age_std,
            gender,
            identity: id.and_then(|i| identities.get(&i).copied()),
            class: class.and_then(|c| classes.get(&c).copied()),
        });
    }
    scan.identities = identities.into_keys().collect();
    scan.classes = classes.into_keys().collect();
    if scan.samples.is_empty() {
        return Err(DataError::NothingUsable {
            path: manifest.to_path_buf(),
            kind: "csv",
            layout: "a header row and one row per image with its path (relative to `root`) and labels",
            skipped: scan.skipped.len(),
            first_reason: scan
                .skipped
                .first()
                .map(|s| format!("{}: {}", s.path, s.reason)),
        });
    }
    Ok(scan)
}

fn manifest_error(path: &Path, e: &::csv::Error) -> DataError {
    let line = e.position().map_or(0, |p| p.line());
    DataError::Manifest {
        path: path.to_path_buf(),
        line,
        message: e.to_string(),
    }
}

type Row = (Option<f32>, Option<f32>, Option<u8>);

fn parse_row(
    age: Option<&str>,
    age_std: Option<&str>,
    gender: Option<&str>,
) -> Result<Row, String> {
    let number = |v: Option<&str>, what: &str, max: f32| -> Result<Option<f32>, String> {
        match v {
            None => Ok(None),
            Some(s) => match s.parse::<f32>() {
                Ok(x) if x.is_finite() && (0.0..=max).contains(&x) => Ok(Some(x)),
                _ => Err(format!("{what} {s:?} is not a number from 0 to {max}")),
            },
        }
    };
    let gender = match gender.map(str::to_ascii_lowercase).as_deref() {
        None => None,
        Some("0" | "m" | "male") => Some(0),
        Some("1" | "f" | "female") => Some(1),
        Some(other) => {
            return Err(format!(
                "gender {other:?} is not one of 0/1, m/f, male/female"
            ));
        }
    };
    Ok((
        number(age, "age", 150.0)?,
        number(age_std, "age_std", 100.0)?,
        gender,
    ))
}

/// Columns of a manifest inspected without a sweep file: the conventional names
/// (`path`, `age`, `age_std`, `gender`, `identity`, `class`) that its header has.
pub fn default_columns(manifest: &Path) -> Result<CsvColumns, DataError> {
    let mut reader = ::csv::ReaderBuilder::new()
        .from_path(manifest)
        .map_err(|e| match e.kind() {
            ::csv::ErrorKind::Io(io) if io.kind() == std::io::ErrorKind::NotFound => {
                DataError::NotFound {
                    path: manifest.to_path_buf(),
                    hint: String::new(),
                }
            }
            _ => manifest_error(manifest, &e),
        })?;
    let headers = reader
        .headers()
        .map_err(|e| manifest_error(manifest, &e))?
        .clone();
    let has = |name: &str| {
        headers
            .iter()
            .any(|h| h.trim() == name)
            .then(|| name.to_string())
    };
    if has("path").is_none() {
        return Err(DataError::Manifest {
            path: manifest.to_path_buf(),
            line: 1,
            message: format!(
                "no `path` column; columns are: {} (inspect it through a sweep file to name other columns)",
                headers.iter().collect::<Vec<_>>().join(", ")
            ),
        });
    }
    Ok(CsvColumns {
        path: "path".into(),
        age: has("age"),
        age_std: has("age_std"),
        gender: has("gender"),
        identity: has("identity"),
        class: has("class"),
    })
}
