//! What `ablate data inspect` reports about a scanned dataset.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::sample::{Scan, Skipped};

#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub images: usize,
    pub skipped: usize,
    /// The first skipped files, with reasons.
    pub first_skipped: Vec<Skipped>,
    pub skipped_by_reason: BTreeMap<String, usize>,
    pub excluded: usize,
    pub exclusion_rule: Option<String>,
    /// Images per 10-year age bin (`"0-9"`, ..., `"90+"`), for images with an age.
    pub age_histogram: Vec<(String, usize)>,
    pub age_mean: Option<f64>,
    pub with_age: usize,
    pub male: usize,
    pub female: usize,
    pub without_gender: usize,
    pub identities: usize,
    /// People with at least 2 and at least 10 images.
    pub identities_2plus: usize,
    pub identities_10plus: usize,
    pub images_per_identity_max: usize,
    pub classes: usize,
}

pub const SHOWN_SKIPS: usize = 10;

pub fn summarize(scan: &Scan) -> Summary {
    let mut by_reason = BTreeMap::new();
    for s in &scan.skipped {
        *by_reason.entry(s.reason.key().to_string()).or_insert(0) += 1;
    }
    let mut bins = [0usize; 10];
    let ages: Vec<f32> = scan.samples.iter().filter_map(|s| s.age).collect();
    for a in &ages {
        bins[((a / 10.0).floor() as usize).min(9)] += 1;
    }
    let histogram = bins
        .iter()
        .enumerate()
        .map(|(i, n)| {
            (
                if i == 9 {
                    "90+".to_string()
                } else {
                    format!("{}-{}", i * 10, i * 10 + 9)
                },
                *n,
            )
        })
        .collect();
    let gender = |g: u8| scan.samples.iter().filter(|s| s.gender == Some(g)).count();
    let mut per_identity: BTreeMap<u32, usize> = BTreeMap::new();
    for id in scan.samples.iter().filter_map(|s| s.identity) {
        *per_identity.entry(id).or_insert(0) += 1;
    }
    Summary {
        images: scan.samples.len(),
        skipped: scan.skipped.len(),
        first_skipped: scan.skipped.iter().take(SHOWN_SKIPS).cloned().collect(),
        skipped_by_reason: by_reason,
        excluded: scan.excluded,
        exclusion_rule: scan.exclusion_rule.clone(),
        age_histogram: histogram,
        age_mean: (!ages.is_empty())
            .then(|| ages.iter().map(|a| f64::from(*a)).sum::<f64>() / ages.len() as f64),
        with_age: ages.len(),
        male: gender(0),
        female: gender(1),
        without_gender: scan.samples.iter().filter(|s| s.gender.is_none()).count(),
        identities: per_identity.len(),
        identities_2plus: per_identity.values().filter(|n| **n >= 2).count(),
        identities_10plus: per_identity.values().filter(|n| **n >= 10).count(),
        images_per_identity_max: per_identity.values().copied().max().unwrap_or(0),
        classes: scan.classes.len(),
    }
}
