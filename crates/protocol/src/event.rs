//! What a worker prints: one JSON object per line, `event` saying which; and the
//! result it reports.

use serde::{Deserialize, Serialize};

use crate::TrialId;
use crate::failure::FailureClass;
use crate::metrics::{AgeMetrics, ClassMetrics};

/// Validation (or test) metrics of one evaluation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Evaluation {
    pub gender: Option<ClassMetrics>,
    pub age: Option<AgeEvaluation>,
    pub identity: Option<ClassMetrics>,
    pub general: Option<ClassMetrics>,
    /// Mean loss over the evaluated images.
    pub loss: f64,
}

/// Age read out both ways where the model is a classifier: one training, two results.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgeEvaluation {
    /// Expected value (sum of p_i * age_i) for classifiers; the output for regression.
    pub expected: AgeMetrics,
    /// ArgMax read-out (classifiers only).
    pub argmax: Option<AgeMetrics>,
    /// MAE of always predicting the training mean: the bar a real model clears.
    pub baseline_mae: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochReport {
    pub epoch: u32,
    pub train_loss: f64,
    pub lr: f64,
    pub val: Evaluation,
    /// The selection metric on validation (see `TrialResult::selection`).
    pub val_score: f64,
    pub images_per_s: f64,
    pub elapsed_s: f64,
}

/// A run whose predictions collapsed, with the evidence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Degenerate {
    pub evidence: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Counts {
    pub train: usize,
    pub val: usize,
    pub test: usize,
}

/// What `result.json` holds and the `finished` event carries, as ablate's worker
/// writes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrialResult {
    pub trial: TrialId,
    pub test: Evaluation,
    pub best_epoch: u32,
    pub epochs: u32,
    /// What picked the best epoch: `age_mae` (lower is better) or `accuracy` (higher).
    pub selection: String,
    pub best_val_score: f64,
    pub degenerate: Option<Degenerate>,
    pub images: Counts,
    /// Hash of the train/val/test index lists.
    pub split_digest: String,
    pub parameters: usize,
    pub train_seconds: f64,
    pub images_per_s: f64,
    pub device: String,
    pub threads: usize,
    /// What the user should know about this run (labels clipped into the encoding's
    /// age range, ...); also written to the worker's log.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// `BUILTIN_TRAINER_VERSION` of the trainer that produced it (None for a
    /// result written before it was recorded).
    #[serde(default)]
    pub trainer_version: Option<u32>,
    /// Content digest of the cache it trained on, checked against the trial file's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_digest: Option<String>,
    /// A multi-task trial's epoch per task (task -> epoch): each task's test metrics
    /// come from the epoch that was best for it on validation. Empty otherwise.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub task_epochs: std::collections::BTreeMap<String, u32>,
}

/// A `finished` event's result as the worker reported it. It is recorded as it
/// came: a user's worker may leave out fields the report does not need, or add its
/// own, and neither may be lost or refused.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Reported(serde_json::Value);

impl From<serde_json::Value> for Reported {
    fn from(v: serde_json::Value) -> Self {
        Reported(v)
    }
}

impl Reported {
    /// Whether the worker flagged the run as collapsed: `degenerate` holds its
    /// evidence. Absent, null and false all mean not flagged, as the report reads
    /// it (`check_finished` refuses any other value).
    pub fn degenerate(&self) -> bool {
        self.0
            .get("degenerate")
            .is_some_and(|d| !matches!(d, serde_json::Value::Null | serde_json::Value::Bool(false)))
    }

    /// The result as the worker wrote it.
    pub fn value(&self) -> &serde_json::Value {
        &self.0
    }

    pub fn json(&self) -> String {
        self.0.to_string()
    }

    /// The `trainer_version` the worker reported, as text (a number or a string).
    pub fn trainer_version(&self) -> Option<String> {
        match self.0.get("trainer_version")? {
            serde_json::Value::String(s) => Some(s.clone()),
            serde_json::Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
    }

    /// The result in ablate's own form, where it has every field.
    pub fn typed(&self) -> Result<TrialResult, serde_json::Error> {
        serde_json::from_value(self.0.clone())
    }
}

/// One JSON line on the worker's stdout.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum Event {
    Started {
        trial: TrialId,
        device: String,
        threads: usize,
        images: Counts,
        parameters: usize,
        epochs: u32,
        /// Where this attempt starts from when a resumable state was found: the
        /// epoch and batch it resumed at, or why the state was not used.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        resume: Option<String>,
    },
    Epoch(Box<EpochReport>),
    /// A resumable state was written: `epoch` epochs and `batch` batches of the
    /// next are in it. An attempt stopped after one can resume instead of
    /// starting again.
    State {
        epoch: u32,
        batch: usize,
    },
    /// The attempt's peak memory so far, in bytes: private host memory
    /// (RssAnon, sampled) and, on a GPU, device memory. Sent when it grows.
    Memory {
        host_private_bytes: Option<u64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        gpu_bytes: Option<u64>,
    },
    Heartbeat {
        epoch: u32,
        step: usize,
        steps: usize,
        loss: f64,
        elapsed_s: f64,
    },
    Finished {
        result: Box<TrialResult>,
    },
    Failed {
        class: FailureClass,
        message: String,
    },
}

/// A worker's event as the orchestrator reads it: which event, and the fields the
/// orchestrator acts on. [`Event`] is what ablate's worker writes; a user's worker
/// may leave out fields the orchestrator does not need (the line itself is what
/// gets stored), so every field is optional here.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum Incoming {
    Started {
        #[serde(default)]
        device: Option<String>,
        #[serde(default)]
        resume: Option<String>,
    },
    State {
        #[serde(default)]
        epoch: u32,
        #[serde(default)]
        batch: usize,
    },
    Memory {
        #[serde(default)]
        host_private_bytes: Option<u64>,
        #[serde(default)]
        gpu_bytes: Option<u64>,
    },
    Epoch {
        #[serde(default)]
        epoch: u32,
        #[serde(default)]
        train_loss: Option<f64>,
        #[serde(default)]
        images_per_s: Option<f64>,
        #[serde(default)]
        val_score: Option<f64>,
    },
    /// Where in its epoch the worker is; the live page shows the step.
    Heartbeat {
        #[serde(default)]
        loss: Option<f64>,
        #[serde(default)]
        epoch: Option<u32>,
        #[serde(default)]
        step: Option<u64>,
        #[serde(default)]
        steps: Option<u64>,
    },
    Finished {
        #[serde(default)]
        result: Reported,
    },
    Failed {
        /// A `failed` event that names no class is a bug of its worker's.
        #[serde(default = "internal")]
        class: FailureClass,
        #[serde(default)]
        message: String,
    },
}

fn internal() -> FailureClass {
    FailureClass::Internal
}

/// A line of a worker's stdout that is not a protocol event: the protocol allows
/// other output there, so it is logged, not fatal.
#[derive(Debug, Clone, PartialEq)]
pub struct NotAnEvent {
    /// Why it did not read as one (serde's message: which field, which line column).
    pub why: String,
}

/// A line read as an event: the event, and where a line with Python's `NaN` or
/// `Infinity` tokens held them (read as null; `json` is then the line as stored,
/// with nulls, so every stored line is JSON).
#[derive(Debug, Clone, PartialEq)]
pub struct ReadEvent {
    pub event: Incoming,
    /// Fields that held a non-finite number, as `result.test.loss (NaN)`.
    pub nonfinite: Vec<String>,
    /// The line with those tokens as null, when there were any.
    pub json: Option<String>,
}

impl Incoming {
    /// Reads one line of a worker's stdout (strict JSON).
    pub fn parse(line: &str) -> Result<Incoming, NotAnEvent> {
        serde_json::from_str(line).map_err(|e| NotAnEvent { why: e.to_string() })
    }

    /// Reads one line, also when it holds the `NaN`, `Infinity` or `-Infinity`
    /// tokens Python's `json.dumps` writes: they are read as null and named.
    pub fn read(line: &str) -> Result<ReadEvent, NotAnEvent> {
        let strict = match Incoming::parse(line) {
            Ok(event) => {
                return Ok(ReadEvent {
                    event,
                    nonfinite: Vec::new(),
                    json: None,
                });
            }
            Err(e) => e,
        };
        let Some(lenient) = crate::nonfinite::read(line) else {
            return Err(strict);
        };
        let json = lenient.value.to_string();
        let event = serde_json::from_value(lenient.value).map_err(|_| strict)?;
        Ok(ReadEvent {
            event,
            nonfinite: lenient.fields,
            json: Some(json),
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_partial_result_of_a_users_worker_is_kept_whole() {
        let line = r#"{"event":"finished","result":{"trial":"t","test":{"loss":0.5},"degenerate":null,"attempt":2}}"#;
        let Ok(Incoming::Finished { result }) = Incoming::parse(line) else {
            panic!("not read as finished");
        };
        assert!(!result.degenerate());
        assert!(result.json().contains("\"attempt\":2"));
        assert!(
            result.typed().is_err(),
            "ablate's own form needs every field"
        );
    }

    #[test]
    fn what_ablates_worker_writes_reads_back_and_a_sparse_epoch_still_counts() {
        let e = Event::Heartbeat {
            epoch: 1,
            step: 2,
            steps: 3,
            loss: 0.5,
            elapsed_s: 1.0,
        };
        let line = serde_json::to_string(&e).unwrap();
        assert_eq!(
            Incoming::parse(&line),
            Ok(Incoming::Heartbeat {
                loss: Some(0.5),
                epoch: Some(1),
                step: Some(2),
                steps: Some(3),
            })
        );
        let sparse = Incoming::parse(r#"{"event":"epoch","epoch":1,"train_loss":0.5}"#).unwrap();
        assert_eq!(
            sparse,
            Incoming::Epoch {
                epoch: 1,
                train_loss: Some(0.5),
                images_per_s: None,
                val_score: None
            }
        );
    }

    #[test]
    fn degenerate_false_and_null_are_not_flagged_evidence_is() {
        let flag = |d: &str| {
            let line = format!(r#"{{"event":"finished","result":{{"degenerate":{d}}}}}"#);
            let Ok(Incoming::Finished { result }) = Incoming::parse(&line) else {
                panic!("not read as finished");
            };
            result.degenerate()
        };
        assert!(!flag("null"));
        assert!(!flag("false"), "false is not flagged");
        assert!(flag(r#"{"evidence":["one class"]}"#));
        let line = r#"{"event":"finished","result":{}}"#;
        let Ok(Incoming::Finished { result }) = Incoming::parse(line) else {
            panic!("not read as finished");
        };
        assert!(!result.degenerate(), "absent is not flagged");
    }

    #[test]
    fn pythons_nan_is_read_and_named() {
        let line = r#"{"event": "epoch", "epoch": 2, "train_loss": NaN, "val_score": 0.5}"#;
        assert!(Incoming::parse(line).is_err(), "not strict JSON");
        let r = Incoming::read(line).unwrap();
        assert_eq!(
            r.event,
            Incoming::Epoch {
                epoch: 2,
                train_loss: None,
                images_per_s: None,
                val_score: Some(0.5)
            }
        );
        assert_eq!(r.nonfinite, ["train_loss (NaN)"]);
        let stored: serde_json::Value = serde_json::from_str(r.json.as_deref().unwrap()).unwrap();
        assert_eq!(stored["train_loss"], serde_json::Value::Null);
        assert!(Incoming::read("loss is NaN").is_err());
    }

    #[test]
    fn lines_that_are_not_events_say_why() {
        for line in ["hello", "{\"event\":\"sing\"}", "[1]", "{\"epoch\":1}"] {
            let e = Incoming::parse(line).unwrap_err();
            assert!(!e.why.is_empty(), "{line}");
        }
        let Ok(Incoming::Failed { class, .. }) =
            Incoming::parse(r#"{"event":"failed","class":"device-lost","message":"Xid 79"}"#)
        else {
            panic!("not read as failed");
        };
        assert_eq!(class, FailureClass::DeviceLost);
    }
}
