//! The GitLab CI runtime protocol: the files the job's `artifacts:reports`
//! pick up, and what the merge-request note needs. The note itself is in
//! [`report`].

pub mod report;

use crate::secrets::Secret;
use crate::template::CiFacts;

/// Read by `artifacts:reports:junit` in the component (relative to the project directory).
pub const JUNIT_FILE: &str = "greenlight-junit.xml";
/// Read by `artifacts:reports:dotenv`.
pub const DOTENV_FILE: &str = "greenlight.env";

#[derive(Debug, Clone)]
pub struct Settings {
    /// `GITLAB_TOKEN`: a project or personal access token with the `api`
    /// scope. `CI_JOB_TOKEN` is not accepted by the notes API.
    pub token: Option<Secret>,
    /// Keep the sticky merge-request note (`GREENLIGHT_COMMENT`, default true).
    pub comment: bool,
    pub environment: String,
    /// `CI_API_V4_URL`, e.g. `https://gitlab.com/api/v4`.
    pub api_url: Option<String>,
    pub project_id: Option<String>,
    /// `CI_MERGE_REQUEST_IID`: only set in merge-request pipelines.
    pub merge_request: Option<u64>,
    /// `CI_COMMIT_SHA`: a branch pipeline finds its merge request from it.
    pub sha: Option<String>,
    /// The job's page (`CI_JOB_URL`), for the chat notification.
    pub run_url: Option<String>,
    /// The note's id, for the `GREENLIGHT_COMMENT_ID` dotenv variable.
    pub published: super::Published,
}

impl Settings {
    pub fn from_env(lookup: &dyn Fn(&str) -> Option<String>, facts: &CiFacts) -> Self {
        Self {
            token: Secret::new(lookup("GITLAB_TOKEN")),
            comment: super::github::flag(lookup, "GREENLIGHT_COMMENT", true),
            environment: super::environment(lookup),
            api_url: lookup("CI_API_V4_URL").filter(|url| !url.is_empty()),
            project_id: lookup("CI_PROJECT_ID").filter(|id| !id.is_empty()),
            merge_request: facts.pr,
            sha: facts.sha.clone(),
            run_url: facts.run_url.clone(),
            published: super::Published::default(),
        }
    }
}

/// A dotenv file as GitLab reads it: `NAME=value` lines, no quoting, and no
/// multiline values (GitLab rejects them), so line breaks become spaces.
pub fn dotenv(pairs: &[(&str, String)]) -> String {
    pairs
        .iter()
        .map(|(name, value)| format!("{name}={}\n", value.replace(['\r', '\n'], " ")))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dotenv_values_stay_on_one_line() {
        assert_eq!(
            dotenv(&[
                ("GREENLIGHT_OUTCOME", "promoted".into()),
                ("X", "a\nb".into())
            ]),
            "GREENLIGHT_OUTCOME=promoted\nX=a b\n"
        );
    }
}
