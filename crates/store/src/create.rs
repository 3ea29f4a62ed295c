//! A new database is built beside its path and published whole: readers that
//! find the file (`ablate status` polling a run that just started) always find
//! every table, never the moment between SQLite creating the file and the
//! migrations filling it.

use std::path::{Path, PathBuf};

use crate::{Store, StoreError};

/// Creates and migrates the database at `path` if no file is there yet. Two
/// creators racing both succeed: the first to publish wins, the other's copy
/// (identical, empty) is dropped.
pub(crate) async fn publish_new(path: &Path) -> Result<(), StoreError> {
    if path.exists() {
        return Ok(());
    }
    remove_abandoned(path);
    let draft = draft_path(path, std::process::id());
    remove_with_sidecars(&draft);
    let pool = Store::migrated(&draft).await?;
    // Closing the last connection merges the write-ahead log into the file,
    // so the file alone holds the schema when it is linked into place.
    pool.close().await;
    let published = match std::fs::hard_link(&draft, path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        // A filesystem without hard links: rename, which cannot refuse to
        // replace, so only where no one published meanwhile.
        Err(_) if !path.exists() => std::fs::rename(&draft, path),
        Err(_) => Ok(()),
    };
    remove_with_sidecars(&draft);
    published.map_err(|source| StoreError::Folder {
        path: path.to_path_buf(),
        source,
    })
}

/// `.ablate.db.new-<pid>` beside `ablate.db`: hidden, and not a `*.db` file
/// that `ablate list` would show.
fn draft_path(path: &Path, pid: u32) -> PathBuf {
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    path.with_file_name(format!(".{name}.new-{pid}"))
}

/// Drafts whose creator was killed before publishing them.
fn remove_abandoned(path: &Path) {
    let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) else {
        return;
    };
    let prefix = draft_path(path, 0);
    let prefix = prefix.file_name().unwrap_or_default().to_string_lossy();
    let prefix = prefix.trim_end_matches('0');
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.filter_map(Result::ok) {
        let name = entry.file_name().to_string_lossy().into_owned();
        let pid = name
            .strip_prefix(prefix)
            .and_then(|p| p.parse::<i32>().ok());
        if pid.is_some_and(|pid| !alive(pid)) {
            remove_with_sidecars(&entry.path());
        }
    }
}

fn alive(pid: i32) -> bool {
    let pid = nix::unistd::Pid::from_raw(pid);
    !matches!(
        nix::sys::signal::kill(pid, None),
        Err(nix::errno::Errno::ESRCH)
    )
}

fn remove_with_sidecars(file: &Path) {
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let mut p = file.as_os_str().to_owned();
        p.push(suffix);
        let _ = std::fs::remove_file(PathBuf::from(p));
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_published_file_alone_holds_every_table() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ablate.db");
        publish_new(&path).await.unwrap();
        let files: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(files.len(), 1, "{files:?}");
        let store = Store::open_read_only(&path).await.unwrap();
        assert!(store.sweeps().await.unwrap().is_empty());
        store.close().await;
    }

    #[test]
    fn a_killed_creators_draft_is_removed_a_live_ones_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ablate.db");
        // pid 0x7ffffff0 is beyond any pid_max, so never alive.
        let dead = draft_path(&path, 0x7fff_fff0);
        let live = draft_path(&path, std::process::id());
        for f in [&dead, &live] {
            std::fs::write(f, b"").unwrap();
        }
        std::fs::write(dir.path().join(".other.db.new-1"), b"").unwrap();
        remove_abandoned(&path);
        assert!(!dead.exists());
        assert!(live.exists());
        assert!(dir.path().join(".other.db.new-1").exists());
    }
}
