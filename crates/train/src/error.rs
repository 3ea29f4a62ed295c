//! A failed trial: its class (which decides retries) and a message for the user.

use crate::protocol::FailureClass;

#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct TrainError {
    pub class: FailureClass,
    pub message: String,
}

impl TrainError {
    pub fn bad_config(message: impl Into<String>) -> Self {
        TrainError {
            class: FailureClass::BadConfig,
            message: message.into(),
        }
    }

    pub fn io(message: impl Into<String>) -> Self {
        TrainError {
            class: FailureClass::Io,
            message: message.into(),
        }
    }

    pub fn internal(message: impl Into<String>) -> Self {
        TrainError {
            class: FailureClass::Internal,
            message: message.into(),
        }
    }
}

impl From<candle_core::Error> for TrainError {
    fn from(e: candle_core::Error) -> Self {
        let message = e.to_string();
        let lower = message.to_ascii_lowercase();
        let class = if lower.contains("out of memory")
            || lower.contains("out_of_memory")
            || lower.contains("alloc") && lower.contains("fail")
        {
            FailureClass::OutOfMemory
        } else {
            FailureClass::Internal
        };
        TrainError { class, message }
    }
}

impl From<ablate_data::DataError> for TrainError {
    fn from(e: ablate_data::DataError) -> Self {
        let class = match e {
            ablate_data::DataError::Io { .. }
            | ablate_data::DataError::BadCache { .. }
            | ablate_data::DataError::NotFound { .. } => FailureClass::Io,
            _ => FailureClass::BadConfig,
        };
        TrainError {
            class,
            message: e.to_string(),
        }
    }
}
