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

/// A failure reported by, or while talking to, an external system.
#[derive(Debug, Clone, PartialEq, Eq)]
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

    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Prefixes the message with what was being done, keeping the hint.
    pub fn context(mut self, context: impl fmt::Display) -> Self {
        self.message = format!("{context}: {}", self.message);
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
