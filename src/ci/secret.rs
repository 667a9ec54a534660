//! A token that cannot leak by accident: no `Display`, a redacting `Debug`,
//! so it never reaches a log line, an error message, a report or a panic.

use std::fmt;

#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// `None` for an unset or blank value: an empty token is no token.
    pub fn new(value: Option<String>) -> Option<Self> {
        value.filter(|token| !token.trim().is_empty()).map(Self)
    }

    /// The value itself, for the one header that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("Secret(***)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_value() {
        let secret = Secret::new(Some("ghp_sentinel".into()));
        assert_eq!(format!("{secret:?}"), "Some(Secret(***))");
        assert_eq!(Secret::new(Some("  ".into())), None);
    }
}
