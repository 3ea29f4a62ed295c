//! The states a trial and an attempt can be in: what the database's `state`
//! columns hold (migrations/0001_init.sql checks the same names), what the
//! dispatcher moves between and what `ablate status` and the report show.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A trial's state. ARCHITECTURE.md draws the moves between them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TrialState {
    /// Not started, or waiting for its dependencies, a free slot or a retry's backoff.
    Pending,
    /// An attempt is open (a local process, or a batch job queued or running).
    Running,
    Succeeded,
    /// Its last attempt failed for good (not retryable, or out of attempts).
    Failed,
    /// A trial it waits on failed or is blocked: it cannot run this time.
    Blocked,
    /// The sweep was stopped before it ended; a rerun starts it again.
    Interrupted,
}

/// An attempt's state: one run of a trial's worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AttemptState {
    Running,
    Succeeded,
    Failed,
    Interrupted,
}

/// A state name that is none of the known ones (a database from a newer ablate?).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownState(pub String);

impl fmt::Display for UnknownState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown state {:?}", self.0)
    }
}

impl std::error::Error for UnknownState {}

impl TrialState {
    pub const ALL: [TrialState; 6] = [
        TrialState::Pending,
        TrialState::Running,
        TrialState::Succeeded,
        TrialState::Failed,
        TrialState::Blocked,
        TrialState::Interrupted,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TrialState::Pending => "pending",
            TrialState::Running => "running",
            TrialState::Succeeded => "succeeded",
            TrialState::Failed => "failed",
            TrialState::Blocked => "blocked",
            TrialState::Interrupted => "interrupted",
        }
    }

    /// A trial that depends on one in this state can never start in this run.
    pub fn dooms_dependants(self) -> bool {
        matches!(self, TrialState::Failed | TrialState::Blocked)
    }
}

impl AttemptState {
    pub const ALL: [AttemptState; 4] = [
        AttemptState::Running,
        AttemptState::Succeeded,
        AttemptState::Failed,
        AttemptState::Interrupted,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AttemptState::Running => "running",
            AttemptState::Succeeded => "succeeded",
            AttemptState::Failed => "failed",
            AttemptState::Interrupted => "interrupted",
        }
    }
}

macro_rules! names {
    ($t:ty) => {
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        /// A state equals its name: `row.state == "succeeded"`.
        impl PartialEq<&str> for $t {
            fn eq(&self, other: &&str) -> bool {
                self.as_str() == *other
            }
        }

        impl PartialEq<str> for $t {
            fn eq(&self, other: &str) -> bool {
                self.as_str() == other
            }
        }

        impl FromStr for $t {
            type Err = UnknownState;
            fn from_str(s: &str) -> Result<Self, UnknownState> {
                <$t>::ALL
                    .into_iter()
                    .find(|x| x.as_str() == s)
                    .ok_or_else(|| UnknownState(s.to_string()))
            }
        }
    };
}

names!(TrialState);
names!(AttemptState);

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn names_match_the_database_checks() {
        let schema = include_str!("../../../migrations/0001_init.sql");
        let trial: Vec<&str> = TrialState::ALL.iter().map(|s| s.as_str()).collect();
        let attempt: Vec<&str> = AttemptState::ALL.iter().map(|s| s.as_str()).collect();
        let list = |names: &[&str]| {
            names
                .iter()
                .map(|n| format!("'{n}'"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        assert!(
            schema.contains(&format!("state IN ({})", list(&trial))),
            "trials.state"
        );
        assert!(
            schema.contains(&format!("state IN ({})", list(&attempt))),
            "attempts.state"
        );
        for s in TrialState::ALL {
            assert_eq!(s.as_str().parse::<TrialState>(), Ok(s));
            assert_eq!(serde_json::to_string(&s).unwrap(), format!("\"{s}\""));
        }
        assert!("done".parse::<TrialState>().is_err());
    }
}
