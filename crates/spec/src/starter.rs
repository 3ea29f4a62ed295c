//! The starter sweeps `ablate init` writes: commented examples to copy from,
//! each named after the file it is written to.

use std::path::Path;

use crate::names::MAX_NAME_LEN;

/// The examples, by name: each is a sweep that parses once named.
pub const EXAMPLES: [(&str, &str); 3] = [
    ("quick", include_str!("../templates/quick.toml")),
    ("utkface", include_str!("../templates/utkface.toml")),
    ("csv", include_str!("../templates/csv.toml")),
];

/// A sweep name from a file name: its stem, kept to the characters and the
/// length names allow.
pub fn name_of(file: &Path) -> String {
    let stem = (file.file_stem()).map_or_else(String::new, |s| s.to_string_lossy().into_owned());
    let safe = |c: char| c.is_ascii_alphanumeric() || "-_.".contains(c);
    let name: String = stem
        .chars()
        .map(|c| if safe(c) { c } else { '-' })
        .collect();
    let name = if name.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        name
    } else {
        format!("sweep{name}")
    };
    name.chars().take(MAX_NAME_LEN).collect()
}

/// Example `example`'s text, named for `file`; None for an unknown example.
pub fn starter(example: &str, file: &Path) -> Option<String> {
    let (_, text) = EXAMPLES.iter().find(|(n, _)| *n == example)?;
    Some(text.replace("NAME", &name_of(file)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_come_from_the_file() {
        assert_eq!(name_of(Path::new("exp/my study.toml")), "my-study");
        assert_eq!(name_of(Path::new("_x.toml")), "sweep_x");
    }

    #[test]
    fn every_example_is_a_valid_sweep_whatever_its_file_is_called() {
        let long = format!("{}.toml", "a".repeat(90));
        for file in ["t.toml", "_odd name!.toml", long.as_str()] {
            for (name, _) in EXAMPLES {
                let text = starter(name, Path::new(file)).unwrap_or_default();
                if let Err(e) = crate::parse(&text, Path::new(file)) {
                    panic!("example {name} written to {file}: {e}");
                }
            }
        }
        assert_eq!(starter("nope", Path::new("t.toml")), None);
    }
}
