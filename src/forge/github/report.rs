//! GitHub: the sticky pull-request comment and the deployment with its
//! statuses, through octocrab's raw routes. octocrab's `update_comment` sends
//! POST where GitHub wants PATCH, and it has no typed deployments API.

use async_trait::async_trait;
use octocrab::Octocrab;
use serde::Deserialize;
use serde_json::json;

use super::Settings;
use crate::engine::{Event, EventKind, Outcome};
use crate::forge::{Author, PAGE_SIZE, Published, find_ours};
use crate::report::Report;
use crate::report::live::{CALL_TIMEOUT, CONNECT_TIMEOUT, ForgeReporter, Warnings};
use crate::report::sticky::{ApiError, NoteApi};

/// A client for one repository.
#[derive(Clone)]
pub struct GitHubApi {
    crab: Octocrab,
    repository: String,
}

#[derive(Deserialize)]
struct Comment {
    id: u64,
    #[serde(default)]
    body: Option<String>,
    #[serde(default)]
    user: Option<User>,
}

#[derive(Deserialize)]
struct User {
    login: String,
}

#[derive(Deserialize)]
struct Deployment {
    id: u64,
    #[serde(default)]
    description: Option<String>,
}

#[derive(Deserialize)]
struct PullRequest {
    number: u64,
}

#[derive(Deserialize)]
struct Created {
    id: Option<u64>,
    #[serde(default)]
    message: Option<String>,
}

/// Turns an octocrab error into a message with what to do about it.
fn classify(what: &str, error: octocrab::Error) -> ApiError {
    match error {
        octocrab::Error::GitHub { source, .. } => {
            let status = source.status_code.as_u16();
            let message = format!("{what}: GitHub answered {status}: {}", source.message);
            match status {
                401 | 403 | 404 => ApiError::Stop(format!(
                    "{message} (the token needs `pull-requests: write` for the comment and `deployments: write` for deployments; on pull requests from forks it is read-only)"
                )),
                422 => ApiError::Stop(message),
                _ => ApiError::Retry(message),
            }
        }
        other => ApiError::Retry(format!("{what}: {other}")),
    }
}

impl GitHubApi {
    pub fn new(settings: &Settings) -> Result<Self, String> {
        let token = settings.token.as_ref().ok_or(
            "no GitHub token: set GREENLIGHT_GITHUB_TOKEN (the action passes `github-token`)",
        )?;
        let repository = settings
            .repository
            .clone()
            .ok_or("GITHUB_REPOSITORY is not set")?;
        let crab = Octocrab::builder()
            .base_uri(settings.api_url.as_str())
            .map_err(|error| format!("GITHUB_API_URL={} is not a URL: {error}", settings.api_url))?
            .personal_token(token.expose().to_owned())
            // Built without octocrab's `retry` feature: a live update is
            // superseded by the next one anyway, and the final report has its
            // own time limit over all its calls.
            .set_connect_timeout(Some(CONNECT_TIMEOUT))
            .set_read_timeout(Some(CALL_TIMEOUT))
            .set_write_timeout(Some(CALL_TIMEOUT))
            .build()
            .map_err(|error| format!("cannot build the GitHub client: {error}"))?;
        Ok(Self { crab, repository })
    }

    fn route(&self, path: &str) -> String {
        format!("/repos/{}/{path}", self.repository)
    }

    /// Who the token is (`GET /user`); an app installation token cannot ask.
    async fn login(&self) -> Result<String, ApiError> {
        let user: User = self
            .crab
            .get("/user", None::<&()>)
            .await
            .map_err(|error| classify("cannot ask GitHub who the token is", error))?;
        Ok(user.login)
    }

    /// The pull request a pushed commit came from (the first GitHub lists).
    async fn pull_request_of(&self, sha: &str) -> Result<Option<u64>, ApiError> {
        let pulls: Vec<PullRequest> = self
            .crab
            .get(self.route(&format!("commits/{sha}/pulls")), None::<&()>)
            .await
            .map_err(|error| classify("cannot find the pull request of the commit", error))?;
        Ok(pulls.first().map(|pull| pull.number))
    }
}

/// The sticky comment on the run's pull request: the event's, or for a push
/// the one the commit belongs to.
pub struct PullRequestComments {
    api: GitHubApi,
    pr: Option<u64>,
    sha: Option<String>,
    author: Author,
    published: Published,
    /// Where a problem that does not stop the comment is said.
    warnings: Warnings,
}

impl PullRequestComments {
    pub fn new(api: GitHubApi, settings: &Settings, warnings: Warnings) -> Self {
        Self {
            api,
            pr: settings.pr,
            sha: settings.sha.clone(),
            author: Author::given(settings.comment_author.clone()),
            published: settings.published.clone(),
            warnings,
        }
    }

    /// The login whose comment is ours, asked once; `None` when GitHub cannot
    /// say (the marker alone then finds the comment).
    async fn author(&mut self) -> Option<String> {
        if matches!(self.author, Author::Unknown) {
            let asked = self.api.login().await.map_err(ApiError::into_message);
            self.author = Author::asked(
                asked,
                "GREENLIGHT_COMMENT_AUTHOR (the action sets github-actions[bot] for the job token)",
                &self.warnings,
            );
        }
        self.author.login()
    }

    async fn number(&mut self) -> Result<u64, ApiError> {
        if let Some(pr) = self.pr {
            return Ok(pr);
        }
        let Some(sha) = self.sha.clone() else {
            return Err(ApiError::Skip(
                "no pull request to comment on (no GITHUB_SHA)".to_owned(),
            ));
        };
        match self.api.pull_request_of(&sha).await? {
            Some(pr) => {
                self.pr = Some(pr);
                Ok(pr)
            }
            None => Err(ApiError::Skip(format!(
                "commit {sha} belongs to no pull request: no comment, the job summary has the report"
            ))),
        }
    }
}

#[async_trait]
impl NoteApi for PullRequestComments {
    async fn find(&mut self, marker: &str) -> Result<Option<u64>, ApiError> {
        let pr = self.number().await?;
        let author = self.author().await;
        let api = &self.api;
        let route = api.route(&format!("issues/{pr}/comments"));
        find_ours(
            marker,
            author.as_deref(),
            |page| {
                let route = &route;
                async move {
                    api.crab
                        .get::<Vec<Comment>, _, _>(
                            route,
                            Some(&[("per_page", PAGE_SIZE), ("page", page)]),
                        )
                        .await
                        .map_err(|error| classify("cannot list the pull request's comments", error))
                }
            },
            |comment| {
                (
                    comment.id,
                    comment.body.as_deref(),
                    comment.user.as_ref().map(|user| user.login.as_str()),
                )
            },
        )
        .await
    }

    async fn create(&mut self, body: &str) -> Result<u64, ApiError> {
        let pr = self.number().await?;
        let created: Comment = self
            .api
            .crab
            .post(
                self.api.route(&format!("issues/{pr}/comments")),
                Some(&json!({ "body": body })),
            )
            .await
            .map_err(|error| classify("cannot create the pull request comment", error))?;
        self.published.comment(created.id);
        Ok(created.id)
    }

    async fn update(&mut self, id: u64, body: &str) -> Result<(), ApiError> {
        let _: Comment = self
            .api
            .crab
            .patch(
                self.api.route(&format!("issues/comments/{id}")),
                Some(&json!({ "body": body })),
            )
            .await
            .map_err(|error| classify("cannot update the pull request comment", error))?;
        self.published.comment(id);
        Ok(())
    }
}

/// One GitHub deployment per rollout: `in_progress` when it starts, then
/// `success` (promoted), `failure` (rolled back or failed) or `inactive`
/// (halted: neither live nor gone until a person decides). A command run by
/// hand (`promote`, `rollback`, `abort`) updates the deployment its rollout
/// made, and makes one only when there is none (`rollback --version` to an
/// earlier release).
pub struct DeploymentReporter {
    api: GitHubApi,
    environment: String,
    environment_url: Option<String>,
    run_url: Option<String>,
    sha: Option<String>,
    /// Look for the rollout's deployment before making one.
    reuse: bool,
    published: Published,
    id: Option<u64>,
    /// Whether creating the deployment was tried (once per run).
    tried: bool,
}

/// Deployments are listed newest first; the rollout's is among the latest.
const RECENT_DEPLOYMENTS: u32 = 100;

impl DeploymentReporter {
    pub fn new(api: GitHubApi, settings: &Settings) -> Self {
        Self {
            api,
            environment: settings.environment.clone(),
            environment_url: settings.environment_url.clone(),
            run_url: settings.run_url.clone(),
            sha: settings.sha.clone(),
            reuse: false,
            published: settings.published.clone(),
            id: None,
            tried: false,
        }
    }

    /// For a command run by hand: updates the deployment of the rollout it
    /// acts on.
    pub fn reusing(mut self) -> Self {
        self.reuse = true;
        self
    }

    /// Creates (or finds) the deployment and marks it in progress, once.
    async fn start(&mut self, name: &str, stable: &str, new: &str) -> Result<(), String> {
        if self.tried {
            return Ok(());
        }
        self.tried = true;
        let description = format!("greenlight: {name} {stable} → {new}");
        let found = if self.reuse {
            self.find(&description).await?
        } else {
            None
        };
        let id = match found {
            Some(id) => id,
            None => self.create(&description).await?,
        };
        self.id = Some(id);
        self.published.deployment(id);
        self.status(id, "in_progress", &description).await
    }

    /// The newest deployment of this environment that the rollout of these
    /// versions made (its description names them).
    async fn find(&self, description: &str) -> Result<Option<u64>, String> {
        let deployments: Vec<Deployment> = self
            .api
            .crab
            .get(
                self.api.route("deployments"),
                Some(&[
                    ("environment", self.environment.clone()),
                    ("per_page", RECENT_DEPLOYMENTS.to_string()),
                ]),
            )
            .await
            .map_err(|error| {
                ApiError::into_message(classify("cannot list the deployments", error))
            })?;
        Ok(deployments
            .iter()
            .find(|deployment| deployment.description.as_deref() == Some(description))
            .map(|deployment| deployment.id))
    }

    async fn create(&self, description: &str) -> Result<u64, String> {
        let sha = self.sha.as_deref().ok_or("no GITHUB_SHA to deploy from")?;
        let created: Created = self
            .api
            .crab
            .post(
                self.api.route("deployments"),
                Some(&crate::secrets::mask_json(&json!({
                    "ref": sha,
                    "environment": self.environment,
                    "description": description,
                    // greenlight deploys the commit as built; GitHub must not
                    // merge the default branch in or wait for checks.
                    "auto_merge": false,
                    "required_contexts": [],
                }))),
            )
            .await
            .map_err(|error| {
                ApiError::into_message(classify("cannot create the deployment", error))
            })?;
        created.id.ok_or_else(|| {
            format!(
                "GitHub did not create the deployment: {}",
                created.message.unwrap_or_default()
            )
        })
    }

    async fn status(&self, id: u64, state: &str, description: &str) -> Result<(), String> {
        let mut body = json!({
            "state": state,
            "description": truncate_description(description),
            "environment": self.environment,
        });
        if let Some(url) = &self.run_url {
            body["log_url"] = json!(url);
        }
        if let Some(url) = &self.environment_url {
            body["environment_url"] = json!(url);
        }
        let _: serde_json::Value = self
            .api
            .crab
            .post(
                self.api.route(&format!("deployments/{id}/statuses")),
                Some(&crate::secrets::mask_json(&body)),
            )
            .await
            .map_err(|error| {
                ApiError::into_message(classify(
                    &format!("cannot set the deployment status to {state}"),
                    error,
                ))
            })?;
        Ok(())
    }
}

/// GitHub caps a status description at 140 characters.
fn truncate_description(text: &str) -> String {
    if text.chars().count() <= 140 {
        return text.to_owned();
    }
    // 139 characters and the ellipsis: GitHub refuses more than 140.
    crate::text::shorten(text, 139)
}

#[async_trait]
impl ForgeReporter for DeploymentReporter {
    async fn update(&mut self, events: &[Event]) -> Result<(), String> {
        for event in events {
            if let EventKind::Started {
                name,
                stable_version,
                new_version,
            } = &event.kind
            {
                return self.start(name, stable_version, new_version).await;
            }
        }
        Ok(())
    }

    async fn finish(&mut self, report: &Report) -> Result<(), String> {
        // The live update may never have gone out (the rollout ended first).
        self.start(&report.name, &report.stable_version, &report.new_version)
            .await?;
        let Some(id) = self.id else {
            return Ok(());
        };
        let state = match report.outcome {
            Outcome::Promoted => "success",
            Outcome::RolledBack | Outcome::Failed => "failure",
            Outcome::Halted | Outcome::Planned => "inactive",
        };
        let headline = crate::report::markdown::headline(report).replace("**", "");
        self.status(id, state, &headline).await
    }
}
