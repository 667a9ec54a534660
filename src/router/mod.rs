//! Routers read and set how traffic is split between the stable and the new version.
//!
//! `Weight` and `Router` are a placeholder copy of the lead's definitions so this branch
//! compiles; the lead's file replaces them on merge (keep `pub mod haproxy;`).

use crate::provider::ProviderError;

pub mod haproxy;

/// Share of traffic on the new version, in percent (0–100).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Weight(u8);

impl Weight {
    pub const ZERO: Weight = Weight(0);
    pub const FULL: Weight = Weight(100);

    pub fn new(percent: u8) -> Option<Weight> {
        (percent <= 100).then_some(Weight(percent))
    }

    pub fn percent(self) -> u8 {
        self.0
    }
}

impl std::fmt::Display for Weight {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}%", self.0)
    }
}

#[async_trait::async_trait]
pub trait Router: Send + Sync {
    /// e.g. "haproxy backend app at /run/haproxy.sock"
    fn describe(&self) -> String;
    /// The exact changes `set_weight` would make (no I/O).
    fn plan(&self, weight: Weight) -> Vec<String>;
    /// Read back what the router does now.
    async fn weight(&self) -> Result<Weight, ProviderError>;
    async fn set_weight(&self, weight: Weight) -> Result<(), ProviderError>;
}
