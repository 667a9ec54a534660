//! greenlight: progressive delivery from CI.

pub mod provider;
pub mod router;
