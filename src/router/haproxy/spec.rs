//! What `router: haproxy` reads from the spec, with its defaults.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::duration::Span;

/// One backend whose servers run either the stable or the new version. HAProxy needs
/// `stats socket ... level admin` and a dynamic `balance` algorithm (roundrobin, leastconn).
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct HaproxyRouterSpec {
    /// The runtime API: a unix socket path (`/run/haproxy/admin.sock`) or `host:port`.
    pub socket: String,
    pub backend: String,
    /// Servers of `backend` running the stable version.
    pub stable_servers: Vec<String>,
    /// Servers of `backend` running the new version.
    pub new_servers: Vec<String>,
    /// The weight each side shares out over its servers, 100–256 (default 256).
    #[serde(default = "default_weight_per_side")]
    pub weight_per_side: u16,
    /// Bound on one runtime API exchange (default 5s).
    #[serde(default = "default_haproxy_timeout")]
    pub timeout: Span,
    /// Before a version's servers are removed: `state drain`, then wait until they hold no
    /// session. On by default.
    #[serde(default)]
    pub drain: DrainSpec,
}

fn default_weight_per_side() -> u16 {
    256
}

fn default_haproxy_timeout() -> Span {
    Span::from_secs(5)
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DrainSpec {
    /// Drain before removing a version's servers (default true).
    #[serde(default = "yes")]
    pub enabled: bool,
    /// How long open sessions may take to end. Past it, removing the old version halts the
    /// rollout (exit 3); after a rollback the new version is left running, with a warning.
    #[serde(default = "default_drain_timeout")]
    pub timeout: Span,
    /// Time between two reads of the open sessions (default 1s).
    #[serde(default = "default_poll")]
    pub interval: Span,
}

impl Default for DrainSpec {
    fn default() -> Self {
        Self {
            enabled: true,
            timeout: default_drain_timeout(),
            interval: default_poll(),
        }
    }
}

fn yes() -> bool {
    true
}

fn default_drain_timeout() -> Span {
    Span::from_secs(300)
}

fn default_poll() -> Span {
    Span::from_secs(1)
}

impl crate::router::RouterSettings for HaproxyRouterSpec {
    fn kind(&self) -> &'static str {
        super::KIND
    }

    fn check(&self, path: crate::field::FieldPath, problems: &mut Vec<crate::field::Problem>) {
        super::validate::check(self, path, problems);
    }

    fn capabilities(&self) -> crate::traffic::Capabilities {
        super::capabilities(self)
    }

    fn build(
        &self,
        _context: &crate::provider::ProviderContext,
    ) -> Result<Box<dyn crate::router::Router>, crate::provider::ProviderError> {
        Ok(Box::new(super::HaproxyRouter::from_spec(self)?))
    }
}
