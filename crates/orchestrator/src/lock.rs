//! One orchestrator per database: an exclusive advisory lock on `<db>.lock`,
//! the database's own file name with `.lock` added (so never a file the user
//! named for something else: `--db Cargo.db` locks `Cargo.db.lock`, not
//! `Cargo.lock`). The file says who holds it, host and pid, for `ablate cancel`;
//! an existing file that is not ablate's lock is refused, never truncated.

use std::io::{Read as _, Seek as _, Write as _};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};

use crate::RunError;

/// The first line of a lock file.
const MAGIC: &str = "ablate-lock 1";

/// The lock file of database `db`.
pub fn lock_path(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

/// Who holds a lock, as its file says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    /// None for a lock of an ablate older than this format (a bare pid).
    pub host: Option<String>,
    pub pid: i32,
}

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.host {
            Some(h) => write!(f, "pid {} on host {h}", self.pid),
            None => write!(f, "pid {}, host not recorded", self.pid),
        }
    }
}

/// What a lock file's text says: `Ok(None)` for an empty file, `Err` for a file
/// that is not a lock of ablate's.
fn parse(text: &str) -> Result<Option<Holder>, ()> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    if let Ok(pid) = text.parse::<i32>() {
        return Ok(Some(Holder { host: None, pid }));
    }
    let mut lines = text.lines();
    if lines.next() != Some(MAGIC) {
        return Err(());
    }
    let (mut host, mut pid) = (None, None);
    for l in lines {
        match l.split_once('=') {
            Some(("host", h)) => host = Some(h.to_string()),
            Some(("pid", p)) => pid = p.parse().ok(),
            _ => {}
        }
    }
    Ok(pid.map(|pid| Holder { host, pid }))
}

/// The start of a file's text, at most 4 KiB (a foreign file may be large).
fn head(file: &mut std::fs::File) -> String {
    let mut buf = Vec::new();
    let _ = std::io::Read::by_ref(file).take(4096).read_to_end(&mut buf);
    String::from_utf8_lossy(&buf).into_owned()
}

/// Who holds the lock of `db`, if its file names anyone.
pub fn holder(db: &Path) -> Option<Holder> {
    let mut f = std::fs::File::open(lock_path(db)).ok()?;
    parse(&head(&mut f)).ok().flatten()
}

/// Takes the lock of `db`, or says who has it.
pub fn lock(db: &Path) -> Result<Flock<std::fs::File>, RunError> {
    try_lock(db)?.ok_or_else(|| {
        let who = holder(db).map_or("a process that did not record itself".into(), |h| h.to_string());
        RunError::Invalid(format!(
            "another `ablate run` ({who}) is using {} (lock {} is held); wait for it, stop it, or `ablate cancel` the sweep",
            db.display(),
            lock_path(db).display()
        ))
    })
}

/// Takes the lock of `db`: None while another process holds it.
pub fn try_lock(db: &Path) -> Result<Option<Flock<std::fs::File>>, RunError> {
    let path = lock_path(db);
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(&path)
        .map_err(RunError::io("open the lock", &path))?;
    let text = head(&mut file);
    if parse(&text).is_err() {
        let first: String = text.lines().next().unwrap_or("").chars().take(60).collect();
        return Err(RunError::Invalid(format!(
            "{} exists and is not an ablate lock file (it starts {first:?}); ablate keeps the lock of {} there. Move that file away, or keep the database elsewhere (--db)",
            path.display(),
            db.display()
        )));
    }
    let held = match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
        Ok(h) => h,
        Err((_, Errno::EWOULDBLOCK)) => return Ok(None),
        Err((_, e)) => {
            return Err(RunError::Invalid(format!(
                "cannot lock {}: {e}; its file system may not support locks: keep the database on one that does (--db)",
                path.display()
            )));
        }
    };
    let mut f: &std::fs::File = &held;
    // Reading it moved the offset: write from the start, into an empty file.
    let _ = f.set_len(0);
    let _ = f.seek(std::io::SeekFrom::Start(0));
    let _ = write!(
        f,
        "{MAGIC}\nhost={}\npid={}\n",
        crate::provenance::host(),
        std::process::id()
    );
    let _ = f.flush();
    Ok(Some(held))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_lock_is_the_databases_name_plus_lock() {
        assert_eq!(
            lock_path(Path::new("a/Cargo.db")),
            Path::new("a/Cargo.db.lock")
        );
        assert_eq!(
            lock_path(Path::new("results.lock")),
            Path::new("results.lock.lock")
        );
    }

    #[test]
    fn a_lock_records_host_and_pid_and_a_second_one_is_refused_naming_them() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("x.db");
        let held = lock(&db).unwrap();
        let h = holder(&db).unwrap();
        assert_eq!(h.pid, std::process::id() as i32);
        assert_eq!(h.host, Some(crate::provenance::host()));
        let text = std::fs::read_to_string(lock_path(&db)).unwrap();
        assert!(text.starts_with(MAGIC), "{text:?}");
        let err = lock(&db).unwrap_err().to_string();
        assert!(err.contains(&format!("pid {}", h.pid)), "{err}");
        drop(held);
        let again = lock(&db).unwrap();
        let text = std::fs::read_to_string(lock_path(&db)).unwrap();
        assert!(
            text.starts_with(MAGIC),
            "rewritten from the start: {text:?}"
        );
        drop(again);
    }

    #[test]
    fn a_file_that_is_not_a_lock_is_refused_and_left_as_it_was() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("Cargo");
        let text = "# This file is automatically @generated by Cargo.\nversion = 4\n";
        std::fs::write(lock_path(&db), text).unwrap();
        let err = lock(&db).unwrap_err().to_string();
        assert!(err.contains("is not an ablate lock file"), "{err}");
        assert_eq!(std::fs::read_to_string(lock_path(&db)).unwrap(), text);
    }

    #[test]
    fn an_older_ablates_bare_pid_is_still_a_lock() {
        assert_eq!(
            parse("4242\n"),
            Ok(Some(Holder {
                host: None,
                pid: 4242
            }))
        );
        assert_eq!(parse(""), Ok(None));
        assert_eq!(parse("[package]"), Err(()));
    }
}
