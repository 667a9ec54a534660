//! Metric sources answer one query; judging the answer is the engine's job.

pub mod command;
pub mod counts;
mod domain;
pub mod http;
pub mod per_task;
pub mod prometheus;
pub mod sandbox;
pub mod transport;

pub use domain::{InDomain, default_domain};

use async_trait::async_trait;

use crate::provider::ProviderError;

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

/// The source of one query a spec defines; `prometheus` is `analysis.prometheus`,
/// which every Prometheus query shares. Every value it returns is checked
/// against `domain` (or the query's default) before the engine sees it.
pub fn from_spec(
    query: &crate::spec::types::QuerySpec,
    domain: Option<crate::spec::types::MetricDomain>,
    prometheus: Option<&crate::spec::types::PrometheusSpec>,
    context: &crate::provider::ProviderContext,
) -> Result<Box<dyn MetricSource>, ProviderError> {
    let source = source_of(query, prometheus, context)?;
    Ok(Box::new(InDomain::new(
        source,
        domain.unwrap_or_else(|| default_domain(query)),
    )))
}

fn source_of(
    query: &crate::spec::types::QuerySpec,
    prometheus: Option<&crate::spec::types::PrometheusSpec>,
    context: &crate::provider::ProviderContext,
) -> Result<Box<dyn MetricSource>, ProviderError> {
    use crate::spec::types::QuerySpec;
    Ok(match query {
        QuerySpec::Command(script) => Box::new(command::CommandMetric::new(
            script.clone(),
            context.release.clone(),
        )),
        QuerySpec::Prometheus(promql) => {
            let server = prometheus.ok_or_else(|| {
                ProviderError::new("a prometheus query needs `analysis.prometheus`")
            })?;
            Box::new(prometheus::PrometheusSource::new(
                prometheus::PrometheusConfig::from_spec(server, promql),
                context.http.clone(),
            )?)
        }
        QuerySpec::Http(spec) => Box::new(http::HttpJsonSource::new(
            http::HttpJsonConfig {
                url: spec.url.clone(),
                headers: spec.headers.clone(),
                pointer: spec.pointer.clone(),
                timeout: spec.timeout.get(),
            },
            context.http.clone(),
        )?),
        QuerySpec::Sandbox(query) => Box::new(sandbox::SandboxMetric::new(
            context.sandbox()?,
            query.stat,
            query.window.map_or(context.interval, |window| window.get()),
        )),
        QuerySpec::Counts(queries) => Box::new(counts::CountsSource::from_spec(
            queries, prometheus, context,
        )?),
    })
}
