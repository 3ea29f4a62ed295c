//! What an ended attempt means: success, a failure worth retrying, or a final one.

use std::time::Duration;

use ablate_protocol::FailureClass;

/// Why the dispatcher itself stopped a worker, if it did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stopped {
    /// No heartbeat or event for too long, or past the trial timeout.
    Hung(String),
    /// The sweep is being interrupted (Ctrl-C, SIGTERM).
    Interrupt,
    /// It sent its result but did not exit within the grace period after it.
    AfterFinish(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// With a note when the worker did not end cleanly after its result.
    Succeeded(Option<String>),
    Interrupted(String),
    Failed {
        class: FailureClass,
        message: String,
    },
}

impl Outcome {
    fn failed(class: FailureClass, message: impl Into<String>) -> Outcome {
        Outcome::Failed {
            class,
            message: message.into(),
        }
    }
}

/// How a worker process ended (neither, for an attempt that never ran).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Exit {
    pub code: Option<i32>,
    pub signal: Option<i32>,
}

impl Exit {
    pub const NONE: Exit = Exit {
        code: None,
        signal: None,
    };
}

/// What the dispatcher saw of an attempt before it ended.
#[derive(Debug, Clone, Copy, Default)]
pub struct Seen<'a> {
    /// The worker printed a `finished` event whose result passed the checks.
    pub finished: bool,
    /// Its `finished` event failed the checks (class `protocol` or `nan-loss`).
    pub rejected: Option<&'a (FailureClass, String)>,
    /// Its own `failed` event (class, message), if any.
    pub failed: Option<&'a (FailureClass, String)>,
    /// Whether the dispatcher itself stopped it, and why.
    pub stopped: Option<&'a Stopped>,
}

/// Classifies an exit; whether a failure is worth a retry is
/// `FailureClass::retryable`'s call. A result that arrived and passed its checks
/// is kept whenever the worker then exited 0 or was killed (by us after it
/// lingered, by a stop, or by a signal in its teardown): only an exit code of
/// its own says it went wrong after all.
pub fn classify(exit: Exit, seen: Seen<'_>) -> Outcome {
    let Exit { code, signal } = exit;
    if seen.finished && matches!(code, Some(0) | None) {
        let note = match (seen.stopped, signal) {
            (Some(Stopped::AfterFinish(why)), _) => Some(why.clone()),
            (Some(Stopped::Interrupt), _) => Some(
                "the sweep was interrupted after its result arrived; the result is kept".into(),
            ),
            (_, Some(s)) => Some(format!(
                "killed by signal {s} after its result arrived; the result is kept"
            )),
            _ => None,
        };
        return Outcome::Succeeded(note);
    }
    match seen.stopped {
        Some(Stopped::Interrupt) => {
            return Outcome::Interrupted("the sweep was interrupted".into());
        }
        Some(Stopped::Hung(why)) => return Outcome::failed(FailureClass::Timeout, why.clone()),
        Some(Stopped::AfterFinish(_)) | None => {}
    }
    if let Some((class, message)) = seen.rejected.or(seen.failed) {
        return Outcome::failed(class.clone(), message.clone());
    }
    match (code, signal) {
        (Some(0), _) => Outcome::failed(
            FailureClass::Internal,
            "the worker exited 0 without a `finished` event",
        ),
        (Some(c), _) => Outcome::failed(
            FailureClass::from_exit_code(c).unwrap_or(FailureClass::Internal),
            format!("the worker exited with code {c}"),
        ),
        (None, Some(s)) => Outcome::failed(
            FailureClass::Killed,
            format!(
                "the worker was killed by signal {s}{}",
                if s == 9 {
                    " (SIGKILL: out of memory?)"
                } else {
                    ""
                }
            ),
        ),
        (None, None) => Outcome::failed(FailureClass::Killed, "the worker vanished"),
    }
}

/// Wait before attempt `n` (n >= 2): base, 2 base, 4 base... capped at 64 base.
pub fn backoff(base: Duration, attempt: u32) -> Duration {
    base * 2u32.pow(attempt.saturating_sub(2).min(6))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn classes() {
        let exit = |code: Option<i32>, signal: Option<i32>| Exit { code, signal };
        let finished = Seen {
            finished: true,
            ..Seen::default()
        };
        assert_eq!(
            classify(exit(Some(0), None), finished),
            Outcome::Succeeded(None)
        );
        let class = |o: Outcome| match o {
            Outcome::Failed { class, .. } => Some(class),
            _ => None,
        };
        let c = class(classify(exit(Some(0), None), Seen::default())).unwrap();
        assert_eq!(c, FailureClass::Internal);
        assert!(!c.retryable());
        let c = class(classify(exit(Some(4), None), Seen::default())).unwrap();
        assert_eq!(c, FailureClass::NanLoss);
        assert!(!c.retryable());
        assert!(
            class(classify(exit(Some(5), None), Seen::default()))
                .unwrap()
                .retryable()
        );
        let c = class(classify(exit(None, Some(9)), Seen::default())).unwrap();
        assert_eq!(c, FailureClass::Killed);
        assert!(c.retryable());
        // The worker's own event wins over its exit code.
        let own = (FailureClass::Io, "disk".to_string());
        let seen = Seen {
            failed: Some(&own),
            ..Seen::default()
        };
        assert_eq!(
            class(classify(exit(Some(7), None), seen)),
            Some(FailureClass::Io)
        );
        let own = (FailureClass::DeviceLost, "Xid 79".to_string());
        let seen = Seen {
            failed: Some(&own),
            ..Seen::default()
        };
        assert!(
            class(classify(exit(Some(7), None), seen))
                .unwrap()
                .retryable()
        );
        let seen = Seen {
            stopped: Some(&Stopped::Interrupt),
            ..Seen::default()
        };
        assert!(matches!(
            classify(exit(None, Some(15)), seen),
            Outcome::Interrupted(_)
        ));
        let hung = Stopped::Hung("x".into());
        let seen = Seen {
            stopped: Some(&hung),
            ..Seen::default()
        };
        let c = class(classify(exit(None, Some(9)), seen));
        assert_eq!(c, Some(FailureClass::Timeout));
        assert!(!c.unwrap().retryable());
    }

    #[test]
    fn a_checked_result_is_kept_unless_the_worker_exits_with_a_code_of_its_own() {
        let exit = |code: Option<i32>, signal: Option<i32>| Exit { code, signal };
        let finished = Seen {
            finished: true,
            ..Seen::default()
        };
        // Killed in its teardown (a CUDA or loader crash after the result).
        let Outcome::Succeeded(Some(note)) = classify(exit(None, Some(11)), finished) else {
            panic!("a result that arrived is kept");
        };
        assert!(note.contains("signal 11"), "{note}");
        let lingered = Stopped::AfterFinish("did not exit".into());
        let seen = Seen {
            stopped: Some(&lingered),
            ..finished
        };
        assert_eq!(
            classify(exit(None, Some(9)), seen),
            Outcome::Succeeded(Some("did not exit".into()))
        );
        let interrupted = Stopped::Interrupt;
        let seen = Seen {
            stopped: Some(&interrupted),
            ..finished
        };
        assert!(matches!(
            classify(exit(None, Some(15)), seen),
            Outcome::Succeeded(Some(_))
        ));
        // Its own exit code says something went wrong after all.
        assert!(matches!(
            classify(exit(Some(6), None), finished),
            Outcome::Failed {
                class: FailureClass::Io,
                ..
            }
        ));
        // A result that failed its checks is the failure, even after exit 0.
        let rejected = (
            FailureClass::Protocol,
            "result.trial is missing".to_string(),
        );
        let seen = Seen {
            rejected: Some(&rejected),
            ..Seen::default()
        };
        assert_eq!(
            classify(exit(Some(0), None), seen),
            Outcome::failed(FailureClass::Protocol, "result.trial is missing")
        );
        assert!(!FailureClass::Protocol.retryable());
    }

    #[test]
    fn backoff_doubles_and_caps() {
        let b = Duration::from_secs(1);
        assert_eq!(backoff(b, 2), b);
        assert_eq!(backoff(b, 3), 2 * b);
        assert_eq!(backoff(b, 20), 64 * b);
    }
}
