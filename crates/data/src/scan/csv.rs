//! A csv manifest: a header row, a path column and any of age, age_std, gender,
//! identity and class columns (MORPH-II, IMDB-WIKI or ChaLearn LAP exports).

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::path::Path;

use ::csv::StringRecord;
use ablate_spec::types::{CsvColumns, GenderValues};

use super::stamp;
use crate::error::DataError;
use crate::sample::{Sample, Scan, SkipReason, Skipped, is_image};

/// The manifest's rows as samples, and every row left out with the reason.
pub(crate) fn scan(manifest: &Path, root: &Path, columns: &CsvColumns) -> Result<Scan, DataError> {
    let (mut reader, headers) = open(manifest)?;
    let at = Positions::find(manifest, &headers, columns)?;
    let mut scan = Scan::default();
    let manifest_name = manifest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if let Some(dir) = manifest.parent() {
        scan.stamps.push(stamp(dir, &manifest_name)?);
    }
    let rows = read_rows(
        &mut reader,
        manifest,
        &manifest_name,
        &at,
        columns,
        &mut scan.skipped,
    )?;
    let identities = index(rows.iter().filter_map(|r| r.identity.as_deref()));
    let classes = index(rows.iter().filter_map(|r| r.class.as_deref()));
    add_samples(&mut scan, root, rows, &identities, &classes);
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

/// The manifest's reader, past its header row, and the header.
fn open(manifest: &Path) -> Result<(::csv::Reader<File>, StringRecord), DataError> {
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
    Ok((reader, headers))
}

/// Where each named column is in the header (the path column is always read).
struct Positions {
    path: usize,
    age: Option<usize>,
    age_std: Option<usize>,
    gender: Option<usize>,
    identity: Option<usize>,
    class: Option<usize>,
}

impl Positions {
    /// Every column `columns` names must be in the header.
    fn find(
        manifest: &Path,
        headers: &StringRecord,
        columns: &CsvColumns,
    ) -> Result<Positions, DataError> {
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
        Ok(Positions {
            path: find(&Some(columns.path.clone()))?.unwrap_or(0),
            age: find(&columns.age)?,
            age_std: find(&columns.age_std)?,
            gender: find(&columns.gender)?,
            identity: find(&columns.identity)?,
            class: find(&columns.class)?,
        })
    }
}

/// A row whose labels were read: its image's path (relative to `root`), its
/// labels, and its identity and class names (not yet numbered).
struct Listed {
    rel: String,
    age: Option<f32>,
    age_std: Option<f32>,
    gender: Option<u8>,
    identity: Option<String>,
    class: Option<String>,
}

/// The manifest's rows in file order; a row that cannot be read is skipped with
/// the reason, and gender codes without a declaration refuse the whole manifest.
fn read_rows(
    reader: &mut ::csv::Reader<File>,
    manifest: &Path,
    manifest_name: &str,
    at: &Positions,
    columns: &CsvColumns,
    skipped: &mut Vec<Skipped>,
) -> Result<Vec<Listed>, DataError> {
    let mut rows = Vec::new();
    // Gender codes met without a declaration of what they mean, and where first.
    let mut codes: BTreeSet<String> = BTreeSet::new();
    let mut first_code_line = 0;
    let declared = columns.gender_values.as_ref();
    for record in reader.records() {
        let record = record.map_err(|e| manifest_error(manifest, &e))?;
        let line = record.position().map_or(0, |p| p.line());
        let get = |c: Option<usize>| {
            c.and_then(|i| record.get(i))
                .map(str::trim)
                .filter(|v| !missing(v))
        };
        let Some(rel) = get(Some(at.path)) else {
            skipped.push(Skipped {
                path: format!("{manifest_name}:{line}"),
                reason: SkipReason::BadRow("empty path".into()),
            });
            continue;
        };
        match parse_row(get(at.age), get(at.age_std), get(at.gender), declared) {
            Ok((age, age_std, gender)) => rows.push(Listed {
                rel: rel.to_string(),
                age,
                age_std,
                gender,
                identity: get(at.identity).map(str::to_string),
                class: get(at.class).map(str::to_string),
            }),
            Err(RowError::Code(code)) => {
                if codes.is_empty() {
                    first_code_line = line;
                }
                codes.insert(code);
            }
            Err(RowError::Bad(why)) => skipped.push(Skipped {
                path: rel.to_string(),
                reason: SkipReason::BadRow(format!("line {line}: {why}")),
            }),
        }
    }
    if !codes.is_empty() {
        return Err(undeclared_codes(manifest, first_code_line, columns, &codes));
    }
    Ok(rows)
}

/// Each distinct name with its index. Indices follow sorted names, so they do
/// not depend on row order.
fn index<'a>(names: impl Iterator<Item = &'a str>) -> BTreeMap<String, u32> {
    let mut index: BTreeMap<String, u32> = names.map(|n| (n.to_string(), 0)).collect();
    for (i, v) in index.values_mut().enumerate() {
        *v = i as u32;
    }
    index
}

/// The rows naming an image that is there, as samples; the others are skipped
/// with the reason.
fn add_samples(
    scan: &mut Scan,
    root: &Path,
    rows: Vec<Listed>,
    identities: &BTreeMap<String, u32>,
    classes: &BTreeMap<String, u32>,
) {
    for row in rows {
        if !is_image(&row.rel) {
            scan.skipped.push(Skipped {
                path: row.rel,
                reason: SkipReason::NotAnImage,
            });
            continue;
        }
        match stamp(root, &row.rel) {
            Ok(s) => scan.stamps.push(s),
            Err(_) => {
                scan.skipped.push(Skipped {
                    path: row.rel,
                    reason: SkipReason::Missing,
                });
                continue;
            }
        }
        scan.samples.push(Sample {
            path: row.rel,
            age: row.age,
            age_std: row.age_std,
            gender: row.gender,
            identity: row.identity.and_then(|i| identities.get(&i).copied()),
            class: row.class.and_then(|c| classes.get(&c).copied()),
        });
    }
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

/// Why a row's labels cannot be read.
enum RowError {
    /// A value that is wrong whatever the conventions: the row is skipped.
    Bad(String),
    /// A gender code (0, 1, ...) with no declaration of what it means.
    Code(String),
}

/// A cell that holds no label: empty, or what spreadsheets and pandas write
/// for a missing value. It drops that label only; the row keeps the others.
fn missing(v: &str) -> bool {
    matches!(
        v.trim().to_ascii_lowercase().as_str(),
        "" | "nan" | "na" | "n/a" | "none" | "null"
    )
}

/// Gender words read without a declaration: they say what they mean.
const MALE_WORDS: [&str; 3] = ["m", "male", "man"];
const FEMALE_WORDS: [&str; 3] = ["f", "female", "woman"];

/// A gender cell as 0 (male) or 1 (female): a declared value, or a word.
fn gender_of(v: &str, declared: Option<&GenderValues>) -> Result<u8, RowError> {
    let is = |list: &[String]| list.iter().any(|x| x.eq_ignore_ascii_case(v));
    let lower = v.to_ascii_lowercase();
    match declared {
        Some(d) if is(&d.male) => return Ok(0),
        Some(d) if is(&d.female) => return Ok(1),
        _ => {}
    }
    if MALE_WORDS.contains(&lower.as_str()) {
        return Ok(0);
    }
    if FEMALE_WORDS.contains(&lower.as_str()) {
        return Ok(1);
    }
    match declared {
        Some(d) => Err(RowError::Bad(format!(
            "gender {v:?} is none of the declared values (male: {}; female: {}) nor a word (male/female, m/f, man/woman)",
            d.male.join(", "),
            d.female.join(", ")
        ))),
        None if v.parse::<f64>().is_ok() => Err(RowError::Code(v.to_string())),
        None => Err(RowError::Bad(format!(
            "gender {v:?} is not one of male/female, m/f, man/woman (codes need `gender_values`)"
        ))),
    }
}

fn parse_row(
    age: Option<&str>,
    age_std: Option<&str>,
    gender: Option<&str>,
    declared: Option<&GenderValues>,
) -> Result<Row, RowError> {
    let number = |v: Option<&str>, what: &str, max: f32| -> Result<Option<f32>, RowError> {
        match v {
            None => Ok(None),
            Some(s) => match s.parse::<f32>() {
                Ok(x) if x.is_finite() && (0.0..=max).contains(&x) => Ok(Some(x)),
                _ => Err(RowError::Bad(format!(
                    "{what} {s:?} is not a number from 0 to {max}"
                ))),
            },
        }
    };
    let gender = gender.map(|g| gender_of(g, declared)).transpose()?;
    Ok((
        number(age, "age", 150.0)?,
        number(age_std, "age_std", 100.0)?,
        gender,
    ))
}

/// A gender column of bare codes with no `gender_values`: reading it either way
/// could flip every label, so the manifest is refused, saying how to declare them.
fn undeclared_codes(
    manifest: &Path,
    line: u64,
    columns: &CsvColumns,
    codes: &BTreeSet<String>,
) -> DataError {
    let shown: Vec<String> = codes.iter().take(6).map(|c| format!("{c:?}")).collect();
    let more = if codes.len() > 6 { ", ..." } else { "" };
    DataError::Manifest {
        path: manifest.to_path_buf(),
        line,
        message: format!(
            "column {:?} holds gender codes ({}{more}) without a declaration of what they mean, and datasets differ: UTKFace codes 0 = male, 1 = female; IMDB-WIKI codes 1 = male, 0 = female. Declare them in the dataset's [data.NAME] section of the sweep file, e.g. `gender_values = {{ male = [\"1\"], female = [\"0\"] }}` for IMDB-WIKI (words such as male/female or m/f need none)",
            columns.gender.as_deref().unwrap_or("gender"),
            shown.join(", ")
        ),
    }
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
        gender_values: None,
    })
}
