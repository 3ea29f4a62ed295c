//! Bad sweep files: each in tests/bad/ states its expected messages in `# expect:`
//! lines; plus inputs no sweep file should ever be (garbage, deep nesting, binary).

use std::path::PathBuf;

use crate::support::{ablate, ablate_in, assert_invalid, repo, stderr};

#[test]
fn every_bad_file_gives_its_expected_error() {
    let dir = repo().join("tests/bad");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(
        files.len() >= 20,
        "at least 20 bad sweep files, found {}",
        files.len()
    );
    let mut failures = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        let expects: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("# expect: "))
            .collect();
        assert!(
            !expects.is_empty(),
            "{} has no `# expect:` line",
            file.display()
        );
        let rel = file
            .strip_prefix(repo())
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let out = ablate(&["plan", "--check", &rel]);
        assert_invalid(&out, &rel);
        let err = stderr(&out);
        for e in expects {
            if !err.contains(e) {
                failures.push(format!("{rel}: expected `{e}` in:\n{err}"));
            }
        }
        // `# expect-not:` lines: what one root cause must not also report.
        for e in text
            .lines()
            .filter_map(|l| l.strip_prefix("# expect-not: "))
        {
            if err.contains(e) {
                failures.push(format!("{rel}: a second error `{e}` in:\n{err}"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn garbage_inputs_are_errors_not_panics() {
    let dir = tempfile::tempdir().unwrap();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("empty.toml", Vec::new()),
        ("binary.toml", (0..=255u8).cycle().take(4096).collect()),
        ("latin1.toml", b"[sweep]\nname = \"caf\xe9\"\n".to_vec()),
        (
            "deep.toml",
            format!("x = {}{}", "[".repeat(200_000), "]".repeat(200_000)).into_bytes(),
        ),
        (
            "deep-tables.toml",
            format!("x = {}1{}", "{a=".repeat(50_000), "}".repeat(50_000)).into_bytes(),
        ),
        (
            "huge.toml",
            b"[sweep]\nname = \"h\"\nseeds = 1e999999\n".to_vec(),
        ),
        (
            "huge-int.toml",
            b"[sweep]\nname = \"h\"\nseeds = 123456789012345678901234567890\n".to_vec(),
        ),
        ("nul.toml", b"[sweep]\nname = \"a\0b\"\n".to_vec()),
        ("bom-only.toml", b"\xef\xbb\xbf".to_vec()),
    ];
    for (name, bytes) in cases {
        std::fs::write(dir.path().join(name), bytes).unwrap();
        let out = ablate_in(dir.path(), &["plan", name]);
        assert_invalid(&out, name);
        assert!(
            stderr(&out).contains(name),
            "{name}: the message names the file\n{}",
            stderr(&out)
        );
    }
    let out = ablate_in(dir.path(), &["plan", "latin1.toml"]);
    assert!(stderr(&out).contains("not valid UTF-8"), "{}", stderr(&out));
}

#[test]
fn a_missing_file_is_named() {
    let out = ablate(&["plan", "experiments/nope.toml"]);
    assert_invalid(&out, "missing file");
    assert!(
        stderr(&out).contains("cannot read sweep file experiments/nope.toml"),
        "{}",
        stderr(&out)
    );
}
