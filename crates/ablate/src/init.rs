//! `ablate init [FILE] [--example quick|utkface|csv]`: a commented starter
//! sweep (`ablate_spec::starter`) to copy from, named after its file. Never
//! overwrites a file.

use std::path::Path;

use anyhow::{Result, bail};

use crate::InvalidInput;

pub fn init(file: &Path, example: &str) -> Result<()> {
    let Some(text) = ablate_spec::starter::starter(example, file) else {
        let names: Vec<&str> = ablate_spec::starter::EXAMPLES
            .iter()
            .map(|(n, _)| *n)
            .collect();
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
