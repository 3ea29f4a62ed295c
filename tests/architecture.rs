//! ARCHITECTURE.md is the map a newcomer trusts, so this test holds its codemap
//! to the workspace: every crate has a section whose "Depends on" line lists
//! exactly the workspace crates its Cargo.toml depends on; every module file of
//! a crate is named in its section; and every `.rs` file a section names exists.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The codemap section of each crate: `### \`crates/NAME\` ...` to the next heading.
fn sections(doc: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for line in doc.lines() {
        if line.starts_with("## ") {
            out.push((String::new(), String::new()));
        } else if let Some(rest) = line.strip_prefix("### `crates/") {
            let name = rest.split('`').next().unwrap().to_string();
            out.push((name, String::new()));
        } else if let Some((_, text)) = out.last_mut() {
            text.push_str(line);
            text.push('\n');
        }
    }
    out.retain(|(name, _)| !name.is_empty());
    out
}

/// The crate names a section's `Depends on:` line lists (`ablate-*`).
fn stated_deps(section: &str) -> Option<BTreeSet<String>> {
    let line = section.lines().find(|l| l.starts_with("Depends on"))?;
    Some(
        line.split('`')
            .filter(|w| w.starts_with("ablate-"))
            .map(str::to_string)
            .collect(),
    )
}

/// The workspace crates a crate's `[dependencies]` names.
fn cargo_deps(dir: &Path) -> BTreeSet<String> {
    let text = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
    let mut in_deps = false;
    let mut out = BTreeSet::new();
    for line in text.lines() {
        if line.starts_with('[') {
            in_deps = line.trim() == "[dependencies]";
        } else if in_deps && line.starts_with("ablate-") {
            out.insert(line.split(['.', ' ', '=']).next().unwrap().to_string());
        }
    }
    out
}

/// Module files of a crate, relative to its `src/`: every `.rs` but the crate
/// roots, `mod.rs` files and test modules.
fn modules(src: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for e in walkdir::WalkDir::new(src).sort_by_file_name() {
        let e = e.unwrap();
        let rel = e
            .path()
            .strip_prefix(src)
            .unwrap()
            .to_string_lossy()
            .to_string();
        let name = e.file_name().to_string_lossy();
        let test = name == "tests.rs" || name.ends_with("_tests.rs") || rel.contains("tests/");
        let root = ["lib.rs", "main.rs", "mod.rs"].contains(&name.as_ref());
        if rel.ends_with(".rs") && !test && !root {
            out.push(rel);
        }
    }
    out
}

#[test]
fn the_codemap_states_every_crate_and_its_dependencies() {
    let doc = std::fs::read_to_string(root().join("ARCHITECTURE.md")).unwrap();
    let sections = sections(&doc);
    let mut problems = Vec::new();
    let mut crates: Vec<String> = std::fs::read_dir(root().join("crates"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    crates.sort();
    for name in &crates {
        let Some((_, text)) = sections.iter().find(|(n, _)| n == name) else {
            problems.push(format!("crates/{name} has no section in the codemap"));
            continue;
        };
        let actual = cargo_deps(&root().join("crates").join(name));
        match stated_deps(text) {
            None => problems.push(format!(
                "crates/{name}: no `Depends on` line; its Cargo.toml has {actual:?}"
            )),
            Some(stated) if stated != actual => problems.push(format!(
                "crates/{name}: the codemap says it depends on {stated:?}, its Cargo.toml on {actual:?}"
            )),
            Some(_) => {}
        }
    }
    for (name, _) in &sections {
        if !crates.contains(name) {
            problems.push(format!(
                "the codemap has a section for crates/{name}, which does not exist"
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "ARCHITECTURE.md:\n{}",
        problems.join("\n")
    );
}

#[test]
fn the_codemap_names_every_module_file_and_only_files_that_exist() {
    let doc = std::fs::read_to_string(root().join("ARCHITECTURE.md")).unwrap();
    let mut problems = Vec::new();
    for (name, text) in sections(&doc) {
        let dir = root().join("crates").join(&name);
        let files = modules(&dir.join("src"));
        let named: BTreeSet<&str> = text
            .split('`')
            .skip(1)
            .step_by(2)
            .flat_map(|w| w.split([' ', '+', ',']))
            .filter(|w| w.ends_with(".rs") || w.ends_with('/'))
            .collect();
        for f in &files {
            let file = f.rsplit('/').next().unwrap();
            if !named.contains(f.as_str()) && !named.contains(file) {
                problems.push(format!("crates/{name}/src/{f} is not named in its section"));
            }
        }
        for w in named.iter().filter(|w| w.ends_with(".rs")) {
            let exists = files
                .iter()
                .any(|f| f == w || f.ends_with(&format!("/{w}")))
                || ["src", "", "../.."]
                    .iter()
                    .any(|p| dir.join(p).join(w).exists())
                || walkdir::WalkDir::new(dir.join("src"))
                    .into_iter()
                    .filter_map(Result::ok)
                    .any(|e| e.path().ends_with(w));
            if !exists {
                problems.push(format!(
                    "crates/{name}: the codemap names `{w}`, which is not there"
                ));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "ARCHITECTURE.md:\n{}",
        problems.join("\n")
    );
}
