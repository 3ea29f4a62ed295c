//! Where and with what an attempt ran: host, ablate version, and the git commit
//! (and dirty flag) of the repository that holds the sweep file.

use std::path::Path;
use std::process::Command;

#[derive(Debug, Clone, Default)]
pub struct Provenance {
    pub host: String,
    pub version: String,
    pub git_commit: Option<String>,
    pub git_dirty: Option<bool>,
}

pub fn collect(sweep_file: &Path) -> Provenance {
    let dir = sweep_file
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let git = |args: &[&str]| -> Option<String> {
        let out = Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(args)
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
    };
    let commit = git(&["rev-parse", "HEAD"]);
    let dirty = commit
        .as_ref()
        .and_then(|_| git(&["status", "--porcelain"]))
        .map(|s| !s.is_empty());
    Provenance {
        host: host(),
        version: env!("CARGO_PKG_VERSION").to_string(),
        git_commit: commit,
        git_dirty: dirty,
    }
}

pub fn host() -> String {
    nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_else(|| "unknown".into())
}
