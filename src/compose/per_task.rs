//! A query measured once per task (a migration's drain gate): its templates are
//! rendered for each task with `task` in the context, then asked like any other.

use async_trait::async_trait;

use crate::metrics::{Measurement, SharedSettings, TaskMetric};
use crate::provider::{ProviderContext, ProviderError};
use crate::spec::types::{MetricDomain, PrometheusSpec, QuerySpec};
use crate::traffic::Task;

pub struct PerTaskMetric {
    name: String,
    /// The query as the spec wrote it, templates unrendered.
    query: serde_yaml::Value,
    domain: Option<MetricDomain>,
    prometheus: Option<PrometheusSpec>,
    context: ProviderContext,
}

impl PerTaskMetric {
    pub fn new(
        name: &str,
        query: &QuerySpec,
        domain: Option<MetricDomain>,
        prometheus: Option<&PrometheusSpec>,
        context: &ProviderContext,
    ) -> Result<Self, ProviderError> {
        let query = serde_yaml::to_value(query).map_err(|error| {
            ProviderError::new(format!("the query of `{name}` cannot be kept: {error}"))
        })?;
        Ok(Self {
            name: name.to_owned(),
            query,
            domain,
            prometheus: prometheus.cloned(),
            context: context.clone(),
        })
    }

    /// The query for `task`, rendered.
    pub fn query_for(&self, task: &Task) -> Result<QuerySpec, ProviderError> {
        let rendered = crate::template::render_for_task(&self.query, &self.context.template, task)
            .map_err(|error| {
                ProviderError::new(format!(
                    "the query of `{}` does not render for task {}: {}",
                    self.name, task.id, error.message
                ))
            })?;
        serde_yaml::from_value(rendered).map_err(|error| {
            ProviderError::new(format!(
                "the query of `{}` rendered for task {} is not a query: {error}",
                self.name, task.id
            ))
        })
    }
}

#[async_trait]
impl TaskMetric for PerTaskMetric {
    fn describe(&self) -> String {
        format!("`{}` per task", self.name)
    }

    async fn measure(&self, task: &Task) -> Result<Measurement, ProviderError> {
        let query = self.query_for(task)?;
        let shared = SharedSettings {
            prometheus: self.prometheus.as_ref(),
        };
        let source = query.build(self.domain, shared, &self.context)?;
        source.measure().await
    }
}
