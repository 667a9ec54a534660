//! greenlight: progressive delivery from CI.

pub mod metrics;
pub mod provider;
pub mod router;
