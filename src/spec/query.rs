//! The query a metric or a wait-until gate names (`QuerySpec`), handed to the
//! metric source that knows it (`QuerySettings`): its checks, the credentials
//! it reads, its default domain and its constructor. Adding a source adds one
//! arm to `settings_enum!` below; everything else is in its own module under
//! `metrics/`. `counts` lives here because it is made of queries itself.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::field::{FieldPath, Problem};
use crate::metrics::command::CommandQuery;
use crate::metrics::counts::{CountsSource, VersionSources};
use crate::metrics::http::HttpQuery;
use crate::metrics::prometheus::PrometheusQuery;
use crate::metrics::sandbox::SandboxQuery;
use crate::metrics::{MetricDomain, MetricSource, QuerySettings, SharedSettings};
use crate::provider::{ProviderContext, ProviderError};
use crate::secrets::Credential;

settings_enum! {
    QuerySpec => dyn QuerySettings {
        /// A command that prints one number; printing nothing means no data.
        Command(CommandQuery),
        /// A PromQL instant query for `analysis.prometheus`; it must return one sample or a
        /// scalar. An empty result is no data.
        Prometheus(PrometheusQuery),
        /// One number out of any JSON endpoint.
        Http(HttpQuery),
        /// What the proxy of `greenlight demo` saw (only there).
        Sandbox(SandboxQuery),
        /// Requests and errors per version, each a query of its own: what `compare` and
        /// `minRequests` need. For latency, count as errors the requests above a histogram
        /// bucket, e.g. `_count` minus the `le="0.25"` bucket.
        Counts(CountQueries),
    }
}

impl QuerySpec {
    /// The source's own rules for its settings, under `path` (`…query`).
    pub fn check(&self, path: FieldPath, shared: SharedSettings<'_>, problems: &mut Vec<Problem>) {
        let settings = self.settings();
        settings.check(path.key(settings.kind()), shared, problems);
    }

    /// The source of this query: every value it returns is checked against
    /// `domain` (or the source's default) before the engine sees it.
    pub fn build(
        &self,
        domain: Option<MetricDomain>,
        shared: SharedSettings<'_>,
        context: &ProviderContext,
    ) -> Result<Box<dyn MetricSource>, ProviderError> {
        crate::metrics::build(self.settings(), domain, shared, context)
    }
}

#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CountQueries {
    pub new: VersionQueries,
    /// Needed by `compare: stable`.
    pub stable: Option<VersionQueries>,
}

/// Two counts over the same window (e.g. PromQL `sum(increase(...[1m]))`).
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct VersionQueries {
    pub requests: Box<QuerySpec>,
    /// No data here reads as no errors.
    pub errors: Box<QuerySpec>,
}

impl CountQueries {
    fn versions(&self) -> impl Iterator<Item = (&'static str, &VersionQueries)> {
        std::iter::once(("new", &self.new)).chain(self.stable.as_ref().map(|q| ("stable", q)))
    }
}

impl VersionQueries {
    fn queries(&self) -> [(&'static str, &QuerySpec); 2] {
        [("requests", &self.requests), ("errors", &self.errors)]
    }

    fn build(
        &self,
        shared: SharedSettings<'_>,
        context: &ProviderContext,
    ) -> Result<VersionSources, ProviderError> {
        // A count is never negative, NaN or infinite.
        let count = Some(MetricDomain::NonNegative);
        Ok(VersionSources {
            requests: self.requests.build(count, shared, context)?,
            errors: self.errors.build(count, shared, context)?,
        })
    }
}

impl QuerySettings for CountQueries {
    fn kind(&self) -> &'static str {
        "counts"
    }

    fn check(&self, path: FieldPath, shared: SharedSettings<'_>, problems: &mut Vec<Problem>) {
        for (version, queries) in self.versions() {
            for (field, query) in queries.queries() {
                query.check(path.key(version).key(field), shared, problems);
            }
        }
    }

    fn credentials(&self) -> Vec<Credential<'_>> {
        self.versions()
            .flat_map(|(_, queries)| queries.queries())
            .flat_map(|(_, query)| query.settings().credentials())
            .collect()
    }

    fn counts_requests(&self) -> bool {
        true
    }

    fn counts_each_version(&self) -> bool {
        self.stable.is_some()
    }

    fn build(
        &self,
        shared: SharedSettings<'_>,
        context: &ProviderContext,
    ) -> Result<Box<dyn MetricSource>, ProviderError> {
        Ok(Box::new(CountsSource::new(
            self.new.build(shared, context)?,
            self.stable
                .as_ref()
                .map(|queries| queries.build(shared, context))
                .transpose()?,
        )))
    }
}
