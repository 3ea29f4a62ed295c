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

/// Serialized in its stored form, as the database and exports write it.
impl serde::Serialize for Membership {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Membership {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Ok(Membership::parse(&s))
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
            let json = serde_json::to_string(&m).unwrap_or_default();
            assert_eq!(json, format!("{:?}", m.to_string()));
            assert_eq!(serde_json::from_str::<Membership>(&json).ok(), Some(m));
        }
        assert_eq!(
            Membership::Pretrain("face".into()).to_string(),
            "pretrain:face"
        );
    }
}
