//! What a trial belongs to: a study, or a pretraining stage whose trunk studies
//! start from. The database and reports write a stage as `pretrain:<stage>`.

use std::fmt;

/// A study's name, or a pretraining stage's.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Membership {
    Study(String),
    Pretrain(String),
}

const PRETRAIN: &str = "pretrain:";

impl Membership {
    /// Reads the stored form: `pretrain:<stage>`, or a study's name.
    pub fn parse(s: &str) -> Membership {
        match s.strip_prefix(PRETRAIN) {
            Some(stage) => Membership::Pretrain(stage.to_string()),
            None => Membership::Study(s.to_string()),
        }
    }

    /// The study's name, when it is one.
    pub fn study(&self) -> Option<&str> {
        match self {
            Membership::Study(s) => Some(s),
            Membership::Pretrain(_) => None,
        }
    }
}

/// The stored form (`pretrain:<stage>` for a stage).
impl fmt::Display for Membership {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Membership::Study(s) => f.write_str(s),
            Membership::Pretrain(s) => write!(f, "{PRETRAIN}{s}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Membership;

    #[test]
    fn the_stored_form_round_trips() {
        for m in [
            Membership::Study("depth".into()),
            Membership::Pretrain("face".into()),
        ] {
            assert_eq!(Membership::parse(&m.to_string()), m);
        }
        assert_eq!(
            Membership::Pretrain("face".into()).to_string(),
            "pretrain:face"
        );
    }
}
