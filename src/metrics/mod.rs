//! Metric sources answer one query; judging the answer is the engine's job.

pub mod command;
pub mod http;
pub mod prometheus;
pub mod sandbox;
pub mod secret;
mod transport;

use async_trait::async_trait;

use crate::provider::ProviderError;

/// One answer from a metric source. "No data" is not zero, and not an error.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Measurement {
    Value(f64),
    NoData,
}

/// One metric with its query already rendered.
#[async_trait]
pub trait MetricSource: Send + Sync {
    fn describe(&self) -> String;
    async fn measure(&self) -> Result<Measurement, ProviderError>;
}

/// The source of one metric a spec defines.
pub fn from_spec(
    spec: &crate::spec::types::MetricSpec,
    context: &crate::provider::ProviderContext,
) -> Result<Box<dyn MetricSource>, ProviderError> {
    use crate::spec::types::QuerySpec;
    Ok(match &spec.query {
        QuerySpec::Command(script) => Box::new(command::CommandMetric::new(
            script.clone(),
            context.release.clone(),
        )),
        QuerySpec::Sandbox(query) => Box::new(sandbox::SandboxMetric::new(
            context.sandbox()?,
            query.stat,
            query.window.map_or(context.interval, |window| window.get()),
        )),
    })
}
