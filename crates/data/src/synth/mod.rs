//! Built-in synthetic datasets, so every pipeline stage can run end to end
//! without downloading real faces.
//!
//! This module owns:
//! - [`SyntheticFaces`]: cartoon portraits of deterministic people with
//!   identity, age and gender labels. Age is drawn as graded cues
//!   (proportions, wrinkles, greying, recession) and gender as jaw, brows,
//!   hair and facial hair, so the UTKFace-style tasks and identity
//!   pretraining all have a learnable but noisy signal.
//! - [`SyntheticObjects`]: non-face shape/texture classes for the `general`
//!   pretraining stage.
//! - [`montage_png`]: captioned contact sheets for eyeballing either set.
//!
//! Rendering is deterministic: pixels depend only on `(seed, index, size)`
//! and [`GENERATOR_VERSION`], never on thread count or platform libm, because
//! randomness comes from a fixed SplitMix64 and all trigonometry from
//! polynomial code (see `rng`). Drawing uses tiny-skia in unit-square
//! coordinates, so any size renders the same scene.

mod ageing;
mod canvas;
mod faces;
mod hair;
mod montage;
mod objects;
mod occluders;
mod parts;
mod rng;
mod traits;

#[cfg(test)]
mod tests;

pub use faces::SyntheticFaces;
pub use montage::{MontageError, montage_png, preview_tiles};
pub use objects::SyntheticObjects;
pub use traits::{FaceLabel, Gender};

/// Bumped whenever rendering changes, so caches keyed on it are rebuilt.
pub const GENERATOR_VERSION: u32 = 1;
