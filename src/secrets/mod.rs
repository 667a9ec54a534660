//! Secrets never reach logs, errors, reports or panics: tokens are held in a
//! `Secret` (no `Display`, a redacting `Debug`), and text that may contain one
//! goes through a `Masker`.

mod mask;

use std::fmt;

pub use mask::{MASK, Masker, current, is_secret_name, mask, remember};

/// Looks up an environment variable. Injectable so tests need not touch the process
/// environment (`std::env::set_var` is unsafe in edition 2024).
pub type EnvLookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// The process environment.
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
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
            let escaped = crate::annotation::escape_data(line);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_value() {
        let secret = Secret::new(Some("s3cr3t".to_owned())).unwrap();
        assert_eq!(format!("{secret:?}"), "Secret(***)");
        assert_eq!(Secret::new(Some("  ".into())), None);
        assert_eq!(secret.expose(), "s3cr3t");
    }
}
