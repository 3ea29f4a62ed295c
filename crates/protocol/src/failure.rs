//! Why an attempt failed, whoever noticed: the worker (its `failed` event or exit
//! code), the dispatcher (a hung worker, a signal), or a batch scheduler (time
//! limit, preemption). The class alone decides whether a retry is worth it.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A failure class, written as its kebab-case name in events and the database.
/// A worker of the user's may name a class of its own: it is kept as `Other` and
/// never retried.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(into = "String", from = "String")]
pub enum FailureClass {
    /// The trial cannot run as configured (mismatched checkpoint, no CUDA, missing
    /// labels, a worker program that does not exist).
    BadConfig,
    /// The loss became NaN or infinite.
    NanLoss,
    OutOfMemory,
    /// Reading or writing files failed.
    Io,
    /// A bug, including panics.
    Internal,
    /// The GPU stopped answering (an Xid error, fallen off the bus).
    DeviceLost,
    /// The dispatcher killed it: no heartbeat for too long, or past the trial
    /// timeout; or a batch job ran past its time limit.
    Timeout,
    /// Killed by a signal nobody in ablate sent, or vanished.
    Killed,
    /// A batch scheduler would not take the job (sbatch failed).
    Scheduler,
    /// A batch job cancelled from outside ablate.
    Cancelled,
    Preempted,
    /// A batch job's node failed.
    NodeFailure,
    /// A batch job the scheduler no longer knows, with no result from its worker.
    Lost,
    /// The worker broke the protocol: a `finished` result that is not an object,
    /// names another trial, or lacks a metric its tasks need or holds one out of
    /// range. Assigned by the orchestrator; not retried (the same worker would do
    /// it again).
    Protocol,
    Other(String),
}

/// Every named class, for documentation and tests.
const NAMED: [FailureClass; 14] = [
    FailureClass::BadConfig,
    FailureClass::NanLoss,
    FailureClass::OutOfMemory,
    FailureClass::Io,
    FailureClass::Internal,
    FailureClass::DeviceLost,
    FailureClass::Timeout,
    FailureClass::Killed,
    FailureClass::Scheduler,
    FailureClass::Cancelled,
    FailureClass::Preempted,
    FailureClass::NodeFailure,
    FailureClass::Lost,
    FailureClass::Protocol,
];

impl FailureClass {
    pub fn as_str(&self) -> &str {
        match self {
            FailureClass::BadConfig => "bad-config",
            FailureClass::NanLoss => "nan-loss",
            FailureClass::OutOfMemory => "out-of-memory",
            FailureClass::Io => "io",
            FailureClass::Internal => "internal",
            FailureClass::DeviceLost => "device-lost",
            FailureClass::Timeout => "timeout",
            FailureClass::Killed => "killed",
            FailureClass::Scheduler => "scheduler",
            FailureClass::Cancelled => "cancelled",
            FailureClass::Preempted => "preempted",
            FailureClass::NodeFailure => "node-failure",
            FailureClass::Lost => "lost",
            FailureClass::Protocol => "protocol",
            FailureClass::Other(s) => s,
        }
    }

    /// Reads a class name (an event's, a database row's); unknown names are `Other`.
    pub fn parse(name: &str) -> FailureClass {
        NAMED
            .iter()
            .find(|c| c.as_str() == name)
            .cloned()
            .unwrap_or_else(|| FailureClass::Other(name.to_string()))
    }

    /// Worth running again: the condition was transient (memory, files, the GPU,
    /// the machine or the batch scheduler), as opposed to a failure the same trial
    /// would meet again. The one list the dispatcher, `ablate run`'s resume and the
    /// Slurm backend all use.
    pub fn retryable(&self) -> bool {
        matches!(
            self,
            FailureClass::OutOfMemory
                | FailureClass::Io
                | FailureClass::DeviceLost
                | FailureClass::Killed
                | FailureClass::Scheduler
                | FailureClass::Preempted
                | FailureClass::NodeFailure
                | FailureClass::Lost
        )
    }

    /// The worker's exit code for a failure of this class (docs/worker-protocol.md).
    /// The others (`device-lost`, which only a `failed` event can say, the classes a
    /// scheduler assigns, a user's own) exit as `internal` does.
    pub fn exit_code(&self) -> u8 {
        match self {
            FailureClass::BadConfig => 3,
            FailureClass::NanLoss => 4,
            FailureClass::OutOfMemory => 5,
            FailureClass::Io => 6,
            FailureClass::Preempted => 8,
            _ => 7,
        }
    }

    /// What a worker's exit code says when it printed no `failed` event: 0 is no
    /// failure (None); 3-6 and 8 are the protocol's classes; any other code is
    /// `internal`.
    pub fn from_exit_code(code: i32) -> Option<FailureClass> {
        match code {
            0 => None,
            3 => Some(FailureClass::BadConfig),
            4 => Some(FailureClass::NanLoss),
            5 => Some(FailureClass::OutOfMemory),
            6 => Some(FailureClass::Io),
            8 => Some(FailureClass::Preempted),
            _ => Some(FailureClass::Internal),
        }
    }
}

impl fmt::Display for FailureClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A class reads as its name (`Some(&*class)`, `class.as_deref()` on an Option).
impl std::ops::Deref for FailureClass {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl PartialEq<&str> for FailureClass {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl From<FailureClass> for String {
    fn from(c: FailureClass) -> String {
        c.as_str().to_string()
    }
}

impl From<String> for FailureClass {
    fn from(s: String) -> FailureClass {
        FailureClass::parse(&s)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn names_read_back_and_unknown_ones_are_kept() {
        for c in NAMED {
            assert_eq!(FailureClass::parse(c.as_str()), c);
            let json = serde_json::to_string(&c).unwrap();
            assert_eq!(serde_json::from_str::<FailureClass>(&json).unwrap(), c);
        }
        let mine = FailureClass::parse("dataloader-stuck");
        assert_eq!(mine, FailureClass::Other("dataloader-stuck".into()));
        assert_eq!(mine.as_str(), "dataloader-stuck");
        assert!(!mine.retryable());
    }

    #[test]
    fn exit_codes_round_trip_for_the_worker_classes() {
        for c in NAMED {
            let code = c.exit_code();
            let back = FailureClass::from_exit_code(i32::from(code)).unwrap();
            if code == 7 {
                assert_eq!(back, FailureClass::Internal, "{c}");
            } else {
                assert_eq!(back, c);
            }
        }
        assert_eq!(FailureClass::from_exit_code(0), None);
        assert_eq!(
            FailureClass::from_exit_code(1),
            Some(FailureClass::Internal)
        );
        assert_eq!(
            FailureClass::from_exit_code(101),
            Some(FailureClass::Internal)
        );
    }

    #[test]
    fn transient_failures_are_retried_deterministic_ones_not() {
        let retried: Vec<&str> = NAMED
            .iter()
            .filter(|c| c.retryable())
            .map(FailureClass::as_str)
            .collect();
        assert_eq!(
            retried,
            [
                "out-of-memory",
                "io",
                "device-lost",
                "killed",
                "scheduler",
                "preempted",
                "node-failure",
                "lost"
            ]
        );
    }
}
