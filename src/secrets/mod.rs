//! Secrets never reach logs, errors, reports or panics: tokens are held in a
//! `Secret` (no `Display`, a redacting `Debug`), and text that may contain one
//! goes through a `Masker`.

mod mask;
mod spec;

use std::fmt;

pub use mask::{MASK, Masker, current, is_secret_name, mask, remember};
pub use spec::secrets_of;

use crate::provider::ProviderError;

/// Looks up an environment variable. Injectable so tests need not touch the process
/// environment (`std::env::set_var` is unsafe in edition 2024).
pub type EnvLookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// The process environment.
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// Adds every secret `spec` names to the masker every output goes through and,
/// on GitHub Actions, asks the runner to mask them too (`::add-mask::`).
pub fn hold_spec_secrets(spec: &crate::spec::types::RolloutSpec, github_actions: bool) {
    let secrets = secrets_of(spec, &process_env);
    let known = current();
    let new: Vec<&String> = secrets
        .secrets()
        .iter()
        .filter(|secret| !known.secrets().contains(secret))
        .collect();
    remember(&secrets);
    if github_actions && !new.is_empty() {
        print!("{}", add_mask_commands(new));
        let _ = std::io::Write::flush(&mut std::io::stdout());
    }
}

/// `::add-mask::` for each secret, one per line of it (the runner masks single
/// lines); printed before anything that could hold them. Shortest first: a
/// value comes before its (longer) base64 form.
pub fn add_mask_commands<'s>(secrets: impl IntoIterator<Item = &'s String>) -> String {
    let mut secrets: Vec<&String> = secrets.into_iter().collect();
    secrets.sort_by_key(|secret| secret.len());
    let mut commands = String::new();
    for secret in secrets {
        for line in secret.lines().filter(|line| !line.trim().is_empty()) {
            let escaped = line
                .replace('%', "%25")
                .replace('\r', "%0D")
                .replace('\n', "%0A");
            commands.push_str(&format!("::add-mask::{escaped}\n"));
        }
    }
    commands
}

/// `value` with every string in it masked (request bodies to GitHub and GitLab).
pub fn mask_json(value: &serde_json::Value) -> serde_json::Value {
    let masker = current();
    let mut masked = value.clone();
    mask_strings(&mut masked, &masker);
    masked
}

fn mask_strings(value: &mut serde_json::Value, masker: &Masker) {
    match value {
        serde_json::Value::String(text) => *text = masker.mask(text),
        serde_json::Value::Array(items) => {
            items.iter_mut().for_each(|item| mask_strings(item, masker))
        }
        serde_json::Value::Object(fields) => fields
            .values_mut()
            .for_each(|item| mask_strings(item, masker)),
        _ => {}
    }
}

/// Standard error for log lines: each line is collected whole and masked
/// before it is written (a secret split across two writes is still caught).
#[derive(Default)]
pub struct MaskedStderr {
    buffer: Vec<u8>,
}

impl std::io::Write for MaskedStderr {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.buffer.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let text = mask(&String::from_utf8_lossy(&std::mem::take(&mut self.buffer)));
        std::io::stderr().write_all(text.as_bytes())
    }
}

impl Drop for MaskedStderr {
    fn drop(&mut self) {
        let _ = std::io::Write::flush(self);
    }
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
