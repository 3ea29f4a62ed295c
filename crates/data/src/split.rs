//! Train/val/test splits: a pure function of the cached labels, the split options
//! and the split seed, so every trial on every machine sees the same parts.
//!
//! Units are people where the data has identities (no person in two parts) and
//! single images otherwise; units are stratified by age bin (10 years) where ages
//! exist, and ranked within a stratum by a hash of (seed, stratum, unit), so adding
//! images elsewhere does not move a unit between parts.

use std::collections::BTreeMap;

use ablate_spec::types::{Objective, Split, TrialConfig};
use sha2::{Digest, Sha256};

use crate::error::DataError;
use crate::sample::Sample;

/// Indices into the cache, ascending.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Parts {
    pub train: Vec<usize>,
    pub val: Vec<usize>,
    pub test: Vec<usize>,
}

impl Parts {
    /// Short hash of the three index lists, recorded with a trial's result.
    pub fn digest(&self) -> String {
        let mut h = Sha256::new();
        for part in [&self.train, &self.val, &self.test] {
            for i in part {
                h.update((*i as u64).to_le_bytes());
            }
            h.update(b"|");
        }
        h.finalize()[..8]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

/// SplitMix64's finaliser: a well-mixed 64-bit hash of a 64-bit value.
pub(crate) fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// FNV-1a, finalised with `mix`: stable across platforms and Rust versions.
pub(crate) fn stable_hash(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h = (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3);
    }
    mix(h)
}

struct Unit {
    key: u64,
    members: Vec<usize>,
    stratum: u64,
}

fn units(samples: &[Sample]) -> Vec<Unit> {
    let mut by_key: BTreeMap<(bool, u64), Vec<usize>> = BTreeMap::new();
    for (i, s) in samples.iter().enumerate() {
        let key = match s.identity {
            Some(id) => (true, u64::from(id)),
            None => (false, stable_hash(s.path.as_bytes())),
        };
        by_key.entry(key).or_default().push(i);
    }
    by_key
        .into_iter()
        .map(|((_, key), members)| {
            let ages: Vec<f32> = members.iter().filter_map(|i| samples[*i].age).collect();
            let stratum = if ages.is_empty() {
                u64::MAX
            } else {
                ((ages.iter().sum::<f32>() / ages.len() as f32) / 10.0)
                    .floor()
                    .clamp(0.0, 9.0) as u64
            };
            Unit {
                key,
                members,
                stratum,
            }
        })
        .collect()
}

/// Units ordered by stratum, and within a stratum by a hash of (seed, stratum, unit).
/// Taking every k-th unit of this order (systematic sampling) keeps each age stratum
/// in every part in proportion, and the overall shares exact to within one unit.
fn ordered(units: Vec<Unit>, seed: u64) -> Vec<Unit> {
    let mut list = units;
    list.sort_by_key(|u| (u.stratum, mix(seed ^ mix(u.stratum ^ mix(u.key))), u.key));
    list
}

/// Position of rank `r` in [0, 1): a golden-ratio (low-discrepancy) sequence, so
/// every run of consecutive units, and so every stratum, is spread over [0, 1)
/// almost evenly and lands in each part in proportion to its fraction.
fn position(r: usize, seed: u64) -> f64 {
    const PHI: f64 = 0.618_033_988_749_894_9;
    let offset = (mix(seed ^ 0x5eed) >> 11) as f64 / (1u64 << 53) as f64;
    (offset + r as f64 * PHI).fract()
}

/// The parts of `samples` under `split`; `fold` picks the test fold of fold splits.
pub fn split(samples: &[Sample], split: &Split, fold: Option<u32>) -> Result<Parts, DataError> {
    let mut parts = Parts::default();
    let all = units(samples);
    match *split {
        Split::Fractions {
            train, val, seed, ..
        } => {
            let list = ordered(all, seed);
            let pos: Vec<f64> = (0..list.len()).map(|r| position(r, seed)).collect();
            let bounds = [(0.0, train), (train, train + val), (train + val, 1.0)];
            let mut which: Vec<usize> = pos
                .iter()
                .map(|p| {
                    bounds
                        .iter()
                        .position(|(lo, hi)| p >= lo && p < hi)
                        .unwrap_or(2)
                })
                .collect();
            // With few units (people), a part can come out empty; give it the unit whose
            // position is nearest to its interval, taken from the largest part.
            if list.len() >= 3 {
                for (part, (lo, hi)) in bounds.iter().enumerate() {
                    if which.contains(&part) {
                        continue;
                    }
                    let largest = (0..3)
                        .max_by_key(|p| which.iter().filter(|w| *w == p).count())
                        .unwrap_or(0);
                    let mid = (lo + hi) / 2.0;
                    if let Some(r) = (0..list.len())
                        .filter(|r| which[*r] == largest)
                        .min_by(|a, b| (pos[*a] - mid).abs().total_cmp(&(pos[*b] - mid).abs()))
                    {
                        which[r] = part;
                    }
                }
            }
            for (u, w) in list.into_iter().zip(which) {
                [&mut parts.train, &mut parts.val, &mut parts.test][w].extend(u.members);
            }
        }
        Split::Kfold { folds, val, seed } => {
            let f = fold.unwrap_or(0);
            if f >= folds {
                return Err(DataError::NoSuchFold { fold: f, folds });
            }
            let mut rest = Vec::new();
            let off = (mix(seed) % u64::from(folds)) as usize;
            for (r, u) in ordered(all, seed).into_iter().enumerate() {
                if (r + off) % folds as usize == f as usize {
                    parts.test.extend(u.members);
                } else {
                    rest.push(u);
                }
            }
            take_val(rest, val, seed, &mut parts);
        }
        Split::LeaveOnePersonOut {
            subjects,
            val,
            seed,
        } => {
            let f = fold.unwrap_or(0);
            let (test, rest): (Vec<Unit>, Vec<Unit>) = all
                .into_iter()
                .partition(|u| u.key == u64::from(f) && samples[u.members[0]].identity.is_some());
            if test.is_empty() {
                return Err(DataError::NoSuchFold {
                    fold: f,
                    folds: subjects,
                });
            }
            parts.test.extend(test.into_iter().flat_map(|u| u.members));
            take_val(rest, val, seed, &mut parts);
        }
    }
    for (name, part) in [
        ("train", &mut parts.train),
        ("val", &mut parts.val),
        ("test", &mut parts.test),
    ] {
        part.sort_unstable();
        if part.is_empty() {
            return Err(DataError::EmptySplit {
                what: format!("{} images", samples.len()),
                part: name,
                count: 0,
            });
        }
    }
    Ok(parts)
}

/// The parts one trial trains, validates and tests on: the one function the worker
/// and the leak tests share. A trial `within` a consumer's split sees only that
/// split's training part; face recognition splits its images, not its people,
/// since it classifies people seen in training.
pub fn trial_parts(samples: &[Sample], cfg: &TrialConfig) -> Result<Parts, DataError> {
    let pool: Vec<usize> = match &cfg.within {
        Some(w) => split(samples, &w.split, w.fold)?.train,
        None => (0..samples.len()).collect(),
    };
    let by_image = cfg.objective == Objective::Identity;
    let chosen: Vec<Sample> = pool
        .iter()
        .map(|i| {
            let s = &samples[*i];
            Sample {
                identity: if by_image { None } else { s.identity },
                ..s.clone()
            }
        })
        .collect();
    let inner = split(&chosen, &cfg.data.split, cfg.fold)?;
    let back = |idx: Vec<usize>| idx.into_iter().map(|j| pool[j]).collect::<Vec<_>>();
    Ok(Parts {
        train: back(inner.train),
        val: back(inner.val),
        test: back(inner.test),
    })
}

/// Moves a `val` share of the remaining units to validation; at least one unit when
/// two or more remain, since every epoch is validated.
fn take_val(rest: Vec<Unit>, val: f64, seed: u64, parts: &mut Parts) {
    let seed = mix(seed ^ 0x7a1);
    let list = ordered(rest, seed);
    let n = list.len();
    let mut to_val: Vec<bool> = (0..n).map(|r| position(r, seed) < val).collect();
    if n >= 2 && !to_val.contains(&true) {
        to_val[0] = true;
    }
    for (u, v) in list.into_iter().zip(to_val) {
        if v {
            parts.val.extend(u.members);
        } else {
            parts.train.extend(u.members);
        }
    }
}

/// Writes a trial's parts as CSV, one row per image: `index` (its position in
/// the cache), `part`, `path`, `age`, `gender`, `identity` (empty where the
/// image has no such label), the parts in train, val, test order.
pub fn write_parts_csv(
    w: impl std::io::Write,
    samples: &[Sample],
    parts: [(&str, &[usize]); 3],
) -> Result<(), csv::Error> {
    let mut w = csv::Writer::from_writer(w);
    w.write_record(["index", "part", "path", "age", "gender", "identity"])?;
    let opt = |v: Option<String>| v.unwrap_or_default();
    for (part, idx) in parts {
        for &i in idx {
            let s = &samples[i];
            w.write_record([
                i.to_string(),
                part.to_string(),
                s.path.clone(),
                opt(s.age.map(|a| a.to_string())),
                opt(s.gender.map(|g| g.to_string())),
                opt(s.identity.map(|g| g.to_string())),
            ])?;
        }
    }
    w.flush()?;
    Ok(())
}
