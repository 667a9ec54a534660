//! Turning HTTP transport failures into provider errors that name the address but never a
//! credential (no userinfo, no query string: either may carry a token).

use std::time::Duration;

use reqwest::Url;

use crate::provider::ProviderError;

/// `scheme://host:port/path` of `url`: what error messages may show.
pub fn display_url(url: &Url) -> String {
    let mut shown = url.clone();
    let _ = shown.set_username("");
    let _ = shown.set_password(None);
    shown.set_query(None);
    shown.set_fragment(None);
    shown.to_string()
}

/// Sends a read-only request, once more on a fresh connection if the first attempt failed
/// before any answer (not on a timeout): a pooled keep-alive connection to a server that has
/// restarted or died fails with "connection closed before message completed", which says less
/// than what a new connection finds out ("connection refused").
pub async fn send_read_only(
    build: impl Fn() -> reqwest::RequestBuilder,
) -> Result<reqwest::Response, reqwest::Error> {
    match build().send().await {
        Err(e) if !e.is_timeout() => build().send().await,
        other => other,
    }
}

/// A request that got no HTTP response: refused, unresolvable, timed out, reset.
pub fn request_failed(
    what: &str,
    url: &Url,
    timeout: Duration,
    err: &reqwest::Error,
) -> ProviderError {
    let shown = display_url(url);
    if err.is_timeout() {
        return ProviderError::new(format!(
            "{what} at {shown} did not answer within {timeout:?}"
        ))
        .with_hint("raise the timeout, or check that the server is not overloaded");
    }
    let cause = root_cause(err);
    if err.is_connect() {
        ProviderError::new(format!("cannot connect to {what} at {shown}: {cause}"))
            .with_hint("is it running, and is the address right?")
    } else {
        ProviderError::new(format!("request to {what} at {shown} failed: {cause}"))
    }
}

/// The innermost error message: "Connection refused (os error 111)" rather than reqwest's
/// generic "error sending request". reqwest errors lose their URL first.
fn root_cause(err: &reqwest::Error) -> String {
    let mut current: &dyn std::error::Error = err;
    while let Some(next) = current.source() {
        current = next;
    }
    current.to_string()
}

/// At most `max` characters of a response body, for error messages.
pub fn snippet(body: &str, max: usize) -> String {
    crate::text::shorten(body.trim(), max)
}

/// A client for unit tests. The binary installs ring as the process-wide rustls provider at
/// start-up; reqwest (feature `rustls-no-provider`) panics when building a client without one.
#[cfg(test)]
pub fn test_client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_url_drops_credentials_and_query() {
        let url = Url::parse("https://user:pw@metrics.example:8443/api/x?api_key=k#f").unwrap();
        assert_eq!(display_url(&url), "https://metrics.example:8443/api/x");
    }

    #[test]
    fn snippet_cuts_long_bodies() {
        assert_eq!(snippet("  abcdef ", 3), "abc…");
        assert_eq!(snippet("ab", 3), "ab");
    }
}
