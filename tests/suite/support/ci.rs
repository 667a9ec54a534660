//! What the CI tests share: a sentinel token, settings pointing at a
//! wiremock server, and readers for the files CI systems consume.

use std::collections::BTreeMap;

use greenlight::forge::github::Settings as GitHub;
use greenlight::forge::gitlab::Settings as GitLab;
use greenlight::release::Release;
use greenlight::secrets::Secret;
use wiremock::matchers::{method, path_regex};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// Answers `verb` requests whose path matches `route` with `status` and a JSON `body`.
pub async fn respond(
    server: &MockServer,
    verb: &str,
    route: &str,
    status: u16,
    body: serde_json::Value,
) {
    Mock::given(method(verb))
        .and(path_regex(route))
        .respond_with(ResponseTemplate::new(status).set_body_json(body))
        .mount(server)
        .await;
}

/// A fake forge that answers each `(verb, route, status, body)` like `respond`.
pub async fn serving(routes: Vec<(&str, &str, u16, serde_json::Value)>) -> MockServer {
    let server = MockServer::start().await;
    for (verb, route, status, body) in routes {
        respond(&server, verb, route, status, body).await;
    }
    server
}

/// Must never show up anywhere but the Authorization header and ::add-mask::.
pub const SENTINEL: &str = "ghp_SENTINEL_do_not_print_0123456789";

/// The login (GitHub) or username (GitLab) the test token belongs to.
pub const BOT: &str = "greenlight-bot";

pub fn release() -> Release {
    Release {
        name: "checkout".into(),
        stable_version: "v1".into(),
        new_version: "v2".into(),
    }
}

pub fn github(server: &MockServer) -> GitHub {
    github_at(server.uri())
}

/// GitHub settings for an API at `api_url`.
pub fn github_at(api_url: String) -> GitHub {
    GitHub {
        token: Secret::new(Some(SENTINEL.into())),
        comment: true,
        summary: true,
        deployment: true,
        environment: "production".into(),
        environment_url: Some("https://checkout.example.com".into()),
        api_url,
        repository: Some("acme/shop".into()),
        sha: Some("abc123".into()),
        run_url: Some("https://github.com/acme/shop/actions/runs/7".into()),
        pr: Some(7),
        output: None,
        step_summary: None,
        comment_author: Some(BOT.into()),
        published: Default::default(),
    }
}

pub fn gitlab(server: &MockServer) -> GitLab {
    gitlab_at(server.uri())
}

/// GitLab settings for an instance at `url`.
pub fn gitlab_at(url: String) -> GitLab {
    GitLab {
        token: Secret::new(Some(SENTINEL.into())),
        comment: true,
        environment: "production".into(),
        api_url: Some(format!("{url}/api/v4")),
        project_id: Some("42".into()),
        merge_request: Some(5),
        sha: Some("abc123".into()),
        run_url: Some("https://gitlab.example/acme/shop/-/jobs/9".into()),
        published: Default::default(),
    }
}

/// One request as the tests compare them: `METHOD /path?query` and the JSON body.
#[derive(Debug, Clone)]
pub struct Call {
    pub line: String,
    pub body: serde_json::Value,
    pub headers: Vec<(String, String)>,
}

pub async fn calls(server: &MockServer) -> Vec<Call> {
    server
        .received_requests()
        .await
        .unwrap_or_default()
        .into_iter()
        .map(|request| Call {
            line: match request.url.query() {
                Some(query) => format!("{} {}?{query}", request.method, request.url.path()),
                None => format!("{} {}", request.method, request.url.path()),
            },
            body: serde_json::from_slice(&request.body).unwrap_or(serde_json::Value::Null),
            headers: request
                .headers
                .iter()
                .map(|(name, value)| {
                    (
                        name.to_string(),
                        value.to_str().unwrap_or_default().to_owned(),
                    )
                })
                .collect(),
        })
        .collect()
}

pub fn lines(calls: &[Call]) -> Vec<&str> {
    calls.iter().map(|call| call.line.as_str()).collect()
}

/// Asserts that every one of `lines` is `expected` (the updates of one comment).
pub fn assert_all(lines: &[&str], expected: &str) {
    assert!(
        lines.iter().all(|line| *line == expected),
        "all {expected}: {lines:#?}"
    );
}

/// Reads `GITHUB_OUTPUT` back the way the runner does, heredocs included.
pub fn parse_github_output(text: &str) -> BTreeMap<String, String> {
    let mut outputs = BTreeMap::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if let Some((name, delimiter)) = line.split_once("<<") {
            let mut value = Vec::new();
            for next in lines.by_ref() {
                if next == delimiter {
                    break;
                }
                value.push(next);
            }
            outputs.insert(name.to_owned(), value.join("\n"));
        } else if let Some((name, value)) = line.split_once('=') {
            outputs.insert(name.to_owned(), value.to_owned());
        }
    }
    outputs
}
