//! `analysis.prometheus` (the server) and `query: {prometheus: …}` (one PromQL
//! query) as the spec writes them: their checks, the credentials they read,
//! and how they become a `PrometheusSource`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{PrometheusConfig, PrometheusSource};
use crate::duration::Span;
use crate::field::{FieldPath, Problem, problem, require_text};
use crate::metrics::{MetricSource, QuerySettings, SharedSettings};
use crate::provider::{ProviderContext, ProviderError};
use crate::secrets::Credential;

#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PrometheusSpec {
    /// Base URL, e.g. `http://prometheus:9090` or `https://host/prometheus`.
    pub address: String,
    /// Query timeout, sent to Prometheus too (default 10s).
    #[serde(default = "default_query_timeout")]
    pub timeout: Span,
    pub auth: Option<PrometheusAuthSpec>,
}

fn default_query_timeout() -> Span {
    Span::from_secs(10)
}

/// Credentials by environment variable name, never by value. Give one of the two.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PrometheusAuthSpec {
    /// The variable holding a bearer token.
    pub bearer_token_env: Option<String>,
    pub basic: Option<BasicAuthSpec>,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct BasicAuthSpec {
    pub username_env: String,
    pub password_env: String,
}

impl PrometheusSpec {
    /// Its rules, at `path` (`analysis.prometheus`).
    pub fn check(&self, path: FieldPath, problems: &mut Vec<Problem>) {
        let ok = reqwest::Url::parse(self.address.trim())
            .is_ok_and(|parsed| matches!(parsed.scheme(), "http" | "https"));
        if !ok {
            problems.push(
                problem(
                    path.key("address"),
                    format!("`{}` is not an http:// or https:// URL", self.address),
                )
                .hint("use Prometheus's base URL, e.g. http://prometheus:9090"),
            );
        }
        if let Some(auth) = &self.auth {
            let path = path.key("auth");
            match (&auth.bearer_token_env, &auth.basic) {
                (Some(_), Some(_)) => problems.push(problem(
                    path.key("basic"),
                    "give either `bearerTokenEnv` or `basic`, not both",
                )),
                (None, None) => problems.push(
                    problem(path, "give `bearerTokenEnv` or `basic`")
                        .hint("e.g. `auth: {bearerTokenEnv: PROMETHEUS_TOKEN}`, or remove `auth`"),
                ),
                (Some(variable), None) => {
                    require_text(variable, path.key("bearerTokenEnv"), problems)
                }
                (None, Some(basic)) => {
                    require_text(
                        &basic.username_env,
                        path.key("basic").key("usernameEnv"),
                        problems,
                    );
                    require_text(
                        &basic.password_env,
                        path.key("basic").key("passwordEnv"),
                        problems,
                    );
                }
            }
        }
    }

    /// The credentials the server is asked with.
    pub fn credentials(&self) -> Vec<Credential<'_>> {
        let Some(auth) = &self.auth else {
            return Vec::new();
        };
        let token = auth.bearer_token_env.as_deref().map(Credential::Variable);
        let basic = auth.basic.as_ref().map(|basic| Credential::BasicAuth {
            username: &basic.username_env,
            password: &basic.password_env,
        });
        token.into_iter().chain(basic).collect()
    }
}

/// `query: {prometheus: <PromQL>}`: an instant query to `analysis.prometheus`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(transparent)]
pub struct PrometheusQuery(pub String);

crate::text::text_setting!(PrometheusQuery);

impl QuerySettings for PrometheusQuery {
    fn kind(&self) -> &'static str {
        "prometheus"
    }

    fn check(&self, path: FieldPath, shared: SharedSettings<'_>, problems: &mut Vec<Problem>) {
        if shared.prometheus.is_none() {
            problems.push(
                problem(
                    path,
                    "a prometheus query needs `analysis.prometheus`, the server to ask",
                )
                .hint("add `analysis: {prometheus: {address: http://prometheus:9090}}`"),
            );
        } else {
            require_text(&self.0, path, problems);
        }
    }

    fn build(
        &self,
        shared: SharedSettings<'_>,
        context: &ProviderContext,
    ) -> Result<Box<dyn MetricSource>, ProviderError> {
        let server = shared
            .prometheus
            .ok_or_else(|| ProviderError::new("a prometheus query needs `analysis.prometheus`"))?;
        Ok(Box::new(PrometheusSource::new(
            PrometheusConfig::from_spec(server, &self.0),
            context.http.clone(),
            &crate::secrets::process_env,
        )?))
    }
}
