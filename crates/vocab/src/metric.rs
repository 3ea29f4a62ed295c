//! The metrics a trial's result gives the report and the verdicts. Their keys
//! (what sweep files, `[report] smallest_effect`, claims, CSV and JSON exports
//! name them by) are spelled here only, by serde.

use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

/// A metric of a trial's test evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    GenderAccuracy,
    /// Age MAE, the expected value's read-out.
    AgeMae,
    /// Age MAE, the ArgMax read-out.
    AgeMaeArgmax,
    /// Share of age errors within 5 years (expected value).
    AgeCs5,
    /// The ChaLearn ε-error (expected value).
    AgeEpsilon,
    IdentityAccuracy,
    GeneralAccuracy,
}

/// A key that names no metric; it lists the ones there are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownMetric(pub String);

impl std::fmt::Display for UnknownMetric {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "unknown metric {:?}; metrics are: {}",
            self.0,
            Metric::keys().join(", ")
        )
    }
}

impl std::error::Error for UnknownMetric {}

impl Metric {
    /// Every metric, in the order reports list them.
    pub const ALL: [Metric; 7] = [
        Metric::GenderAccuracy,
        Metric::AgeMae,
        Metric::AgeMaeArgmax,
        Metric::AgeCs5,
        Metric::AgeEpsilon,
        Metric::IdentityAccuracy,
        Metric::GeneralAccuracy,
    ];

    /// Its key, as serde writes it: `age_mae`.
    pub fn key(self) -> &'static str {
        static KEYS: OnceLock<Vec<String>> = OnceLock::new();
        let keys = KEYS.get_or_init(|| {
            Metric::ALL
                .iter()
                .map(|m| match serde_json::to_value(m) {
                    Ok(serde_json::Value::String(s)) => s,
                    // A unit variant always serializes to its name.
                    _ => String::new(),
                })
                .collect()
        });
        let i = Metric::ALL.iter().position(|m| *m == self).unwrap_or(0);
        keys[i].as_str()
    }

    /// Every key, in [`Metric::ALL`]'s order.
    pub fn keys() -> Vec<&'static str> {
        Metric::ALL.iter().map(|m| m.key()).collect()
    }

    /// The metric a key names.
    pub fn from_key(key: &str) -> Result<Metric, UnknownMetric> {
        Metric::ALL
            .into_iter()
            .find(|m| m.key() == key)
            .ok_or_else(|| UnknownMetric(key.to_string()))
    }

    /// What tables and charts call it.
    pub fn label(self) -> &'static str {
        match self {
            Metric::GenderAccuracy => "gender accuracy",
            Metric::AgeMae => "age MAE (expected value)",
            Metric::AgeMaeArgmax => "age MAE (argmax)",
            Metric::AgeCs5 => "age CS(5)",
            Metric::AgeEpsilon => "age ε-error",
            Metric::IdentityAccuracy => "identity top-1",
            Metric::GeneralAccuracy => "general top-1",
        }
    }

    /// Its unit: years for the age errors, none for rates.
    pub fn unit(self) -> Option<&'static str> {
        match self {
            Metric::AgeMae | Metric::AgeMaeArgmax => Some("years"),
            _ => None,
        }
    }

    /// Whether a lower value is better (errors) or a higher one (rates).
    pub fn lower_is_better(self) -> bool {
        matches!(
            self,
            Metric::AgeMae | Metric::AgeMaeArgmax | Metric::AgeEpsilon
        )
    }

    /// The smallest difference that matters, unless `[report]
    /// smallest_effect` says otherwise: half a year of MAE, one point of a rate.
    pub fn default_smallest_effect(self) -> f64 {
        match self {
            Metric::AgeMae | Metric::AgeMaeArgmax => 0.5,
            _ => 0.01,
        }
    }

    /// The task whose head it measures.
    pub fn task(self) -> &'static str {
        match self {
            Metric::GenderAccuracy => "gender",
            Metric::AgeMae | Metric::AgeMaeArgmax | Metric::AgeCs5 | Metric::AgeEpsilon => "age",
            Metric::IdentityAccuracy => "identity",
            Metric::GeneralAccuracy => "general",
        }
    }
}

impl std::fmt::Display for Metric {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.key())
    }
}

impl std::str::FromStr for Metric {
    type Err = UnknownMetric;
    fn from_str(s: &str) -> Result<Metric, UnknownMetric> {
        Metric::from_key(s)
    }
}

/// Ordered by key, as maps keyed by the key string were: exports and reports
/// list metrics in the same order whichever key type holds them.
impl Ord for Metric {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.key().cmp(other.key())
    }
}

impl PartialOrd for Metric {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::Metric;

    #[test]
    fn keys_round_trip_through_serde_and_from_key() {
        for m in Metric::ALL {
            let json = serde_json::to_string(&m).unwrap_or_default();
            assert_eq!(json, format!("\"{}\"", m.key()));
            assert_eq!(Metric::from_key(m.key()), Ok(m));
            assert_eq!(m.key().parse::<Metric>(), Ok(m));
        }
        let keys = Metric::keys();
        let mut unique = keys.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), keys.len());
        let e = Metric::from_key("age_mse").unwrap_err().to_string();
        assert!(e.contains("age_mae_argmax"), "{e}");
    }

    #[test]
    fn errors_are_lower_is_better_and_rates_are_not() {
        let lower: Vec<Metric> = Metric::ALL
            .into_iter()
            .filter(|m| m.lower_is_better())
            .collect();
        assert_eq!(
            lower,
            [Metric::AgeMae, Metric::AgeMaeArgmax, Metric::AgeEpsilon]
        );
        assert!(Metric::AgeCs5 < Metric::AgeEpsilon, "ordered by key");
    }
}
