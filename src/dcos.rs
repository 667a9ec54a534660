//! Talking to a DC/OS cluster's HTTP APIs (Marathon, Edge-LB): one base URL, the
//! `Authorization: token=…` header of DC/OS ACS, a custom CA, JSON bodies, and errors
//! that quote what the service said.
//!
//! Bodies stay `serde_json::Value` (with key order kept) on purpose: greenlight writes
//! back exactly what it read, plus its own change.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::provider::ProviderError;
use crate::provider::secret_from_env;
use crate::secrets::{EnvLookup, Secret, process_env};

/// How to reach one DC/OS service, from a spec.
#[derive(Debug, Clone, Copy)]
pub struct Connection<'a> {
    /// The service's base URL.
    pub url: &'a str,
    /// The environment variable holding the DC/OS ACS token.
    pub token_env: Option<&'a str>,
    /// A PEM file of CA certificates to trust besides the system's.
    pub ca_file: Option<&'a str>,
}

/// An HTTP client bound to one service's base URL.
#[derive(Clone)]
pub struct Client {
    base: String,
    /// Read at each request, so `plan` works without the secret.
    token_env: Option<String>,
    http: reqwest::Client,
    /// What the service is, for error messages: "Marathon", "Edge-LB".
    service: &'static str,
}

/// A service's answer: its status and its JSON body (`Null` when empty).
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: StatusCode,
    pub body: Value,
}

impl Client {
    /// `base_dir` resolves a relative `caFile`.
    pub fn new(
        service: &'static str,
        connection: Connection<'_>,
        base_dir: &std::path::Path,
        timeout: Duration,
    ) -> Result<Self, ProviderError> {
        // reqwest (`rustls-no-provider`) panics without a process-wide provider; the
        // binary installs ring at start-up, a library user may not have.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut builder = reqwest::Client::builder().timeout(timeout);
        if let Some(ca_file) = connection.ca_file {
            let path = base_dir.join(ca_file);
            let pem = std::fs::read(&path).map_err(|error| {
                ProviderError::new(format!("cannot read caFile {}: {error}", path.display()))
            })?;
            for certificate in reqwest::Certificate::from_pem_bundle(&pem).map_err(|error| {
                ProviderError::new(format!("caFile {} is not PEM: {error}", path.display()))
            })? {
                builder = builder.add_root_certificate(certificate);
            }
        }
        let http = builder.build().map_err(|error| {
            ProviderError::new(format!("cannot build the {service} HTTP client: {error}"))
        })?;
        Ok(Self {
            base: connection.url.trim_end_matches('/').to_owned(),
            token_env: connection.token_env.map(str::to_owned),
            http,
            service,
        })
    }

    /// The token, when the spec names its variable.
    fn token(&self, env: EnvLookup<'_>) -> Result<Option<Secret>, ProviderError> {
        self.token_env
            .as_deref()
            .map(|var| secret_from_env(env, var, "the DC/OS ACS token"))
            .transpose()
    }

    /// The full URL of `path` (which starts with `/`).
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Sends one request. Any status is an `Answer`; only transport failures and
    /// bodies that are not JSON are errors.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Answer, ProviderError> {
        let url = self.url(path);
        let what = format!("{method} {url}");
        let mut request = self.http.request(method, &url);
        if let Some(token) = self.token(&process_env)? {
            request = request.header("Authorization", format!("token={}", token.expose()));
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.map_err(|error| {
            ProviderError::new(format!("{what}: {} is unreachable: {error}", self.service))
                .with_hint("check the URL, the network and, for https, caFile")
        })?;
        let status = response.status();
        let text = response
            .text()
            .await
            .map_err(|error| ProviderError::new(format!("{what}: reading the answer: {error}")))?;
        let body = if text.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).map_err(|_| {
                ProviderError::new(format!(
                    "{what}: HTTP {status}, and the answer is not JSON: {}",
                    crate::text::shorten(&text, 200)
                ))
                .with_hint(format!("is {} the {} API?", self.base, self.service))
            })?
        };
        Ok(Answer { status, body })
    }

    /// Sends one request and fails on any status but success, quoting the service.
    pub async fn expect_success(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, ProviderError> {
        let what = format!("{method} {}", self.url(path));
        let answer = self.send(method, path, body).await?;
        if answer.status.is_success() {
            Ok(answer.body)
        } else {
            Err(self.refused(&what, &answer))
        }
    }

    /// The error for a refused request: the status, the service's message and details.
    pub fn refused(&self, what: &str, answer: &Answer) -> ProviderError {
        let error = ProviderError::new(format!(
            "{what}: {} answered HTTP {}: {}",
            self.service,
            answer.status,
            message_of(&answer.body)
        ));
        match answer.status {
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => error.with_hint(
                "set tokenEnv to a variable holding a valid DC/OS ACS token with access to it",
            ),
            _ => error,
        }
    }
}

/// What Marathon and Edge-LB say in an error body: `message`, then each detail's path
/// and errors.
pub fn message_of(body: &Value) -> String {
    let Some(message) = body.get("message").and_then(Value::as_str) else {
        return match body {
            Value::Null => "no message".to_owned(),
            Value::String(text) => text.clone(),
            other => crate::text::shorten(&other.to_string(), 300),
        };
    };
    let details: Vec<String> = body
        .get("details")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|detail| {
            let path = detail.get("path").and_then(Value::as_str).unwrap_or("");
            let errors: Vec<&str> = detail
                .get("errors")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            format!("{path}: {}", errors.join(", "))
        })
        .collect();
    if details.is_empty() {
        message.to_owned()
    } else {
        format!("{message} ({})", details.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn messages_quote_the_details() {
        let body = json!({"message": "Object is not valid", "details": [
            {"path": "/upgradeStrategy/minimumHealthCapacity", "errors": ["is greater than 1"]}
        ]});
        assert_eq!(
            message_of(&body),
            "Object is not valid (/upgradeStrategy/minimumHealthCapacity: is greater than 1)"
        );
        assert_eq!(message_of(&Value::Null), "no message");
        assert_eq!(message_of(&json!("pool not found")), "pool not found");
    }
}
