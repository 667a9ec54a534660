//! Secrets never reach logs, errors, reports or panics: tokens are held in a
//! `Secret` (no `Display`, a redacting `Debug`), and text that may contain one
//! goes through a `Masker`.

mod mask;

use std::fmt;

pub use mask::{MASK, Masker};

use crate::provider::ProviderError;

/// Looks up an environment variable. Injectable so tests need not touch the process
/// environment (`std::env::set_var` is unsafe in edition 2024).
pub type EnvLookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// The process environment.
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// A credential. Its Debug output is redacted and it has no Display, so it cannot end up in a
/// log line or an error message by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// `None` for an unset or blank value: an empty token is no token.
    pub fn new(value: Option<String>) -> Option<Self> {
        value.filter(|token| !token.trim().is_empty()).map(Self)
    }

    /// The value, for the one place that sends it (an HTTP header).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Reads the credential `what` (e.g. "the Prometheus bearer token") from the variable `var`.
/// The error names the variable, never its value.
pub fn from_env(env: EnvLookup<'_>, var: &str, what: &str) -> Result<Secret, ProviderError> {
    match env(var) {
        Some(value) if !value.is_empty() => Ok(Secret(value)),
        Some(_) => Err(
            ProviderError::new(format!("environment variable {var} ({what}) is empty")).with_hint(
                format!("set {var} in the CI job's environment, e.g. from a masked secret"),
            ),
        ),
        None => Err(
            ProviderError::new(format!("environment variable {var} ({what}) is not set"))
                .with_hint(format!(
                    "set {var} in the CI job's environment, e.g. from a masked secret"
                )),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_value() {
        let env = |_: &str| Some("s3cr3t".to_owned());
        let secret = from_env(&env, "TOKEN", "a token").unwrap();
        assert_eq!(format!("{secret:?}"), "Secret(***)");
        assert_eq!(Secret::new(Some("  ".into())), None);
        assert_eq!(secret.expose(), "s3cr3t");
    }

    #[test]
    fn missing_or_empty_names_the_variable() {
        let missing = |_: &str| None;
        let err = from_env(&missing, "PROM_TOKEN", "the Prometheus bearer token").unwrap_err();
        assert_eq!(
            err.message,
            "environment variable PROM_TOKEN (the Prometheus bearer token) is not set"
        );
        let empty = |_: &str| Some(String::new());
        assert!(
            from_env(&empty, "PROM_TOKEN", "x")
                .unwrap_err()
                .message
                .contains("is empty")
        );
    }
}
