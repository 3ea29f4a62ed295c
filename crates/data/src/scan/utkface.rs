//! UTKFace: `AGE_GENDER_RACE_DATETIME.jpg` (or `.jpg.chip.jpg` for the aligned
//! crops); a few files lack RACE. Ages 1..=116; gender 0 male, 1 female; no identities.

use std::path::Path;

use super::{file_name, images_only, nothing_usable, require_dir, stamp, walk};
use crate::error::DataError;
use crate::sample::{Sample, Scan, SkipReason, Skipped};

const LAYOUT: &str = "files named AGE_GENDER_RACE_DATETIME.jpg[.chip.jpg]";

pub(crate) fn scan(root: &Path) -> Result<Scan, DataError> {
    require_dir(root)?;
    let mut scan = Scan::default();
    for rel in images_only(walk(root)?, &mut scan.skipped) {
        match parse(file_name(&rel)) {
            Ok((age, gender)) => {
                scan.stamps.push(stamp(root, &rel)?);
                scan.samples.push(Sample {
                    age: Some(f32::from(age)),
                    gender: Some(gender),
                    ..Sample::unlabelled(rel)
                });
            }
            Err(reason) => scan.skipped.push(Skipped { path: rel, reason }),
        }
    }
    if scan.samples.is_empty() {
        return Err(nothing_usable(root, "utkface", LAYOUT, &scan));
    }
    Ok(scan)
}

/// (age, gender) from a file name.
pub(crate) fn parse(name: &str) -> Result<(u8, u8), SkipReason> {
    let bad = || {
        SkipReason::NameDoesNotParse(format!(
            "expected AGE_GENDER_RACE_DATETIME.jpg, got {name:?}"
        ))
    };
    let fields: Vec<&str> = name.split('_').collect();
    if fields.len() < 3 {
        return Err(bad());
    }
    let age: u32 = fields[0].parse().map_err(|_| bad())?;
    let gender: u32 = fields[1].parse().map_err(|_| bad())?;
    if !(1..=116).contains(&age) {
        return Err(SkipReason::AgeOutOfRange(format!(
            "{age} (UTKFace ages are 1 to 116)"
        )));
    }
    if gender > 1 {
        return Err(SkipReason::BadGender(format!(
            "{gender} (expected 0 = male or 1 = female)"
        )));
    }
    Ok((age as u8, gender as u8))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(parse("26_0_0_20170113210604814.jpg.chip.jpg"), Ok((26, 0)));
        assert_eq!(parse("1_1_2_20161219140623097.jpg"), Ok((1, 1)));
        assert_eq!(
            parse("39_1_20170116174525125.jpg.chip.jpg"),
            Ok((39, 1)),
            "no race field"
        );
        assert!(matches!(
            parse("0_0_0_2017.jpg"),
            Err(SkipReason::AgeOutOfRange(_))
        ));
        assert!(matches!(
            parse("117_0_0_2017.jpg"),
            Err(SkipReason::AgeOutOfRange(_))
        ));
        assert!(matches!(
            parse("30_2_0_2017.jpg"),
            Err(SkipReason::BadGender(_))
        ));
        assert!(matches!(
            parse("face.jpg"),
            Err(SkipReason::NameDoesNotParse(_))
        ));
        assert!(matches!(
            parse("x_0_0_1.jpg"),
            Err(SkipReason::NameDoesNotParse(_))
        ));
        assert!(matches!(
            parse("30_0.jpg"),
            Err(SkipReason::NameDoesNotParse(_))
        ));
    }
}
