//! An HTTP check: one request, then every expectation of the spec in turn.

use std::time::{Duration, Instant};

use regex::Regex;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::{Certificate, Method};

use super::Attempt;
use crate::duration::display;
use crate::provider::ProviderError;
use crate::secrets::Masker;
use crate::spec::types::{HttpCheck, HttpExpectations};

/// Bodies are read up to this size; a bigger one is cut and says so.
pub const BODY_LIMIT: usize = 1024 * 1024;
/// How much of a body a failure quotes.
const QUOTE: usize = 200;

pub struct HttpProbe {
    method: Method,
    url: String,
    headers: HeaderMap,
    body: Option<String>,
    expect: HttpExpectations,
    body_pattern: Option<Regex>,
    client: reqwest::Client,
}

impl HttpProbe {
    /// Prepares the request; header values from the environment are added to
    /// `masker` so they never show up in a report.
    pub fn new(
        spec: &HttpCheck,
        shared: &reqwest::Client,
        masker: &mut Masker,
    ) -> Result<Self, ProviderError> {
        let method = Method::from_bytes(spec.method.to_ascii_uppercase().as_bytes())
            .map_err(|_| ProviderError::new(format!("`{}` is not an HTTP method", spec.method)))?;
        let mut headers = HeaderMap::new();
        let mut add = |name: &str, value: &str, secret: bool| -> Result<(), ProviderError> {
            let header = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| ProviderError::new(format!("`{name}` is not a header name")))?;
            let mut value = HeaderValue::from_str(value).map_err(|_| {
                ProviderError::new(format!(
                    "the value of header `{name}` is not valid in a header"
                ))
            })?;
            value.set_sensitive(secret);
            headers.insert(header, value);
            Ok(())
        };
        for (name, value) in &spec.headers {
            add(name, value, false)?;
        }
        for (name, variable) in &spec.headers_from_env {
            let value = std::env::var(variable).map_err(|_| {
                ProviderError::new(format!(
                    "header `{name}` comes from ${variable}, which is not set"
                ))
                .with_hint(format!("export {variable} in the job's environment"))
            })?;
            masker.add(value.clone());
            add(name, &value, true)?;
        }
        let body_pattern = spec
            .expect
            .body_matches
            .as_deref()
            .map(Regex::new)
            .transpose()
            .map_err(|error| {
                ProviderError::new(format!("expect.bodyMatches is not a valid regex: {error}"))
            })?;
        let client = match &spec.tls {
            None => shared.clone(),
            Some(tls) => {
                let mut builder = reqwest::Client::builder()
                    .tls_danger_accept_invalid_certs(tls.insecure_skip_verify);
                if let Some(ca_file) = &tls.ca_file {
                    let pem = std::fs::read(ca_file).map_err(|error| {
                        ProviderError::new(format!("cannot read tls.caFile {ca_file}: {error}"))
                    })?;
                    for certificate in Certificate::from_pem_bundle(&pem).map_err(|error| {
                        ProviderError::new(format!("tls.caFile {ca_file} is not PEM: {error}"))
                    })? {
                        builder = builder.add_root_certificate(certificate);
                    }
                }
                builder.build().map_err(|error| {
                    ProviderError::new(format!(
                        "cannot build the HTTP client for {}: {error}",
                        spec.url
                    ))
                })?
            }
        };
        Ok(Self {
            method,
            url: spec.url.clone(),
            headers,
            body: spec.body.clone(),
            expect: spec.expect.clone(),
            body_pattern,
            client,
        })
    }

    pub async fn attempt(&self, timeout: Duration) -> Attempt {
        match self.exchange(timeout).await {
            Ok(detail) => Attempt {
                passed: true,
                detail,
                output: None,
            },
            Err(detail) => Attempt {
                passed: false,
                detail,
                output: None,
            },
        }
    }

    async fn exchange(&self, timeout: Duration) -> Result<String, String> {
        let what = format!("{} {}", self.method, self.url);
        let mut request = self
            .client
            .request(self.method.clone(), &self.url)
            .headers(self.headers.clone())
            .timeout(timeout);
        if let Some(body) = &self.body {
            request = request.body(body.clone());
        }
        let started = Instant::now();
        let mut response = request
            .send()
            .await
            .map_err(|error| format!("{what}: {}", describe(&error)))?;
        let status = response.status().as_u16();
        if status != self.expect.status {
            return Err(format!(
                "{what} answered {status}, expected {}",
                self.expect.status
            ));
        }
        for (name, expected) in &self.expect.headers {
            let actual = response
                .headers()
                .get(name.as_str())
                .and_then(|value| value.to_str().ok());
            if actual != Some(expected.as_str()) {
                return Err(format!(
                    "{what}: header `{name}` is {}, expected `{expected}`",
                    actual.map_or_else(|| "missing".to_owned(), |value| format!("`{value}`"))
                ));
            }
        }
        let mut body = Vec::new();
        let mut cut = false;
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    let room = BODY_LIMIT - body.len();
                    body.extend_from_slice(&chunk[..chunk.len().min(room)]);
                    if chunk.len() > room {
                        cut = true;
                        break;
                    }
                }
                Ok(None) => break,
                Err(error) => {
                    return Err(format!("{what}: reading the body: {}", describe(&error)));
                }
            }
        }
        let latency = started.elapsed();
        let text = String::from_utf8_lossy(&body);
        if let Some(needle) = &self.expect.body_contains
            && !text.contains(needle.as_str())
        {
            return Err(format!(
                "{what}: the body does not contain `{needle}`{}: {}",
                cut_note(cut),
                quote(&text)
            ));
        }
        if let Some(pattern) = &self.body_pattern
            && !pattern.is_match(&text)
        {
            return Err(format!(
                "{what}: the body does not match `{pattern}`{}: {}",
                cut_note(cut),
                quote(&text)
            ));
        }
        if let Some(json) = &self.expect.json {
            if cut {
                return Err(format!(
                    "{what}: the body is over {} MiB, too big to check as JSON",
                    BODY_LIMIT >> 20
                ));
            }
            let document: serde_json::Value = serde_json::from_slice(&body).map_err(|error| {
                format!("{what}: the body is not JSON ({error}): {}", quote(&text))
            })?;
            match document.pointer(&json.pointer) {
                Some(value) if *value == json.equals => {}
                Some(value) => {
                    return Err(format!(
                        "{what}: {} is {value}, expected {}",
                        json.pointer, json.equals
                    ));
                }
                None => return Err(format!("{what}: the body has nothing at {}", json.pointer)),
            }
        }
        if let Some(budget) = self.expect.latency
            && latency > budget.get()
        {
            return Err(format!(
                "{what} took {}, over the {} budget",
                display(latency),
                budget
            ));
        }
        Ok(format!("{what} answered {status} in {}", display(latency)))
    }
}

/// reqwest's error with its causes, which hold the useful part ("connection refused").
fn describe(error: &reqwest::Error) -> String {
    let mut text = if error.is_timeout() {
        "timed out".to_owned()
    } else {
        error.to_string()
    };
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text = format!("{text}: {cause}");
        source = cause.source();
    }
    text
}

fn cut_note(cut: bool) -> String {
    if cut {
        format!(" (only its first {} MiB were read)", BODY_LIMIT >> 20)
    } else {
        String::new()
    }
}

fn quote(text: &str) -> String {
    format!("`{}`", crate::text::shorten(text, QUOTE).replace('\n', " "))
}
