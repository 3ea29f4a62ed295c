//! A trial's identity, and its short form for people.

use std::borrow::Borrow;
use std::fmt;

use serde::{Deserialize, Serialize};

/// A trial's id: SHA-256 (hex) of what decides its result (see `ablate_spec::trial_id`).
/// Serialized as the plain string, so files and the database hold the hex as before.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TrialId(String);

impl TrialId {
    /// How many hex digits people see (logs, plans, folder names): 48 bits, so two
    /// two trials of a sweep share one with odds of 1 in 2.8e14 per pair.
    pub const SHORT_LEN: usize = 12;

    pub fn new(hex: impl Into<String>) -> Self {
        TrialId(hex.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The first [`Self::SHORT_LEN`] digits: the run folder's name and what logs show.
    pub fn short(&self) -> &str {
        short_id(&self.0)
    }
}

/// The short form of an id held as a string (a database row, an event).
pub fn short_id(id: &str) -> &str {
    id.get(..TrialId::SHORT_LEN).unwrap_or(id)
}

impl fmt::Display for TrialId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::ops::Deref for TrialId {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for TrialId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl Borrow<str> for TrialId {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl From<String> for TrialId {
    fn from(s: String) -> Self {
        TrialId(s)
    }
}

impl From<&str> for TrialId {
    fn from(s: &str) -> Self {
        TrialId(s.to_string())
    }
}

impl From<TrialId> for String {
    fn from(id: TrialId) -> String {
        id.0
    }
}

impl PartialEq<str> for TrialId {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for TrialId {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

impl PartialEq<String> for TrialId {
    fn eq(&self, other: &String) -> bool {
        &self.0 == other
    }
}

impl PartialEq<TrialId> for String {
    fn eq(&self, other: &TrialId) -> bool {
        *self == other.0
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn short_form_is_twelve_digits_or_the_whole_of_a_shorter_one() {
        let id = TrialId::new("0123456789abcdef");
        assert_eq!(id.short(), "0123456789ab");
        assert_eq!(short_id("abc"), "abc");
        assert_eq!(serde_json::to_string(&id).unwrap(), "\"0123456789abcdef\"");
        let back: TrialId = serde_json::from_str("\"0123456789abcdef\"").unwrap();
        assert_eq!(back, id);
    }
}
