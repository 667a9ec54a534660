//! The error every provider (router, metric source, target) returns.
//!
//! Placeholder copy of the lead's definition so this branch compiles; the lead's file replaces
//! it on merge.

/// A provider could not do what was asked. `message` says what failed, naming the address or
/// object involved; `hint` says what the user can do about it.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct ProviderError {
    pub message: String,
    pub hint: Option<String>,
}

impl ProviderError {
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            hint: None,
        }
    }

    pub fn with_hint(self, hint: impl Into<String>) -> Self {
        Self {
            hint: Some(hint.into()),
            ..self
        }
    }
}
