//! LFW: `PERSON/PERSON_NNNN.jpg`, identity = folder. Gender from `male_names.txt`
//! and `female_names.txt` (one image file name per line) where present; a file
//! in both lists or in neither has no gender label (it still serves identity).

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use super::{file_name, images_only, nothing_usable, require_dir, stamp, walk};
use crate::error::DataError;
use crate::sample::{Sample, Scan, SkipReason, Skipped};

const LAYOUT: &str = "one folder per person holding PERSON_NNNN.jpg images";
const LISTS: [&str; 2] = ["male_names.txt", "female_names.txt"];

pub(crate) fn scan(root: &Path, min_images: u32) -> Result<Scan, DataError> {
    require_dir(root)?;
    let mut scan = Scan::default();
    let mut lists: [Option<HashSet<String>>; 2] = [None, None];
    for (slot, list) in lists.iter_mut().zip(LISTS) {
        let path = root.join(list);
        if path.is_file() {
            let text = std::fs::read_to_string(&path).map_err(|e| DataError::io(&path, e))?;
            *slot = Some(
                text.lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty())
                    .map(str::to_string)
                    .collect(),
            );
            scan.stamps.push(stamp(root, list)?);
        }
    }
    let files: Vec<String> = walk(root)?
        .into_iter()
        .filter(|f| !LISTS.contains(&f.as_str()))
        .collect();
    let mut by_person: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for rel in images_only(files, &mut scan.skipped) {
        let parts: Vec<&str> = rel.split(['/', '\\']).collect();
        match parts.as_slice() {
            [person, _] => by_person
                .entry((*person).to_string())
                .or_default()
                .push(rel),
            _ => scan.skipped.push(Skipped {
                path: rel.clone(),
                reason: SkipReason::NameDoesNotParse(format!(
                    "expected PERSON/PERSON_NNNN.jpg, got {rel:?}"
                )),
            }),
        }
    }
    let before = by_person.values().map(Vec::len).sum::<usize>();
    by_person.retain(|_, images| images.len() >= min_images as usize);
    scan.excluded = before - by_person.values().map(Vec::len).sum::<usize>();
    if min_images > 1 {
        scan.exclusion_rule = Some(format!("people with fewer than {min_images} images"));
    }
    for (identity, (person, images)) in (0u32..).zip(&by_person) {
        for rel in images {
            let name = file_name(rel);
            let listed = |i: usize| lists[i].as_ref().is_some_and(|l| l.contains(name));
            let gender = match (listed(0), listed(1)) {
                (true, false) => Some(0),
                (false, true) => Some(1),
                _ => None,
            };
            scan.stamps.push(stamp(root, rel)?);
            scan.samples.push(Sample {
                gender,
                identity: Some(identity),
                ..Sample::unlabelled(rel.clone())
            });
        }
        scan.identities.push(person.clone());
    }
    if scan.samples.is_empty() {
        return Err(nothing_usable(root, "lfw", LAYOUT, &scan));
    }
    Ok(scan)
}
