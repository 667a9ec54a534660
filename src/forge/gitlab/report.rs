//! GitLab: the sticky merge-request note, through API v4 with a
//! `PRIVATE-TOKEN` (`CI_JOB_TOKEN` is not allowed to write notes).

use std::time::Duration;

use async_trait::async_trait;
use reqwest::header::{HeaderMap, HeaderValue};
use reqwest::{Method, StatusCode};
use serde::Deserialize;
use serde_json::json;

use super::Settings;
use crate::report::sticky::{ApiError, NoteApi};

/// Notes are listed 100 at a time; this many pages is 10,000 notes.
const MAX_PAGES: u32 = 100;

/// What is missing to write the note, said the way a user can fix it.
pub const MISSING_TOKEN: &str = "GITLAB_TOKEN is not set, so there is no merge-request note: CI_JOB_TOKEN cannot post notes. Add a project access token with the `api` scope as a masked CI/CD variable GITLAB_TOKEN (see docs/ci.md)";

#[derive(Deserialize)]
struct Note {
    id: u64,
    #[serde(default)]
    body: Option<String>,
}

pub struct MergeRequestNotes {
    http: reqwest::Client,
    /// `…/projects/ID/merge_requests/IID/notes`
    notes_url: String,
}

impl MergeRequestNotes {
    /// `Ok(None)` when this pipeline has no merge request to write to.
    pub fn new(settings: &Settings) -> Result<Option<Self>, String> {
        let Some(merge_request) = settings.merge_request else {
            return Ok(None);
        };
        let token = settings.token.as_ref().ok_or(MISSING_TOKEN)?;
        let api = settings
            .api_url
            .as_deref()
            .ok_or("CI_API_V4_URL is not set: cannot reach the GitLab API")?;
        let project = settings
            .project_id
            .as_deref()
            .ok_or("CI_PROJECT_ID is not set: cannot find the project")?;
        let mut header = HeaderValue::from_str(token.expose())
            .map_err(|_| "GITLAB_TOKEN is not a valid header value".to_owned())?;
        // Keeps the value out of reqwest's Debug output.
        header.set_sensitive(true);
        let mut headers = HeaderMap::new();
        headers.insert("PRIVATE-TOKEN", header);
        // main.rs installs ring for the process; a library caller may not have,
        // and reqwest panics without a provider.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .user_agent(concat!("greenlight/", env!("CARGO_PKG_VERSION")))
            .default_headers(headers)
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|error| format!("cannot build the GitLab client: {error}"))?;
        Ok(Some(Self {
            http,
            notes_url: format!(
                "{}/projects/{}/merge_requests/{merge_request}/notes",
                api.trim_end_matches('/'),
                encode_segment(project)
            ),
        }))
    }

    async fn call<T: serde::de::DeserializeOwned>(
        &self,
        what: &str,
        method: Method,
        url: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<T, ApiError> {
        let mut request = self.http.request(method, url);
        if let Some(body) = body {
            request = request.json(&crate::secrets::mask_json(body));
        }
        let response = request
            .send()
            .await
            .map_err(|error| ApiError::Retry(format!("{what}: {}", error.without_url())))?;
        let status = response.status();
        if !status.is_success() {
            let text = response.text().await.unwrap_or_default();
            let message = format!("{what}: GitLab answered {status}: {}", text.trim());
            return Err(match status {
                StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN | StatusCode::NOT_FOUND => {
                    ApiError::Stop(format!(
                        "{message} (GITLAB_TOKEN needs the `api` scope and at least the Reporter role)"
                    ))
                }
                _ => ApiError::Retry(message),
            });
        }
        response
            .json()
            .await
            .map_err(|error| ApiError::Retry(format!("{what}: unexpected answer: {error}")))
    }
}

/// A project id is a number or a `group/project` path, which must be encoded.
fn encode_segment(segment: &str) -> String {
    segment
        .bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                char::from(byte).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

#[async_trait]
impl NoteApi for MergeRequestNotes {
    async fn find(&mut self, marker: &str) -> Result<Option<u64>, ApiError> {
        for page in 1..=MAX_PAGES {
            let url = format!(
                "{}?sort=asc&order_by=created_at&per_page=100&page={page}",
                self.notes_url
            );
            let notes: Vec<Note> = self
                .call(
                    "cannot list the merge request's notes",
                    Method::GET,
                    &url,
                    None,
                )
                .await?;
            if let Some(found) = notes.iter().find(|note| {
                note.body
                    .as_deref()
                    .is_some_and(|body| body.contains(marker))
            }) {
                return Ok(Some(found.id));
            }
            if notes.len() < 100 {
                break;
            }
        }
        Ok(None)
    }

    async fn create(&mut self, body: &str) -> Result<u64, ApiError> {
        let note: Note = self
            .call(
                "cannot create the merge-request note",
                Method::POST,
                &self.notes_url,
                Some(&json!({ "body": body })),
            )
            .await?;
        Ok(note.id)
    }

    async fn update(&mut self, id: u64, body: &str) -> Result<(), ApiError> {
        let _: Note = self
            .call(
                "cannot update the merge-request note",
                Method::PUT,
                &format!("{}/{id}", self.notes_url),
                Some(&json!({ "body": body })),
            )
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn project_paths_are_encoded() {
        assert_eq!(encode_segment("42"), "42");
        assert_eq!(encode_segment("group/sub project"), "group%2Fsub%20project");
    }
}
