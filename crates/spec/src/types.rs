//! The resolved, typed form of a sweep: what a trial's identity is computed from.
//!
//! Everything under [`TrialConfig`] is hashed into the trial id, so a field added
//! here changes every id: add fields only with a new `ID_VERSION` in `hash.rs`.

use serde::{Deserialize, Serialize};

/// Where a dataset comes from and how it is split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DatasetSpec {
    #[serde(flatten)]
    pub source: Source,
    pub split: Split,
    /// Fail on any skipped file instead of reporting it.
    pub strict: bool,
    /// Use at most this many images (a seeded subset), for quick studies on big sets.
    pub max_images: Option<u32>,
}

impl DatasetSpec {
    /// Whether `other` reads the same images with the same labels (what a pixel
    /// cache holds), whatever its split.
    pub fn same_images(&self, other: &DatasetSpec) -> bool {
        self.source == other.source
            && self.max_images == other.max_images
            && self.strict == other.strict
    }
}

/// `[data.NAME] expected`: the size of a dataset that is not on this machine yet,
/// which `plan --estimate` plans with instead of scanning it. Not part of any
/// trial's identity (it is outside [`DatasetSpec`]), and never read by a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Expected {
    pub images: u32,
    /// People, for identity (face-recognition) pretraining sets.
    pub identities: Option<u32>,
    /// Classes, for general-purpose pretraining sets.
    pub classes: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Source {
    SyntheticFaces {
        identities: u32,
        images_per_identity: u32,
        seed: u64,
    },
    SyntheticObjects {
        classes: u32,
        images_per_class: u32,
        seed: u64,
    },
    Utkface {
        path: String,
    },
    Lfw {
        path: String,
        /// People with fewer images are left out (identity pretraining needs several per person).
        min_images: u32,
    },
    Fgnet {
        path: String,
    },
    Csv {
        path: String,
        /// Folder the manifest's image paths are relative to; default: the manifest's folder.
        root: Option<String>,
        /// Boxed: the other sources are a few words.
        columns: Box<CsvColumns>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CsvColumns {
    pub path: String,
    pub age: Option<String>,
    pub age_std: Option<String>,
    pub gender: Option<String>,
    pub identity: Option<String>,
    /// A class label, for a general-purpose (non-face) pretraining set.
    pub class: Option<String>,
    /// Which codes of the gender column mean male and which female. Required
    /// when the column holds codes (0/1): conventions differ (UTKFace 0 = male,
    /// IMDB-WIKI 1 = male). Left out of the JSON when absent, so ids of csv
    /// sweeps that need none are what they were.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gender_values: Option<GenderValues>,
}

/// `gender_values = { male = ["1"], female = ["0"] }`: the column's values for
/// each gender, compared trimmed and without regard to case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GenderValues {
    pub male: Vec<String>,
    pub female: Vec<String>,
}

/// Which labels a dataset provides; decides which objectives it can serve.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Labels {
    pub age: bool,
    pub age_std: bool,
    pub gender: bool,
    pub identity: bool,
    pub classes: bool,
}

impl Source {
    pub fn kind(&self) -> &'static str {
        match self {
            Source::SyntheticFaces { .. } => "synthetic-faces",
            Source::SyntheticObjects { .. } => "synthetic-objects",
            Source::Utkface { .. } => "utkface",
            Source::Lfw { .. } => "lfw",
            Source::Fgnet { .. } => "fgnet",
            Source::Csv { .. } => "csv",
        }
    }

    /// The folder or file read from disk, as written in the sweep file.
    pub fn path(&self) -> Option<&str> {
        match self {
            Source::SyntheticFaces { .. } | Source::SyntheticObjects { .. } => None,
            Source::Utkface { path }
            | Source::Lfw { path, .. }
            | Source::Fgnet { path }
            | Source::Csv { path, .. } => Some(path),
        }
    }

    pub fn labels(&self) -> Labels {
        let none = Labels {
            age: false,
            age_std: false,
            gender: false,
            identity: false,
            classes: false,
        };
        match self {
            Source::SyntheticFaces { .. } => Labels {
                age: true,
                gender: true,
                identity: true,
                ..none
            },
            Source::SyntheticObjects { .. } => Labels {
                classes: true,
                ..none
            },
            Source::Utkface { .. } => Labels {
                age: true,
                gender: true,
                ..none
            },
            Source::Lfw { .. } => Labels {
                gender: true,
                identity: true,
                ..none
            },
            Source::Fgnet { .. } => Labels {
                age: true,
                identity: true,
                ..none
            },
            Source::Csv { columns, .. } => Labels {
                age: columns.age.is_some(),
                age_std: columns.age_std.is_some(),
                gender: columns.gender.is_some(),
                identity: columns.identity.is_some(),
                classes: columns.class.is_some(),
            },
        }
    }
}

/// Train/val/test partition. Stratified by age bins where ages exist and grouped
/// by identity where identities exist; both are properties of the data, not options.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "method", rename_all = "kebab-case")]
pub enum Split {
    Fractions {
        train: f64,
        val: f64,
        test: f64,
        seed: u64,
    },
    /// k folds: each trial runs once per fold, fold i being the test part.
    Kfold { folds: u32, val: f64, seed: u64 },
    /// One fold per person (FG-NET's protocol): each trial runs once per subject.
    LeaveOnePersonOut { subjects: u32, val: f64, seed: u64 },
}

impl Split {
    /// What a dataset without `split` gets: 70/15/15 of its images, seed 0.
    pub const DEFAULT: Split = Split::Fractions {
        train: 0.7,
        val: 0.15,
        test: 0.15,
        seed: 0,
    };

    /// How many times each trial runs over this split (one per fold).
    pub fn folds(&self) -> Option<u32> {
        match self {
            Split::Fractions { .. } => None,
            Split::Kfold { folds, .. } => Some(*folds),
            Split::LeaveOnePersonOut { subjects, .. } => Some(*subjects),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainSpec {
    pub input_size: u32,
    pub epochs: u32,
    pub batch_size: u32,
    pub optimizer: Optimizer,
    pub lr: f64,
    /// SGD only (ignored by AdamW, kept at its default there).
    pub momentum: f64,
    pub weight_decay: f64,
    pub schedule: Schedule,
    pub warmup_epochs: u32,
    pub flip: bool,
    /// Random translation by up to this many pixels (pad and crop).
    pub crop: u32,
    pub dropout: f64,
    /// The arithmetic of a CUDA trial's matrix products and convolutions. Left
    /// out of the JSON at fp32, so the ids of trials from before it existed
    /// stay what they were; a CPU trial is always fp32.
    #[serde(default, skip_serializing_if = "Precision::is_fp32")]
    pub precision: Precision,
}

/// `[train] precision`: strict IEEE fp32, or TF32 tensor-core products (fp32
/// storage, 10-bit mantissa inside the products: what PyTorch's
/// `allow_tf32` flags switch on).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Precision {
    #[default]
    Fp32,
    Tf32,
}

impl Precision {
    pub fn is_fp32(&self) -> bool {
        *self == Precision::Fp32
    }

    /// Its names, as the sweep file and `ablate bench train --precision` spell them.
    pub const NAMES: [&'static str; 2] = ["fp32", "tf32"];

    pub fn as_str(self) -> &'static str {
        match self {
            Precision::Fp32 => "fp32",
            Precision::Tf32 => "tf32",
        }
    }

    pub fn from_name(name: &str) -> Option<Precision> {
        [Precision::Fp32, Precision::Tf32]
            .into_iter()
            .find(|p| p.as_str() == name)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Optimizer {
    Sgd,
    Adamw,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Schedule {
    Constant,
    /// Multiply the rate by `gamma` every `every` epochs.
    Step {
        every: u32,
        gamma: f64,
    },
    Cosine,
}

/// How a trial is executed; deliberately not part of its identity, so a sweep
/// resumed on another machine or device does not redo finished work.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecSpec {
    pub device: Device,
    pub threads: u32,
    /// `[train] checkpoint_minutes`, in milliseconds: how often the worker
    /// writes its resumable state within an epoch (it always does after each).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint_ms: Option<u64>,
}

impl ExecSpec {
    pub fn checkpoint_every(&self) -> Option<std::time::Duration> {
        self.checkpoint_ms.map(std::time::Duration::from_millis)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Device {
    Cpu,
    Cuda,
}

/// A VGG-style network: stages of 3x3 convolutions, 2x2 max-pool after each,
/// then hidden fully connected layers; widths already scaled by `width`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelSpec {
    /// Conv layers per stage.
    pub convs: Vec<u32>,
    /// Output channels per stage.
    pub channels: Vec<u32>,
    /// Hidden fully connected layer widths (the heads come after these).
    pub fc: Vec<u32>,
    pub batch_norm: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Encoding {
    /// One softmax output per age in `age_min..=age_max`, one-hot target.
    Classification { age_min: u32, age_max: u32 },
    /// One output, normalised target.
    Regression { loss: RegressionLoss },
    /// Softmax over the age range; target a discretised N(age, sigma^2).
    Ldae {
        sigma: f64,
        age_min: u32,
        age_max: u32,
        /// Use the per-image apparent-age std as sigma where the data has one.
        use_age_std: bool,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RegressionLoss {
    L2,
    L1,
}

/// What a trial learns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Objective {
    /// Gender and/or age heads on one trunk, losses weighted.
    Faces {
        gender: Option<f64>,
        age: Option<AgeTask>,
    },
    /// Face recognition: classify the identity (a pretraining task).
    Identity,
    /// Non-face classification (a pretraining task).
    General,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgeTask {
    pub weight: f64,
    pub encoding: Encoding,
}

/// The full content of one trial. Its canonical JSON, hashed, is the trial id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrialConfig {
    pub objective: Objective,
    pub data: DatasetSpec,
    /// Which fold is the test part, for k-fold and leave-one-person-out splits.
    pub fold: Option<u32>,
    pub train: TrainSpec,
    pub model: ModelSpec,
    /// Id of the pretraining trial whose trunk initialises this one.
    pub init: Option<crate::TrialId>,
    pub seed: u64,
    /// For a pretraining trial on the dataset of a study it feeds: only that study's
    /// training part may be used. Left out of the JSON when absent, so the ids of all
    /// other trials are what they were before this field existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub within: Option<Within>,
}

/// The training part of `split` (test fold `fold`) over a dataset's units (people
/// where it has identities): the only images a pretraining trial on a consumer's own
/// dataset trains, validates and tests on. Inside it the trial splits again with its
/// own `data.split`, a fractions split (by image for identity classification).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Within {
    pub split: Split,
    pub fold: Option<u32>,
}
