//! `metrics: http` — GET a JSON document (Datadog, New Relic, an app's status page) and take
//! one number out of it with a JSON pointer (RFC 6901, e.g. `/series/0/pointlist/0/1`).
//!
//! * a number, or a string holding one (`"0.25"`), is a value;
//! * a pointer that leads nowhere, or to `null`, is no data (an empty series is not zero);
//! * a non-2xx status, a body that is not JSON, or a value that is not a number (an object,
//!   `true`, `"abc"`) is a provider error that says what was found.

use std::collections::BTreeMap;

use reqwest::Url;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::duration::Span;
use crate::field::{FieldPath, Problem, problem};
use crate::metrics::transport::{Credentials, Endpoint, display_url, require_http, snippet};
use crate::metrics::{Measurement, MetricSource};
use crate::metrics::{QuerySettings, SharedSettings};
use crate::provider::{ProviderContext, ProviderError};
use crate::secrets::{Credential, EnvLookup};

pub const DEFAULT_TIMEOUT: Span = Span::from_secs(10);

// `query: {http: …}` as the spec writes it (no doc comment: it would enter the schema).
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct HttpQuery {
    /// Fetched with GET; its query string may hold a key (errors never show it).
    pub url: String,
    /// Header name → the environment variable holding its value.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// RFC 6901 JSON pointer to the number, e.g. `/series/0/pointlist/0/1`. Nothing (or
    /// `null`) there is no data.
    pub pointer: String,
    /// Default 10s.
    #[serde(default = "default_query_timeout")]
    pub timeout: Span,
}

fn default_query_timeout() -> Span {
    DEFAULT_TIMEOUT
}

impl QuerySettings for HttpQuery {
    fn kind(&self) -> &'static str {
        "http"
    }

    fn check(&self, path: FieldPath, _shared: SharedSettings<'_>, problems: &mut Vec<Problem>) {
        let url_ok = Url::parse(self.url.trim())
            .is_ok_and(|parsed| matches!(parsed.scheme(), "http" | "https"));
        if !url_ok {
            problems.push(problem(
                path.key("url"),
                format!("`{}` is not an http:// or https:// URL", self.url),
            ));
        }
        if !(self.pointer.is_empty() || self.pointer.starts_with('/')) {
            problems.push(
                problem(
                    path.key("pointer"),
                    format!(
                        "JSON pointer {:?} must be empty or start with `/`",
                        self.pointer
                    ),
                )
                .hint("RFC 6901: e.g. /data/0/value; escape `/` in a key as ~1 and `~` as ~0"),
            );
        }
        for (name, variable) in &self.headers {
            let field = path.key("headers").key(name.clone());
            if HeaderName::from_bytes(name.as_bytes()).is_err() {
                problems.push(problem(
                    field,
                    format!("{name:?} is not a valid header name"),
                ));
            } else if variable.trim().is_empty() {
                problems.push(
                    problem(field, "name the environment variable holding the value").hint(
                        "header values are read from the environment so no secret is in the spec",
                    ),
                );
            }
        }
    }

    fn credentials(&self) -> Vec<Credential<'_>> {
        self.headers
            .values()
            .map(|variable| Credential::Variable(variable))
            .collect()
    }

    fn build(
        &self,
        _shared: SharedSettings<'_>,
        context: &ProviderContext,
    ) -> Result<Box<dyn MetricSource>, ProviderError> {
        Ok(Box::new(HttpJsonSource::new(
            self,
            context.http.clone(),
            &crate::secrets::process_env,
        )?))
    }
}

/// Debug output is safe to log: header values are marked sensitive and the endpoint shows
/// its URL without query string or credentials.
#[derive(Debug)]
pub struct HttpJsonSource {
    endpoint: Endpoint,
    pointer: String,
}

impl HttpJsonSource {
    /// Header values are read with `env` (`secrets::process_env` outside tests).
    pub fn new(
        query: &HttpQuery,
        client: reqwest::Client,
        env: EnvLookup<'_>,
    ) -> Result<Self, ProviderError> {
        let url = Url::parse(query.url.trim())
            .map_err(|e| ProviderError::new(format!("bad metrics URL: {e}")))?;
        require_http(&url, "metrics URL")?;
        if !(query.pointer.is_empty() || query.pointer.starts_with('/')) {
            return Err(ProviderError::new(format!(
                "JSON pointer {:?} must be empty or start with `/`",
                query.pointer
            ))
            .with_hint("RFC 6901: e.g. /data/0/value; escape `/` in a key as ~1 and `~` as ~0"));
        }
        let mut headers = HeaderMap::new();
        for (name, var) in &query.headers {
            let header = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| ProviderError::new(format!("{name:?} is not a valid header name")))?;
            let value = crate::provider::secret_from_env(env, var, &format!("the {name} header"))?;
            let mut value = HeaderValue::from_str(value.expose()).map_err(|_| {
                ProviderError::new(format!(
                    "environment variable {var} (the {name} header) holds characters a header cannot carry"
                ))
            })?;
            // Keeps the value out of reqwest's and hyper's Debug output.
            value.set_sensitive(true);
            headers.insert(header, value);
        }
        Ok(Self {
            endpoint: Endpoint {
                shown: display_url(&url),
                url,
                timeout: query.timeout.get(),
                client,
                credentials: Credentials::Headers(headers),
            },
            pointer: query.pointer.clone(),
        })
    }

    fn error(&self, message: impl std::fmt::Display) -> ProviderError {
        ProviderError::new(format!(
            "metrics endpoint {}: {message}",
            self.endpoint.shown
        ))
    }
}

#[async_trait::async_trait]
impl MetricSource for HttpJsonSource {
    fn describe(&self) -> String {
        format!(
            "http json at {} pointer {:?}",
            self.endpoint.shown, self.pointer
        )
    }

    async fn measure(&self) -> Result<Measurement, ProviderError> {
        let answer = self
            .endpoint
            .fetch("the metrics endpoint", |client| {
                let request = client.get(self.endpoint.url.clone());
                self.endpoint
                    .credentials
                    .apply(request)
                    .header(reqwest::header::ACCEPT, "application/json")
                    .timeout(self.endpoint.timeout)
            })
            .await?;
        if !answer.status.is_success() {
            let hint = match answer.status.as_u16() {
                401 | 403 => "check the headers' environment variables (API key, token)",
                _ => "check the URL and the service behind it",
            };
            return Err(self.error(answer.refusal()).with_hint(hint));
        }
        let document: Value = serde_json::from_str(&answer.body).map_err(|e| {
            self.error(format!(
                "the body is not JSON ({e}): {}",
                snippet(&answer.body, 200)
            ))
        })?;
        extract(&document, &self.pointer).map_err(|why| {
            self.error(format!("pointer {:?}: {why}", self.pointer))
                .with_hint("point at a number, or a string holding one")
        })
    }
}

/// The number at `pointer`, or no data when there is nothing (or null) there.
fn extract(document: &Value, pointer: &str) -> Result<Measurement, String> {
    match document.pointer(pointer) {
        None | Some(Value::Null) => Ok(Measurement::NoData),
        Some(Value::Number(n)) => n
            .as_f64()
            .map(Measurement::Value)
            .ok_or_else(|| format!("{n} does not fit a 64-bit float")),
        Some(Value::String(s)) => match s.trim().parse::<f64>() {
            Ok(v) => Ok(Measurement::Value(v)),
            Err(_) => Err(format!("found the string {s:?}, not a number")),
        },
        Some(other) => Err(format!("found {}, not a number", kind(other))),
    }
}

fn kind(value: &Value) -> String {
    match value {
        Value::Bool(b) => format!("the boolean {b}"),
        Value::Array(a) => format!("a list of {} items", a.len()),
        Value::Object(_) => "an object".to_owned(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn numbers_and_numeric_strings_are_values() {
        let doc = json!({"a": {"b": [1.5, "0.25", " 3 "]}});
        assert_eq!(extract(&doc, "/a/b/0"), Ok(Measurement::Value(1.5)));
        assert_eq!(extract(&doc, "/a/b/1"), Ok(Measurement::Value(0.25)));
        assert_eq!(extract(&doc, "/a/b/2"), Ok(Measurement::Value(3.0)));
    }

    #[test]
    fn missing_and_null_are_no_data() {
        let doc = json!({"a": null, "series": []});
        assert_eq!(extract(&doc, "/a"), Ok(Measurement::NoData));
        assert_eq!(extract(&doc, "/series/0/value"), Ok(Measurement::NoData));
        assert_eq!(extract(&doc, "/nope"), Ok(Measurement::NoData));
    }

    #[test]
    fn other_types_are_errors_that_say_what_was_found() {
        let doc = json!({"t": true, "o": {}, "s": "abc", "l": [1, 2]});
        assert_eq!(
            extract(&doc, "/t").unwrap_err(),
            "found the boolean true, not a number"
        );
        assert_eq!(
            extract(&doc, "/o").unwrap_err(),
            "found an object, not a number"
        );
        assert_eq!(
            extract(&doc, "/s").unwrap_err(),
            "found the string \"abc\", not a number"
        );
        assert_eq!(
            extract(&doc, "/l").unwrap_err(),
            "found a list of 2 items, not a number"
        );
    }

    #[test]
    fn escaped_keys_follow_rfc_6901() {
        let doc = json!({"a/b": {"m~n": 7}});
        assert_eq!(extract(&doc, "/a~1b/m~0n"), Ok(Measurement::Value(7.0)));
    }

    fn config(pointer: &str) -> HttpQuery {
        HttpQuery {
            url: "https://api.example/v1/query?api_key=SECRETKEY".into(),
            headers: BTreeMap::from([("DD-API-KEY".to_owned(), "DD_KEY".to_owned())]),
            pointer: pointer.into(),
            timeout: DEFAULT_TIMEOUT,
        }
    }

    #[test]
    fn debug_shows_neither_header_values_nor_query() {
        let env = |_: &str| Some("HEADERSECRET".to_owned());
        let source = HttpJsonSource::new(
            &config("/x"),
            crate::metrics::transport::test_client(),
            &env,
        )
        .unwrap();
        let debug = format!("{source:?}");
        assert!(
            !debug.contains("HEADERSECRET") && !debug.contains("SECRETKEY"),
            "{debug}"
        );
        assert!(debug.contains("dd-api-key"), "{debug}");
        assert_eq!(
            source.describe(),
            "http json at https://api.example/v1/query pointer \"/x\""
        );
    }

    #[test]
    fn rejects_relative_pointer_and_missing_variable() {
        let env = |_: &str| Some("k".to_owned());
        assert!(
            HttpJsonSource::new(&config("x"), crate::metrics::transport::test_client(), &env)
                .is_err()
        );
        let none = |_: &str| None;
        let err = HttpJsonSource::new(
            &config("/x"),
            crate::metrics::transport::test_client(),
            &none,
        )
        .unwrap_err();
        assert!(err.message.contains("DD_KEY"), "{}", err.message);
    }
}
