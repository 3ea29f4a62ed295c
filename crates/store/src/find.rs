//! The databases under a folder, for `ablate list`: every `*.db` file, build
//! output, version control and caches left unsearched.

use std::path::{Path, PathBuf};

use crate::{Store, StoreError, SweepRow};

/// Folders never searched: build output and version control, not sweeps.
const SKIP: [&str; 4] = ["target", ".git", "node_modules", "cache"];

/// The `*.db` files under `dir` (at most 8 folders down), sorted.
pub fn databases(dir: &Path) -> Vec<PathBuf> {
    let skipped =
        |e: &walkdir::DirEntry| e.file_type().is_dir() && SKIP.iter().any(|s| e.file_name() == *s);
    let mut found: Vec<PathBuf> = (walkdir::WalkDir::new(dir).max_depth(8).into_iter())
        .filter_entry(|e| !skipped(e))
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .map(walkdir::DirEntry::into_path)
        .filter(|p| p.extension().is_some_and(|x| x == "db"))
        .collect();
    found.sort();
    found
}

/// The sweeps the database at `db` holds, read-only; an error for a file that
/// is not an ablate database.
pub async fn sweeps_in(db: &Path) -> Result<Vec<SweepRow>, StoreError> {
    let store = Store::open_read_only(db).await?;
    let sweeps = store.sweeps().await;
    store.close().await;
    sweeps
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::databases;

    #[test]
    fn databases_are_found_sorted_and_build_output_is_skipped() {
        let dir = tempfile::tempdir().unwrap();
        for f in [
            "b/ablate.db",
            "a/x.db",
            "target/t.db",
            "a/cache/c.db",
            "a/notes.txt",
        ] {
            let p = dir.path().join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, b"").unwrap();
        }
        let found: Vec<String> = (databases(dir.path()).iter())
            .map(|p| p.strip_prefix(dir.path()).unwrap().display().to_string())
            .collect();
        assert_eq!(found, ["a/x.db", "b/ablate.db"]);
    }
}
