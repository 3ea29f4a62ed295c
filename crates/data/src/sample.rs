//! Labels of one image, and files left out with the reason why.

use std::fmt;

use serde::{Deserialize, Serialize};

/// One image's labels. `None` where the dataset has no such label for it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    /// Path relative to the dataset root (`#index` for generated images).
    pub path: String,
    pub age: Option<f32>,
    /// Apparent-age standard deviation (ChaLearn LAP style).
    pub age_std: Option<f32>,
    /// 0 = male, 1 = female (UTKFace's convention).
    pub gender: Option<u8>,
    /// Index into the scan's `identities`.
    pub identity: Option<u32>,
    /// Index into the scan's `classes`.
    pub class: Option<u32>,
}

impl Sample {
    pub fn unlabelled(path: String) -> Self {
        Self {
            path,
            age: None,
            age_std: None,
            gender: None,
            identity: None,
            class: None,
        }
    }
}

/// A file that is not used, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Skipped {
    pub path: String,
    pub reason: SkipReason,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "reason", content = "detail", rename_all = "kebab-case")]
pub enum SkipReason {
    /// The file name does not follow the dataset's naming scheme.
    NameDoesNotParse(String),
    AgeOutOfRange(String),
    BadGender(String),
    /// The image could not be read or decoded.
    Unreadable(String),
    /// Not an image file (by extension).
    NotAnImage,
    /// A manifest row without a usable value.
    BadRow(String),
    /// The manifest names a file that does not exist.
    Missing,
}

impl SkipReason {
    /// A short stable key, for counting skips by reason.
    pub fn key(&self) -> &'static str {
        match self {
            SkipReason::NameDoesNotParse(_) => "name does not parse",
            SkipReason::AgeOutOfRange(_) => "age out of range",
            SkipReason::BadGender(_) => "bad gender",
            SkipReason::Unreadable(_) => "unreadable or corrupt image",
            SkipReason::NotAnImage => "not an image",
            SkipReason::BadRow(_) => "bad manifest row",
            SkipReason::Missing => "file missing",
        }
    }
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SkipReason::NameDoesNotParse(d)
            | SkipReason::AgeOutOfRange(d)
            | SkipReason::BadGender(d)
            | SkipReason::Unreadable(d)
            | SkipReason::BadRow(d) => write!(f, "{}: {d}", self.key()),
            SkipReason::NotAnImage | SkipReason::Missing => f.write_str(self.key()),
        }
    }
}

/// Size and modification time of a source file: what the cache fingerprint covers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileStamp {
    pub path: String,
    pub len: u64,
    pub mtime_ns: u128,
}

/// What a loader found in a dataset folder, before decoding any pixel.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Scan {
    pub samples: Vec<Sample>,
    pub skipped: Vec<Skipped>,
    /// Images left out on purpose (e.g. people under `min_images`), with the rule.
    pub excluded: usize,
    pub exclusion_rule: Option<String>,
    pub identities: Vec<String>,
    pub classes: Vec<String>,
    /// Every file that shaped the scan (images, name lists, manifest), for fingerprints.
    pub stamps: Vec<FileStamp>,
}

pub(crate) fn is_image(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    [".jpg", ".jpeg", ".png"]
        .iter()
        .any(|ext| lower.ends_with(ext))
}
