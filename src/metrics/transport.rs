//! Turning HTTP transport failures into provider errors that name the address but never a
//! credential (no userinfo, no query string: either may carry a token).

use std::time::Duration;

use reqwest::Url;

use crate::provider::ProviderError;
use crate::secrets::Secret;

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

/// A read-only HTTP API a metric source asks: where, the form of that address errors may
/// show, how long an answer may take, the client and the credentials. Debug shows the shown
/// form and the credentials masked, never a secret.
pub struct Endpoint {
    pub url: Url,
    pub shown: String,
    pub timeout: Duration,
    pub client: reqwest::Client,
    pub credentials: Credentials,
}

/// What every request to an endpoint carries to authenticate, read from the environment once,
/// at construction. Debug shows header names and `Secret(***)`, never a value.
#[derive(Debug)]
pub enum Credentials {
    None,
    /// Headers whose values are marked sensitive (kept out of reqwest's and hyper's Debug).
    Headers(reqwest::header::HeaderMap),
    Bearer(Secret),
    Basic {
        username: Secret,
        password: Secret,
    },
}

impl Credentials {
    /// Adds the credentials to `request`.
    pub fn apply(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match self {
            Self::None => request,
            Self::Headers(headers) => request.headers(headers.clone()),
            Self::Bearer(token) => request.bearer_auth(token.expose()),
            Self::Basic { username, password } => {
                request.basic_auth(username.expose(), Some(password.expose()))
            }
        }
    }
}

/// The whole answer to a request: its status, where a redirect that was not followed
/// pointed (`redirect_note`), and the body.
pub struct Fetched {
    pub status: reqwest::StatusCode,
    pub redirected: Option<String>,
    pub body: String,
}

impl Fetched {
    /// What an error says of an answer that is not the one asked for: the status, and
    /// where a redirect pointed or the start of the body.
    pub fn refusal(&self) -> String {
        let shown = match &self.redirected {
            Some(note) => note.clone(),
            None => snippet(&self.body, 300),
        };
        format!("HTTP {}: {shown}", self.status)
    }
}

impl Endpoint {
    /// Sends the request `build` makes with the client (and the credentials, where the
    /// server wants them: they change the order of the headers) as [`send_read_only`]
    /// does, and reads the answer; `what` names the server in errors ("Prometheus").
    pub async fn fetch(
        &self,
        what: &str,
        build: impl Fn(&reqwest::Client) -> reqwest::RequestBuilder,
    ) -> Result<Fetched, ProviderError> {
        let failed = |e: reqwest::Error| request_failed(what, &self.url, self.timeout, &e);
        let response = send_read_only(|| build(&self.client))
            .await
            .map_err(failed)?;
        let status = response.status();
        let redirected = redirect_note(&response);
        let body = response.text().await.map_err(failed)?;
        Ok(Fetched {
            status,
            redirected,
            body,
        })
    }
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("url", &self.shown)
            .field("timeout", &self.timeout)
            .field("credentials", &self.credentials)
            .finish_non_exhaustive()
    }
}

/// Refuses a URL that is not http or https; `what` names it ("metrics URL").
pub fn require_http(url: &Url, what: &str) -> Result<(), ProviderError> {
    if matches!(url.scheme(), "http" | "https") {
        Ok(())
    } else {
        Err(ProviderError::new(format!(
            "bad {what} {}: the scheme must be http or https",
            display_url(url)
        )))
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

/// At most `max` characters of a response body, for error messages. Masked
/// before it is cut, so a cut cannot leave the start of a secret behind.
pub fn snippet(body: &str, max: usize) -> String {
    // A body can be megabytes: mask only what can be kept (and a secret's length more).
    let head = match body.char_indices().nth(max.saturating_mul(2) + 4096) {
        Some((end, _)) => &body[..end],
        None => body,
    };
    crate::text::shorten(crate::secrets::mask(head).trim(), max)
}

/// Redirects followed per request; a chain longer than this is an error.
pub const MAX_REDIRECTS: usize = 5;

/// Follows a redirect only within the origin (scheme, host and port) it
/// started at, and at most [`MAX_REDIRECTS`] times. A redirect to another
/// origin is not followed: the credentials a request carries (Authorization,
/// headers from credential variables) never reach a server they were not
/// meant for; the caller sees the 3xx and says where it pointed.
pub fn redirect_policy() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(|attempt| {
        if attempt.previous().len() > MAX_REDIRECTS {
            return attempt.error(format!("more than {MAX_REDIRECTS} redirects"));
        }
        let same_origin = attempt
            .previous()
            .first()
            .is_some_and(|first| first.origin() == attempt.url().origin());
        if same_origin {
            attempt.follow()
        } else {
            attempt.stop()
        }
    })
}

/// What an error says about a redirect that was not followed: where it pointed.
pub fn redirect_note(response: &reqwest::Response) -> Option<String> {
    if !response.status().is_redirection() {
        return None;
    }
    let location = response
        .headers()
        .get(reqwest::header::LOCATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|location| response.url().join(location).ok())
        .map_or_else(|| "nowhere".to_owned(), |url| display_url(&url));
    Some(format!(
        "redirected to {location}, which is not followed: credentials are sent only to the configured origin"
    ))
}

/// A client for unit tests. The binary installs ring as the process-wide rustls provider at
/// start-up; reqwest (feature `rustls-no-provider`) panics when building a client without one.
#[cfg(test)]
pub fn test_client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .redirect(redirect_policy())
        .build()
        .unwrap_or_default()
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
