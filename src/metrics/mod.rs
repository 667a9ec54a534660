//! Metric sources answer one rendered query with a number, or say there is no data.
//!
//! `Measurement` and `MetricSource` are a placeholder copy of the lead's definitions so this
//! branch compiles; the lead's file replaces them on merge (keep the `pub mod` lines).

use crate::provider::ProviderError;

pub mod http;
pub mod prometheus;
pub mod secret;
mod transport;

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Measurement {
    Value(f64),
    NoData,
}

#[async_trait::async_trait]
pub trait MetricSource: Send + Sync {
    fn describe(&self) -> String;
    /// One instance per metric, query already rendered.
    async fn measure(&self) -> Result<Measurement, ProviderError>;
}
