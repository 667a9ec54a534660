//! GitLab: the sticky merge-request note, through API v4 with a
//! `PRIVATE-TOKEN` (`CI_JOB_TOKEN` is not allowed to write notes). A branch
//! pipeline has no merge-request IID; its merge request is found from the
//! commit.

use async_trait::async_trait;
use reqwest::header::{HeaderMap, HeaderValue};
use reqwest::{Method, StatusCode};
use serde::Deserialize;
use serde_json::json;

use super::Settings;
use crate::forge::{Author, PAGE_SIZE, Published, find_ours};
use crate::report::live::Warnings;
use crate::report::sticky::{ApiError, NoteApi};

/// What is missing to write the note, said the way a user can fix it.
pub const MISSING_TOKEN: &str = "GITLAB_TOKEN is not set, so there is no merge-request note: CI_JOB_TOKEN cannot post notes. Add a project access token with the `api` scope as a masked CI/CD variable GITLAB_TOKEN (see docs/ci.md)";

#[derive(Deserialize)]
struct Note {
    id: u64,
    #[serde(default)]
    body: Option<String>,
    #[serde(default)]
    author: Option<Username>,
}

/// A note's author, or the token's user (`GET /user`).
#[derive(Deserialize)]
struct Username {
    username: String,
}

#[derive(Deserialize)]
struct MergeRequest {
    iid: u64,
    project_id: u64,
    #[serde(default)]
    state: Option<String>,
}

/// Which merge request the note goes on.
enum Target {
    /// `…/projects/ID/merge_requests/IID/notes`
    Notes(String),
    /// A branch pipeline: the merge request of this commit, looked up once.
    Commit(String),
}

pub struct MergeRequestNotes {
    http: reqwest::Client,
    /// `…/api/v4`
    api: String,
    /// The project id or its encoded path.
    project: String,
    target: Target,
    author: Author,
    published: Published,
    /// Where a problem that does not stop the note is said.
    warnings: Warnings,
}

impl MergeRequestNotes {
    /// `Ok(None)` when this pipeline has no merge request to write to: no
    /// merge-request IID, and no commit or token to find one with.
    pub fn new(settings: &Settings, warnings: Warnings) -> Result<Option<Self>, String> {
        let target = match (settings.merge_request, &settings.sha, &settings.token) {
            (Some(iid), _, _) => Target::Notes(iid.to_string()),
            // A branch pipeline that was not given a token asked for no note.
            (None, Some(sha), Some(_)) => Target::Commit(sha.clone()),
            (None, _, _) => return Ok(None),
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
            .connect_timeout(crate::report::live::CONNECT_TIMEOUT)
            .timeout(crate::report::live::CALL_TIMEOUT)
            .build()
            .map_err(|error| format!("cannot build the GitLab client: {error}"))?;
        let api = api.trim_end_matches('/').to_owned();
        let project = encode_segment(project);
        let target = match target {
            Target::Notes(iid) => Target::Notes(notes_url(&api, &project, &iid)),
            commit => commit,
        };
        Ok(Some(Self {
            http,
            api,
            project,
            target,
            author: Author::Unknown,
            published: settings.published.clone(),
            warnings,
        }))
    }

    /// The notes of the merge request: the pipeline's, or the one the commit
    /// belongs to (an open one first).
    async fn notes_url(&mut self) -> Result<String, ApiError> {
        let sha = match &self.target {
            Target::Notes(url) => return Ok(url.clone()),
            Target::Commit(sha) => sha.clone(),
        };
        let url = format!(
            "{}/projects/{}/repository/commits/{sha}/merge_requests",
            self.api, self.project
        );
        let found: Vec<MergeRequest> = self
            .call(
                "cannot find the merge request of the commit",
                Method::GET,
                &url,
                None,
            )
            .await?;
        let chosen = found
            .iter()
            .find(|request| request.state.as_deref() == Some("opened"))
            .or_else(|| found.first())
            .ok_or_else(|| {
                ApiError::Skip(format!(
                    "commit {sha} belongs to no merge request, so there is no merge-request note; the job's JUnit and dotenv reports have the outcome"
                ))
            })?;
        let url = notes_url(
            &self.api,
            &chosen.project_id.to_string(),
            &chosen.iid.to_string(),
        );
        self.target = Target::Notes(url.clone());
        Ok(url)
    }

    /// The token's user, whose note is ours; asked once.
    async fn author(&mut self) -> Option<String> {
        if matches!(self.author, Author::Unknown) {
            let url = format!("{}/user", self.api);
            let asked: Result<Username, ApiError> = self
                .call(
                    "cannot ask GitLab who the token is",
                    Method::GET,
                    &url,
                    None,
                )
                .await;
            self.author = Author::asked(
                asked
                    .map(|user| user.username)
                    .map_err(ApiError::into_message),
                "a GITLAB_TOKEN that can read its own user (`read_user` or `api` scope)",
                &self.warnings,
            );
        }
        self.author.login()
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

fn notes_url(api: &str, project: &str, merge_request: &str) -> String {
    format!("{api}/projects/{project}/merge_requests/{merge_request}/notes")
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
        let notes_url = self.notes_url().await?;
        let author = self.author().await;
        let this = &*self;
        find_ours(
            marker,
            author.as_deref(),
            |page| {
                let url = format!(
                    "{notes_url}?sort=asc&order_by=created_at&per_page={PAGE_SIZE}&page={page}"
                );
                async move {
                    this.call::<Vec<Note>>(
                        "cannot list the merge request's notes",
                        Method::GET,
                        &url,
                        None,
                    )
                    .await
                }
            },
            |note| {
                (
                    note.id,
                    note.body.as_deref(),
                    note.author.as_ref().map(|user| user.username.as_str()),
                )
            },
        )
        .await
    }

    async fn create(&mut self, body: &str) -> Result<u64, ApiError> {
        let notes_url = self.notes_url().await?;
        let note: Note = self
            .call(
                "cannot create the merge-request note",
                Method::POST,
                &notes_url,
                Some(&json!({ "body": body })),
            )
            .await?;
        self.published.comment(note.id);
        Ok(note.id)
    }

    async fn update(&mut self, id: u64, body: &str) -> Result<(), ApiError> {
        let notes_url = self.notes_url().await?;
        let _: Note = self
            .call(
                "cannot update the merge-request note",
                Method::PUT,
                &format!("{notes_url}/{id}"),
                Some(&json!({ "body": body })),
            )
            .await?;
        self.published.comment(id);
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
