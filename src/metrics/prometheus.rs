//! `metrics: prometheus` — one PromQL instant query per gate, through the HTTP API.
//!
//! The query goes as a form POST to `/api/v1/query` (the API accepts GET and POST alike; POST
//! keeps long queries clear of URL length limits and out of proxy access logs) with Prometheus's
//! own `timeout` parameter. The client-side timeout is a little longer so that Prometheus gets
//! to report its own timeout error first. See `response` for how answers become measurements.

mod response;
mod settings;

pub use settings::{BasicAuthSpec, PrometheusAuthSpec, PrometheusQuery, PrometheusSpec};

use std::time::Duration;

use reqwest::Url;

use crate::metrics::transport::{Credentials, Endpoint, display_url, require_http};
use crate::metrics::{Measurement, MetricSource};
use crate::provider::ProviderError;
use crate::secrets::EnvLookup;
use response::Answer;

pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// Extra time the client waits beyond the query timeout it asks Prometheus for.
const CLIENT_MARGIN: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrometheusConfig {
    /// Base URL, e.g. `http://prometheus:9090` or `https://host/prometheus/`.
    pub address: String,
    /// Rendered PromQL.
    pub query: String,
    pub timeout: Duration,
    pub auth: PrometheusAuth,
}

impl PrometheusConfig {
    pub fn from_spec(spec: &PrometheusSpec, query: &str) -> Self {
        let auth = match &spec.auth {
            Some(auth) => match (&auth.bearer_token_env, &auth.basic) {
                (Some(token_env), _) => PrometheusAuth::Bearer {
                    token_env: token_env.clone(),
                },
                (None, Some(basic)) => PrometheusAuth::Basic {
                    username_env: basic.username_env.clone(),
                    password_env: basic.password_env.clone(),
                },
                (None, None) => PrometheusAuth::None,
            },
            None => PrometheusAuth::None,
        };
        Self {
            address: spec.address.clone(),
            query: query.to_owned(),
            timeout: spec.timeout.get(),
            auth,
        }
    }
}

/// Credentials by environment variable name; the values are read once, at construction.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum PrometheusAuth {
    #[default]
    None,
    Bearer {
        token_env: String,
    },
    Basic {
        username_env: String,
        password_env: String,
    },
}

impl PrometheusAuth {
    /// The credentials the variables hold, from `env`.
    fn read(&self, env: EnvLookup<'_>) -> Result<Credentials, ProviderError> {
        let read =
            |variable: &str, what: &str| crate::provider::secret_from_env(env, variable, what);
        Ok(match self {
            Self::None => Credentials::None,
            Self::Bearer { token_env } => {
                Credentials::Bearer(read(token_env, "the Prometheus bearer token")?)
            }
            Self::Basic {
                username_env,
                password_env,
            } => Credentials::Basic {
                username: read(username_env, "the Prometheus user name")?,
                password: read(password_env, "the Prometheus password")?,
            },
        })
    }
}

/// Debug output is safe to log: the endpoint without user info, credentials as `Secret(***)`.
#[derive(Debug)]
pub struct PrometheusSource {
    /// The query API; it shows the base address.
    endpoint: Endpoint,
    query: String,
}

impl PrometheusSource {
    /// Credentials are read with `env` (`secrets::process_env` outside tests).
    pub fn new(
        config: PrometheusConfig,
        client: reqwest::Client,
        env: EnvLookup<'_>,
    ) -> Result<Self, ProviderError> {
        let base = parse_base(&config.address)?;
        let endpoint = base.join("api/v1/query").map_err(|e| {
            ProviderError::new(format!(
                "bad Prometheus address {}: {e}",
                display_url(&base)
            ))
        })?;
        let credentials = config.auth.read(env)?;
        if config.query.trim().is_empty() {
            return Err(ProviderError::new("the Prometheus query is empty"));
        }
        Ok(Self {
            endpoint: Endpoint {
                url: endpoint,
                shown: display_url(&base),
                timeout: config.timeout.max(Duration::from_millis(1)),
                client,
                credentials,
            },
            query: config.query,
        })
    }

    pub fn query(&self) -> &str {
        &self.query
    }

    fn error(&self, message: impl std::fmt::Display) -> ProviderError {
        ProviderError::new(format!("Prometheus at {}: {message}", self.endpoint.shown))
    }
}

fn parse_base(address: &str) -> Result<Url, ProviderError> {
    let mut url = Url::parse(address.trim()).map_err(|e| {
        ProviderError::new(format!(
            "bad Prometheus address {:?}: {e}",
            without_user_info(address)
        ))
        .with_hint("use the base URL, e.g. http://prometheus:9090")
    })?;
    require_http(&url, "Prometheus address")?;
    // Join relative to the whole path: `https://host/prometheus` means `/prometheus/api/v1/…`.
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    Ok(url)
}

#[async_trait::async_trait]
impl MetricSource for PrometheusSource {
    fn describe(&self) -> String {
        format!("prometheus at {}: {}", self.endpoint.shown, self.query)
    }

    async fn measure(&self) -> Result<Measurement, ProviderError> {
        let timeout = self.endpoint.timeout;
        let timeout_param = format!("{}ms", timeout.as_millis());
        let answer = self
            .endpoint
            .fetch("Prometheus", |client| {
                let request = client
                    .post(self.endpoint.url.clone())
                    .form(&[("query", self.query.as_str()), ("timeout", &timeout_param)])
                    .timeout(timeout + CLIENT_MARGIN);
                self.endpoint.credentials.apply(request)
            })
            .await?;
        match response::interpret(&answer.body) {
            Answer::Measured {
                measurement,
                warnings,
            } => {
                for warning in warnings {
                    tracing::warn!(query = %self.query, "Prometheus warns: {warning}");
                }
                Ok(measurement)
            }
            Answer::Rejected { error_type, error } => {
                let hint = match error_type.as_str() {
                    "bad_data" => "check the PromQL syntax and the template values in it",
                    "timeout" | "canceled" => "simplify the query, or raise the query timeout",
                    "execution" => {
                        "the query is valid but failed to run; check functions and types"
                    }
                    _ => "see Prometheus's message",
                };
                Err(self
                    .error(format!("HTTP {}, {error_type}: {error}", answer.status))
                    .with_hint(hint))
            }
            Answer::Unusable(why) => Err(self
                .error(format!("query `{}`: {why}", self.query))
                .with_hint("a gate compares one number per check")),
            Answer::NotPrometheus(why) => {
                Err(if answer.status.is_success() {
                    self.error(format!("the answer is not from the Prometheus API: {why}"))
                    .with_hint("the address should be Prometheus's base URL, e.g. http://prometheus:9090")
                } else {
                    let hint = match answer.status.as_u16() {
                        401 | 403 => "check the credentials (bearer token or basic auth variables)",
                        404 => {
                            "the address should be Prometheus's base URL, e.g. http://prometheus:9090"
                        }
                        _ if answer.status.is_server_error() => {
                            "Prometheus, or a proxy in front of it, failed; the gate retries on the next check"
                        }
                        _ => "see the response above",
                    };
                    self.error(answer.refusal()).with_hint(hint)
                })
            }
        }
    }
}

/// An address as typed, with any `user:password@` replaced: it may not parse,
/// so `display_url` cannot be used, and it must still not leak.
fn without_user_info(address: &str) -> String {
    match (address.find("://"), address.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            format!("{}***@{}", &address[..scheme_end + 3], &address[at + 1..])
        }
        _ => address.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(auth: PrometheusAuth) -> PrometheusConfig {
        PrometheusConfig {
            address: "http://prom.example:9090/prefix".into(),
            query: "up".into(),
            timeout: DEFAULT_TIMEOUT,
            auth,
        }
    }

    #[test]
    fn endpoint_keeps_a_path_prefix() {
        let env = |_: &str| None;
        let source = PrometheusSource::new(
            config(PrometheusAuth::None),
            crate::metrics::transport::test_client(),
            &env,
        )
        .unwrap();
        assert_eq!(
            source.endpoint.url.as_str(),
            "http://prom.example:9090/prefix/api/v1/query"
        );
        assert_eq!(
            source.describe(),
            "prometheus at http://prom.example:9090/prefix/: up"
        );
    }

    #[test]
    fn debug_redacts_credentials() {
        let env = |name: &str| Some(format!("value-of-{name}"));
        let basic = PrometheusAuth::Basic {
            username_env: "U".into(),
            password_env: "P".into(),
        };
        let source = PrometheusSource::new(
            config(basic),
            crate::metrics::transport::test_client(),
            &env,
        )
        .unwrap();
        let debug = format!("{source:?}");
        assert!(!debug.contains("value-of"), "{debug}");
        assert!(debug.contains("Secret(***)"));
    }

    #[test]
    fn addresses_with_user_info_never_show_it() {
        let mut with_user = config(PrometheusAuth::None);
        with_user.address = "http://admin:hunter2@127.0.0.1:9090".into();
        let source =
            PrometheusSource::new(with_user, crate::metrics::transport::test_client(), &|_| {
                None
            })
            .unwrap();
        assert!(!format!("{source:?}").contains("hunter2"));
        let error = parse_base("http://admin:hunter2@[bad").unwrap_err().message;
        assert!(
            !error.contains("hunter2") && error.contains("***@"),
            "{error}"
        );
    }

    #[test]
    fn missing_token_variable_is_named() {
        let env = |_: &str| None;
        let bearer = PrometheusAuth::Bearer {
            token_env: "PROM_TOKEN".into(),
        };
        let err = PrometheusSource::new(
            config(bearer),
            crate::metrics::transport::test_client(),
            &env,
        )
        .unwrap_err();
        assert!(err.message.contains("PROM_TOKEN"), "{}", err.message);
    }

    #[test]
    fn rejects_non_http_addresses() {
        let env = |_: &str| None;
        let mut c = config(PrometheusAuth::None);
        c.address = "prom:9090".into();
        assert!(PrometheusSource::new(c, crate::metrics::transport::test_client(), &env).is_err());
    }
}
