//! FG-NET: `SSSAnn[a-z].JPG`, subject SSS at age nn (82 subjects, ages 0..69).

use std::collections::BTreeMap;
use std::path::Path;

use super::{file_name, images_only, nothing_usable, require_dir, stamp, walk};
use crate::error::DataError;
use crate::sample::{Sample, Scan, SkipReason, Skipped};

const LAYOUT: &str = "files named SSSAnn.JPG (subject SSS at age nn, e.g. 001A02.JPG)";

pub(crate) fn scan(root: &Path) -> Result<Scan, DataError> {
    require_dir(root)?;
    let mut scan = Scan::default();
    let mut parsed = Vec::new();
    for rel in images_only(walk(root)?, &mut scan.skipped) {
        match parse(file_name(&rel)) {
            Ok((subject, age)) => parsed.push((rel, subject, age)),
            Err(reason) => scan.skipped.push(Skipped { path: rel, reason }),
        }
    }
    let subjects: BTreeMap<String, u32> = parsed
        .iter()
        .map(|(_, s, _)| s.clone())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .zip(0..)
        .collect();
    for (rel, subject, age) in parsed {
        scan.stamps.push(stamp(root, &rel)?);
        scan.samples.push(Sample {
            age: Some(f32::from(age)),
            identity: subjects.get(&subject).copied(),
            ..Sample::unlabelled(rel)
        });
    }
    scan.identities = subjects.into_keys().collect();
    if scan.samples.is_empty() {
        return Err(nothing_usable(root, "fgnet", LAYOUT, &scan));
    }
    Ok(scan)
}

/// (subject, age) from a file name such as `001A02.JPG` or `012A43b.jpg`.
pub(crate) fn parse(name: &str) -> Result<(String, u8), SkipReason> {
    let bad = || SkipReason::NameDoesNotParse(format!("expected SSSAnn[a-z].JPG, got {name:?}"));
    let stem = name.split('.').next().unwrap_or(name);
    let b = stem.as_bytes();
    let digits =
        |r: std::ops::Range<usize>| b.get(r).is_some_and(|s| s.iter().all(u8::is_ascii_digit));
    let suffix_ok = match b.len() {
        6 => true,
        7 => b[6].is_ascii_alphabetic(),
        _ => false,
    };
    if !(digits(0..3)
        && b.get(3).is_some_and(|c| c.eq_ignore_ascii_case(&b'a'))
        && digits(4..6)
        && suffix_ok)
    {
        return Err(bad());
    }
    let age: u8 = stem[4..6].parse().map_err(|_| bad())?;
    Ok((stem[..3].to_string(), age))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(parse("001A02.JPG"), Ok(("001".into(), 2)));
        assert_eq!(parse("012A43b.jpg"), Ok(("012".into(), 43)));
        assert_eq!(parse("082a69.JPG"), Ok(("082".into(), 69)));
        for bad in [
            "01A02.JPG",
            "001B02.JPG",
            "001A2.JPG",
            "001A02bb.JPG",
            "001A0x.JPG",
            "face.jpg",
            "001A021.JPG",
        ] {
            assert!(
                matches!(parse(bad), Err(SkipReason::NameDoesNotParse(_))),
                "{bad}"
            );
        }
    }
}
