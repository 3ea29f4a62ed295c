//! `ablate init [FILE] [--example quick|utkface|csv]`: a commented starter
//! sweep to copy from, named after its file. Never overwrites a file.

use std::path::Path;

use anyhow::{Result, bail};

use crate::InvalidInput;

/// The examples, by name: each is a sweep that `ablate plan --check` accepts.
pub const EXAMPLES: [(&str, &str); 3] = [
    ("quick", include_str!("../templates/quick.toml")),
    ("utkface", include_str!("../templates/utkface.toml")),
    ("csv", include_str!("../templates/csv.toml")),
];

/// A sweep name from a file name: its stem, kept to the characters names allow.
fn name_of(file: &Path) -> String {
    let stem = file
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let name: String = stem
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '-'
            }
        })
        .collect();
    if name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric())
    {
        name
    } else {
        format!("sweep{name}")
    }
}

pub fn init(file: &Path, example: &str) -> Result<()> {
    let Some((_, text)) = EXAMPLES.iter().find(|(n, _)| *n == example) else {
        let names: Vec<&str> = EXAMPLES.iter().map(|(n, _)| *n).collect();
        bail!(InvalidInput(format!(
            "--example {example:?}: expected one of {}",
            names.join(", ")
        )));
    };
    if file.exists() {
        bail!(InvalidInput(format!(
            "{} exists; ablate init writes a new file only: name another one",
            file.display()
        )));
    }
    let text = text.replace("NAME", &name_of(file));
    if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(file, text)?;
    println!(
        "wrote {}: the `{example}` example; `ablate plan {}` shows its trials, `ablate run {}` runs them",
        file.display(),
        file.display(),
        file.display()
    );
    Ok(())
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
    fn every_example_is_a_valid_sweep() {
        for (name, text) in EXAMPLES {
            let text = text.replace("NAME", "t");
            if let Err(e) = ablate_spec::parse(&text, Path::new("t.toml")) {
                panic!("example {name}: {e}");
            }
        }
    }
}
