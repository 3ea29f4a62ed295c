//! Where a trial's attempts run.

use serde::{Deserialize, Serialize};

/// A backend, as attempts record it (`local`, `slurm`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BackendKind {
    /// Child processes of the orchestrator.
    #[default]
    Local,
    /// Batch jobs of a Slurm cluster.
    Slurm,
}

impl BackendKind {
    pub fn as_str(self) -> &'static str {
        match self {
            BackendKind::Local => "local",
            BackendKind::Slurm => "slurm",
        }
    }

    /// The recorded name's kind; None for a name no backend has.
    pub fn parse(s: &str) -> Option<BackendKind> {
        [BackendKind::Local, BackendKind::Slurm]
            .into_iter()
            .find(|b| b.as_str() == s)
    }
}

impl PartialEq<&str> for BackendKind {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl std::fmt::Display for BackendKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
