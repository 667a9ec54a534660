//! What an HAProxy router needs to know, validated before any I/O.

use std::collections::BTreeSet;
use std::time::Duration;

use super::address::RuntimeApiAddress;
use super::split::{DEFAULT_WEIGHT_PER_SIDE, MAX_SERVER_WEIGHT, MIN_WEIGHT_PER_SIDE};
use crate::provider::ProviderError;

pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HaproxyConfig {
    /// The `stats socket` at `level admin`.
    pub socket: RuntimeApiAddress,
    pub backend: String,
    /// Servers of `backend` that run the stable version.
    pub stable_servers: Vec<String>,
    /// Servers of `backend` that run the new version.
    pub new_servers: Vec<String>,
    /// The weight each side shares out (100–256); see `split`.
    pub weight_per_side: u16,
    /// Bound on one runtime API exchange.
    pub timeout: Duration,
}

impl HaproxyConfig {
    pub fn new(
        socket: RuntimeApiAddress,
        backend: impl Into<String>,
        stable_servers: Vec<String>,
        new_servers: Vec<String>,
    ) -> Self {
        Self {
            socket,
            backend: backend.into(),
            stable_servers,
            new_servers,
            weight_per_side: DEFAULT_WEIGHT_PER_SIDE,
            timeout: DEFAULT_TIMEOUT,
        }
    }

    pub fn validate(&self) -> Result<(), ProviderError> {
        check_name("backend", &self.backend)?;
        if self.stable_servers.is_empty() || self.new_servers.is_empty() {
            return Err(ProviderError::new(format!(
                "haproxy backend {}: list at least one stable and one new server",
                self.backend
            )));
        }
        let mut seen = BTreeSet::new();
        for server in self.stable_servers.iter().chain(&self.new_servers) {
            check_name("server", server)?;
            if !seen.insert(server) {
                return Err(ProviderError::new(format!(
                    "haproxy backend {}: server {server} is listed twice (a server is either stable or new)",
                    self.backend
                )));
            }
        }
        if !(MIN_WEIGHT_PER_SIDE..=MAX_SERVER_WEIGHT).contains(&self.weight_per_side) {
            return Err(ProviderError::new(format!(
                "haproxy weight per side {} is out of range",
                self.weight_per_side
            ))
            .with_hint(format!(
                "use {MIN_WEIGHT_PER_SIDE}–{MAX_SERVER_WEIGHT}: below {MIN_WEIGHT_PER_SIDE} two percentages can map to the same weights"
            )));
        }
        Ok(())
    }
}

/// HAProxy proxy and server names use letters, digits and `-_.:`; anything else (a space, `;`)
/// would also break the runtime API command line.
pub fn is_valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':'))
}

fn check_name(kind: &str, name: &str) -> Result<(), ProviderError> {
    if is_valid_name(name) {
        Ok(())
    } else {
        Err(
            ProviderError::new(format!("{kind} name {name:?} is not a valid HAProxy name"))
                .with_hint("HAProxy names use only letters, digits, '-', '_', '.' and ':'"),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> HaproxyConfig {
        HaproxyConfig::new(
            RuntimeApiAddress::Unix("/run/haproxy.sock".into()),
            "app",
            vec!["blue1".into()],
            vec!["green1".into()],
        )
    }

    #[test]
    fn accepts_a_plain_config() {
        config().validate().unwrap();
    }

    #[test]
    fn rejects_bad_names_overlap_empty_sides_and_weights() {
        let bad_name = HaproxyConfig {
            new_servers: vec!["g1;shutdown".into()],
            ..config()
        };
        assert!(bad_name.validate().is_err());
        let overlap = HaproxyConfig {
            new_servers: vec!["blue1".into()],
            ..config()
        };
        assert!(
            overlap
                .validate()
                .unwrap_err()
                .message
                .contains("listed twice")
        );
        let empty = HaproxyConfig {
            new_servers: vec![],
            ..config()
        };
        assert!(empty.validate().is_err());
        for w in [99, 257] {
            let weights = HaproxyConfig {
                weight_per_side: w,
                ..config()
            };
            assert!(weights.validate().is_err(), "{w}");
        }
    }
}
