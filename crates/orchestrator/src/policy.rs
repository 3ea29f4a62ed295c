//! What an ended attempt means: success, a failure worth retrying, or a final one.

use std::time::Duration;

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
        class: String,
        message: String,
        retryable: bool,
    },
}

/// Classifies an exit. `failed` is the worker's own `failed` event (class, message), if any.
pub fn classify(
    code: Option<i32>,
    signal: Option<i32>,
    finished: bool,
    failed: Option<(String, String)>,
    stopped: Option<&Stopped>,
) -> Outcome {
    match stopped {
        Some(Stopped::Interrupt) => {
            return Outcome::Interrupted("the sweep was interrupted".into());
        }
        Some(Stopped::Hung(why)) => {
            return Outcome::Failed {
                class: "timeout".into(),
                message: why.clone(),
                retryable: false,
            };
        }
        None => {}
    }
    if code == Some(0) && finished {
        return Outcome::Succeeded;
    }
    if let Some((class, message)) = failed {
        let retryable = matches!(class.as_str(), "out-of-memory" | "io" | "device-lost");
        return Outcome::Failed {
            class,
            message,
            retryable,
        };
    }
    match (code, signal) {
        (Some(0), _) => Outcome::Failed {
            class: "internal".into(),
            message: "the worker exited 0 without a `finished` event".into(),
            retryable: false,
        },
        (Some(c), _) => {
            let (class, retryable) = match c {
                3 => ("bad-config", false),
                4 => ("nan-loss", false),
                5 => ("out-of-memory", true),
                6 => ("io", true),
                _ => ("internal", false),
            };
            Outcome::Failed {
                class: class.into(),
                message: format!("the worker exited with code {c}"),
                retryable,
            }
        }
        (None, Some(s)) => Outcome::Failed {
            class: "killed".into(),
            message: format!(
                "the worker was killed by signal {s}{}",
                if s == 9 {
                    " (SIGKILL: out of memory?)"
                } else {
                    ""
                }
            ),
            retryable: true,
        },
        (None, None) => Outcome::Failed {
            class: "killed".into(),
            message: "the worker vanished".into(),
            retryable: true,
        },
    }
}

/// Wait before attempt `n` (n >= 2): base, 2 base, 4 base... capped at 64 base.
pub fn backoff(base: Duration, attempt: u32) -> Duration {
    base * 2u32.pow(attempt.saturating_sub(2).min(6))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes() {
        assert_eq!(
            classify(Some(0), None, true, None, None),
            Outcome::Succeeded
        );
        assert!(matches!(
            classify(Some(0), None, false, None, None),
            Outcome::Failed {
                retryable: false,
                ..
            }
        ));
        assert!(
            matches!(classify(Some(4), None, false, None, None), Outcome::Failed { ref class, retryable: false, .. } if class == "nan-loss")
        );
        assert!(matches!(
            classify(Some(5), None, false, None, None),
            Outcome::Failed {
                retryable: true,
                ..
            }
        ));
        assert!(matches!(
            classify(None, Some(9), false, None, None),
            Outcome::Failed {
                retryable: true,
                ..
            }
        ));
        assert!(matches!(
            classify(
                Some(7),
                None,
                false,
                Some(("io".into(), "disk".into())),
                None
            ),
            Outcome::Failed {
                retryable: true,
                ..
            }
        ));
        assert!(matches!(
            classify(None, Some(15), false, None, Some(&Stopped::Interrupt)),
            Outcome::Interrupted(_)
        ));
        assert!(matches!(
            classify(None, Some(9), false, None, Some(&Stopped::Hung("x".into()))),
            Outcome::Failed {
                retryable: false,
                ..
            }
        ));
    }

    #[test]
    fn backoff_doubles_and_caps() {
        let b = Duration::from_secs(1);
        assert_eq!(backoff(b, 2), b);
        assert_eq!(backoff(b, 3), 2 * b);
        assert_eq!(backoff(b, 20), 64 * b);
    }
}
