//! Metric sources answer one query; judging the answer is the engine's job.

pub mod command;
pub mod counts;
mod domain;
pub mod http;
pub mod prometheus;
pub mod sandbox;
pub mod transport;

pub use domain::{InDomain, MetricDomain};

use async_trait::async_trait;

use crate::field::{FieldPath, Problem};
use crate::provider::{ProviderContext, ProviderError};
use crate::secrets::Credential;

/// One answer from a metric source. "No data" is not zero, and not an error.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Measurement {
    Value(f64),
    NoData,
    /// Requests and events (failures, slow requests) per version over one window:
    /// what comparison gates need, and rate thresholds that count their sample.
    Counts(crate::judge::evidence::VersionCounts),
}

impl Measurement {
    /// Counts read as the new version's rate (no requests: no data).
    pub fn as_number(self) -> Measurement {
        match self {
            Measurement::Counts(counts) => counts
                .new
                .rate()
                .map_or(Measurement::NoData, Measurement::Value),
            other => other,
        }
    }
}

/// One metric with its query already rendered.
#[async_trait]
pub trait MetricSource: Send + Sync {
    fn describe(&self) -> String;
    async fn measure(&self) -> Result<Measurement, ProviderError>;
}

/// A query measured for one task at a time (a migration's drain gate).
#[async_trait]
pub trait TaskMetric: Send + Sync {
    fn describe(&self) -> String;
    async fn measure(&self, task: &crate::traffic::Task) -> Result<Measurement, ProviderError>;
}

/// What every query of one spec shares: the servers `analysis` names once
/// (`analysis.prometheus`, which every Prometheus query goes to).
#[derive(Debug, Clone, Copy, Default)]
pub struct SharedSettings<'a> {
    pub prometheus: Option<&'a prometheus::PrometheusSpec>,
}

/// A metric source's settings under `query:`. The spec's `QuerySpec` only
/// picks one; what the settings mean is said here, by the source.
pub trait QuerySettings {
    /// Its key under `query:` (`prometheus`, `http`, …).
    fn kind(&self) -> &'static str;
    /// Rules its settings must follow that the types cannot express, at
    /// `path` (`…query.<kind>`).
    fn check(&self, _path: FieldPath, _shared: SharedSettings<'_>, _problems: &mut Vec<Problem>) {}
    /// The credentials it reads, so every output masks them.
    fn credentials(&self) -> Vec<Credential<'_>> {
        Vec::new()
    }
    /// The values it can return when the spec does not say.
    fn default_domain(&self) -> MetricDomain {
        MetricDomain::Any
    }
    /// Whether it returns per-version request counts (what `minRequests` needs).
    fn counts_requests(&self) -> bool {
        false
    }
    /// Whether it counts the stable version too (what `compare: stable` needs).
    fn counts_each_version(&self) -> bool {
        false
    }
    /// The source itself, before its values are checked against the domain.
    fn build(
        &self,
        shared: SharedSettings<'_>,
        context: &ProviderContext,
    ) -> Result<Box<dyn MetricSource>, ProviderError>;
}

/// The source of one query: every value it returns is checked against
/// `domain` (or the query's default) before the engine sees it.
pub fn build(
    query: &dyn QuerySettings,
    domain: Option<MetricDomain>,
    shared: SharedSettings<'_>,
    context: &ProviderContext,
) -> Result<Box<dyn MetricSource>, ProviderError> {
    let source = query.build(shared, context)?;
    Ok(Box::new(InDomain::new(
        source,
        domain.unwrap_or_else(|| query.default_domain()),
    )))
}
