//! The error every provider (target, router, metric source, state store) returns.
//!
//! Providers talk to systems greenlight does not own, so their errors carry the
//! system's own words plus, where we know one, what the user can do about it.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use std::path::PathBuf;

use crate::clock::Clock;
use crate::release::Release;
use crate::sandbox::Sandbox;
use crate::template::TemplateContext;

/// What provider factories get besides their own spec.
#[derive(Clone)]
pub struct ProviderContext {
    pub release: Release,
    /// What templates see; providers that render files (manifests) use it.
    pub template: TemplateContext,
    /// The spec's folder: relative paths in the spec start here.
    pub base_dir: PathBuf,
    pub http: reqwest::Client,
    /// The analysis interval, the default window of windowed metrics.
    pub interval: Duration,
    /// The sandbox, inside `greenlight demo` only.
    pub sandbox: Option<Arc<Sandbox>>,
    /// The one clock of the command: providers that wait (a Deployment's
    /// rollout, retried checks) wait on it, so tests can run them on a
    /// virtual clock.
    pub clock: Arc<dyn Clock>,
}

impl ProviderContext {
    /// The demo's sandbox, or an error saying where sandbox providers exist.
    pub fn sandbox(&self) -> Result<Arc<Sandbox>, ProviderError> {
        self.sandbox.clone().ok_or_else(|| {
            ProviderError::new("the sandbox exists only inside `greenlight demo`")
                .with_hint("use a real target, router and metric source with `greenlight run`")
        })
    }
}

/// Characters a provider error keeps: a system's answer can be megabytes.
pub const MAX_MESSAGE: usize = 2000;

/// A failure reported by, or while talking to, an external system.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderError {
    pub message: String,
    pub hint: Option<String>,
    /// Only a person can tell what to do next (a deployment that never finishes):
    /// the rollout halts where it is instead of rolling back.
    pub halt: bool,
}

impl ProviderError {
    /// The message is masked here, where a system's words enter greenlight: a
    /// server that echoes a credential back cannot put it in any report.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: crate::text::shorten(&crate::secrets::mask(&message.into()), MAX_MESSAGE),
            hint: None,
            halt: false,
        }
    }

    /// Marks the error as one that halts the rollout (exit 3) instead of rolling back.
    pub fn halting(mut self) -> Self {
        self.halt = true;
        self
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(crate::secrets::mask(&hint.into()));
        self
    }

    /// Prefixes the message with what was being done, keeping the hint.
    pub fn context(mut self, context: impl fmt::Display) -> Self {
        self.message = crate::secrets::mask(&format!("{context}: {}", self.message));
        self
    }
}

impl fmt::Display for ProviderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, " (hint: {hint})")?;
        }
        Ok(())
    }
}

impl std::error::Error for ProviderError {}

/// Reads the credential `what` (e.g. "the Prometheus bearer token") from the variable `var`.
/// The error names the variable, never its value.
pub fn secret_from_env(
    env: crate::secrets::EnvLookup<'_>,
    var: &str,
    what: &str,
) -> Result<crate::secrets::Secret, ProviderError> {
    let hint = || format!("set {var} in the CI job's environment, e.g. from a masked secret");
    match env(var) {
        None => Err(
            ProviderError::new(format!("environment variable {var} ({what}) is not set"))
                .with_hint(hint()),
        ),
        value => crate::secrets::Secret::new(value).ok_or_else(|| {
            ProviderError::new(format!("environment variable {var} ({what}) is empty"))
                .with_hint(hint())
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_or_empty_secret_names_the_variable_never_the_value() {
        let set = |_: &str| Some("s3cr3t".to_owned());
        let secret = secret_from_env(&set, "TOKEN", "a token").unwrap();
        assert_eq!(secret.expose(), "s3cr3t");
        let missing = |_: &str| None;
        let err =
            secret_from_env(&missing, "PROM_TOKEN", "the Prometheus bearer token").unwrap_err();
        assert_eq!(
            err.message,
            "environment variable PROM_TOKEN (the Prometheus bearer token) is not set"
        );
        let empty = |_: &str| Some(String::new());
        let err = secret_from_env(&empty, "PROM_TOKEN", "x").unwrap_err();
        assert!(err.message.contains("is empty"), "{}", err.message);
    }
}
