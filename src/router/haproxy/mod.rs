//! `router: haproxy` — traffic split by server weights through HAProxy's runtime API.
//!
//! HAProxy must run a dynamic load-balancing algorithm (`balance roundrobin`, `leastconn`, …):
//! with static ones (`static-rr`, `first`, map-based hashing) HAProxy only accepts weights 0 and
//! 100% and refuses the rest, which we report verbatim.

mod address;
mod client;
mod config;
mod router;
mod servers_state;
pub mod spec;
mod split;
mod stat;
pub mod validate;

pub use address::{BadAddress, RuntimeApiAddress};
pub use client::RuntimeApi;
pub use config::{DEFAULT_TIMEOUT, HaproxyConfig, is_valid_name};
pub use router::{HaproxyRouter, ServerAdminState};
pub use servers_state::ServerState;
pub use split::{
    DEFAULT_WEIGHT_PER_SIDE, MAX_SERVER_WEIGHT, MIN_WEIGHT_PER_SIDE, Split, percent, weights,
};

/// Its key under `router:`.
pub const KIND: &str = "haproxy";

/// The two server lists are fixed places, stable first: releases alternate
/// between them (`crate::pool`).
pub const FIXED_SIDES: [&str; 2] = ["stableServers", "newServers"];

/// HAProxy drains: a server in `drain` state takes no new sessions and
/// finishes its open ones, which `show stat` counts.
pub fn capabilities(spec: &spec::HaproxyRouterSpec) -> crate::traffic::Capabilities {
    crate::traffic::Capabilities {
        drain: spec.drain.enabled.then(|| crate::traffic::Drain {
            timeout: spec.drain.timeout.get(),
            interval: spec.drain.interval.get(),
        }),
    }
}
