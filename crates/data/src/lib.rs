//! `ablate-data` owns images and labels: the built-in synthetic sets, loaders for
//! real datasets (UTKFace, LFW, FG-NET, csv manifests), the preprocessed pixel
//! cache and the train/val/test splits.
//!
//! It must not know about training, SQL or scheduling: it turns a dataset
//! description from the sweep file into pixels and labels, the same ones for
//! every trial on every machine. Bad files are skipped and reported, never a panic.

mod cache;
mod declared;
mod decode;
mod error;
pub mod inspect;
mod prepare;
mod sample;
mod scan;
mod split;
mod summary;
pub mod synth;
mod synthetic;

pub use cache::{Cache, Meta, Writer as CacheWriter, read_meta_file};
pub use declared::{declared_gaps, declared_scan};
pub use decode::{check_decodes, load_square};
pub use error::DataError;
pub use prepare::{
    CacheNeed, Prepared, Progress, cache_need, cache_path, fingerprint, prepare, prepare_scanned,
    scan_dataset,
};
pub use sample::{FileStamp, Sample, Scan, SkipReason, Skipped};
pub use scan::csv::default_columns as csv_default_columns;
pub use scan::{missing, root, scan};
pub use split::{Parts, split, trial_parts, write_parts_csv};
pub use summary::{SHOWN_SKIPS, Summary, summarize};
