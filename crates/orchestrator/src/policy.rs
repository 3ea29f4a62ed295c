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
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Succeeded,
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

/// Classifies an exit. `failed` is the worker's own `failed` event (class, message),
/// if any; whether the class is worth a retry is `FailureClass::retryable`'s call.
pub fn classify(
    code: Option<i32>,
    signal: Option<i32>,
    finished: bool,
    failed: Option<(FailureClass, String)>,
    stopped: Option<&Stopped>,
) -> Outcome {
    match stopped {
        Some(Stopped::Interrupt) => {
            return Outcome::Interrupted("the sweep was interrupted".into());
        }
        Some(Stopped::Hung(why)) => return Outcome::failed(FailureClass::Timeout, why.clone()),
        None => {}
    }
    if code == Some(0) && finished {
        return Outcome::Succeeded;
    }
    if let Some((class, message)) = failed {
        return Outcome::failed(class, message);
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
        assert_eq!(
            classify(Some(0), None, true, None, None),
            Outcome::Succeeded
        );
        let class = |o: Outcome| match o {
            Outcome::Failed { class, .. } => Some(class),
            _ => None,
        };
        let c = class(classify(Some(0), None, false, None, None)).unwrap();
        assert_eq!(c, FailureClass::Internal);
        assert!(!c.retryable());
        let c = class(classify(Some(4), None, false, None, None)).unwrap();
        assert_eq!(c, FailureClass::NanLoss);
        assert!(!c.retryable());
        assert!(
            class(classify(Some(5), None, false, None, None))
                .unwrap()
                .retryable()
        );
        let c = class(classify(None, Some(9), false, None, None)).unwrap();
        assert_eq!(c, FailureClass::Killed);
        assert!(c.retryable());
        // The worker's own event wins over its exit code.
        let own = Some((FailureClass::Io, "disk".to_string()));
        assert_eq!(
            class(classify(Some(7), None, false, own, None)),
            Some(FailureClass::Io)
        );
        let own = Some((FailureClass::DeviceLost, "Xid 79".to_string()));
        assert!(
            class(classify(Some(7), None, false, own, None))
                .unwrap()
                .retryable()
        );
        assert!(matches!(
            classify(None, Some(15), false, None, Some(&Stopped::Interrupt)),
            Outcome::Interrupted(_)
        ));
        let c = class(classify(
            None,
            Some(9),
            false,
            None,
            Some(&Stopped::Hung("x".into())),
        ));
        assert_eq!(c, Some(FailureClass::Timeout));
        assert!(!c.unwrap().retryable());
    }

    #[test]
    fn backoff_doubles_and_caps() {
        let b = Duration::from_secs(1);
        assert_eq!(backoff(b, 2), b);
        assert_eq!(backoff(b, 3), 2 * b);
        assert_eq!(backoff(b, 20), 64 * b);
    }
}
