//! The CI systems greenlight runs in (forges): which one runs us, the facts
//! templates and reports need from it, and per forge its runtime protocol and
//! its reporters (PR/MR comments, deployments).

pub mod github;
pub mod gitlab;
pub mod links;
pub mod session;

use std::future::Future;
use std::sync::{Arc, Mutex};

use crate::template::{CiFacts, CiJob};

/// The ids of what the forge reporters wrote (the comment or note, the
/// deployment), shared between the background task that writes them and the
/// outputs published at the end. Clones share the same ids.
#[derive(Debug, Clone, Default)]
pub struct Published(Arc<Mutex<PublishedIds>>);

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PublishedIds {
    pub comment: Option<u64>,
    pub deployment: Option<u64>,
}

impl Published {
    fn with(&self, change: impl FnOnce(&mut PublishedIds)) {
        change(
            &mut self
                .0
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner()),
        );
    }

    pub fn comment(&self, id: u64) {
        self.with(|ids| ids.comment = Some(id));
    }

    pub fn deployment(&self, id: u64) {
        self.with(|ids| ids.deployment = Some(id));
    }

    pub fn ids(&self) -> PublishedIds {
        *self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Whose PR/MR comment is ours: a comment that carries the marker but was
/// written by someone else is left alone (updating it would fail, and it is
/// not ours to change).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Author {
    /// Not asked yet.
    Unknown,
    Is(String),
    /// The forge could not say who the token is: the marker alone decides.
    Anyone,
}

impl Author {
    pub(crate) fn given(login: Option<String>) -> Self {
        login.map_or(Self::Unknown, Self::Is)
    }

    /// What the forge answered when asked who the token is; a failure is a
    /// warning that says how to name the author instead.
    pub(crate) fn asked(
        answer: Result<String, String>,
        setting: &str,
        warnings: &crate::report::live::Warnings,
    ) -> Self {
        match answer {
            Ok(login) => Self::Is(login),
            Err(error) => {
                warnings.note(&format!(
                    "{error}: the comment is found by its marker alone, so a comment someone else wrote with it would be taken for ours; set {setting}"
                ));
                Self::Anyone
            }
        }
    }

    pub(crate) fn login(&self) -> Option<String> {
        match self {
            Self::Is(login) => Some(login.clone()),
            Self::Unknown | Self::Anyone => None,
        }
    }
}

/// Comments and notes are listed this many to a page.
pub(crate) const PAGE_SIZE: u32 = 100;

/// Pages looked through for our comment: 10,000 comments.
const MAX_PAGES: u32 = 100;

/// What tells whether a listed PR comment or MR note is ours: its id, its
/// body and who wrote it.
pub(crate) type Listed<'a> = (u64, Option<&'a str>, Option<&'a str>);

/// The id of the first listed comment that is ours, looked for a page at a
/// time: `page(n)` lists page `n` (from 1, [`PAGE_SIZE`] to a page); a short
/// page is the last.
pub(crate) async fn find_ours<C, E, Pages>(
    marker: &str,
    author: Option<&str>,
    mut page: impl FnMut(u32) -> Pages,
    listed: impl Fn(&C) -> Listed<'_>,
) -> Result<Option<u64>, E>
where
    Pages: Future<Output = Result<Vec<C>, E>>,
{
    for number in 1..=MAX_PAGES {
        let comments = page(number).await?;
        let ours = comments
            .iter()
            .map(&listed)
            .find(|(_, body, written_by)| is_ours(*body, *written_by, marker, author));
        if let Some((id, _, _)) = ours {
            return Ok(Some(id));
        }
        if comments.len() < PAGE_SIZE as usize {
            break;
        }
    }
    Ok(None)
}

/// A comment is ours when it carries the marker and, when the author is
/// known, was written by them.
fn is_ours(
    body: Option<&str>,
    written_by: Option<&str>,
    marker: &str,
    author: Option<&str>,
) -> bool {
    body.is_some_and(|body| body.contains(marker))
        && author.is_none_or(|author| written_by == Some(author))
}

/// Reads the CI facts from environment variables (`lookup` is `std::env::var`
/// in production, a map in tests).
pub fn detect(lookup: impl Fn(&str) -> Option<String>) -> CiFacts {
    let mut facts = run_facts(&lookup);
    facts.job = job_name(&facts, &lookup);
    facts.job_attempt = job_attempt(&facts, &lookup);
    facts
}

fn run_facts(lookup: &impl Fn(&str) -> Option<String>) -> CiFacts {
    let is = |name: &str| lookup(name).is_some_and(|value| value == "true");
    if is("GITHUB_ACTIONS") {
        let run_url = match (
            lookup("GITHUB_SERVER_URL"),
            lookup("GITHUB_REPOSITORY"),
            lookup("GITHUB_RUN_ID"),
        ) {
            (Some(server), Some(repository), Some(run)) => {
                Some(format!("{server}/{repository}/actions/runs/{run}"))
            }
            _ => None,
        };
        let git_ref = lookup("GITHUB_REF");
        let event = lookup("GITHUB_EVENT_PATH")
            .filter(|path| !path.is_empty())
            .map(|path| github::EventPayload::read(std::path::Path::new(&path)))
            .unwrap_or_default();
        // pull_request events run on refs/pull/<number>/merge.
        let pr = event.pr.or_else(|| {
            git_ref
                .as_deref()
                .and_then(|r| r.strip_prefix("refs/pull/"))
                .and_then(|rest| rest.split('/').next())
                .and_then(|number| number.parse().ok())
        });
        CiFacts {
            provider: "github".into(),
            sha: lookup("GITHUB_SHA"),
            git_ref,
            pr,
            run_url,
            inputs: event.inputs,
            job: None,
            job_attempt: None,
        }
    } else if is("GITLAB_CI") {
        CiFacts {
            provider: "gitlab".into(),
            sha: lookup("CI_COMMIT_SHA"),
            git_ref: lookup("CI_COMMIT_REF_NAME"),
            pr: lookup("CI_MERGE_REQUEST_IID").and_then(|iid| iid.parse().ok()),
            run_url: lookup("CI_JOB_URL").or_else(|| lookup("CI_PIPELINE_URL")),
            inputs: Default::default(),
            job: None,
            job_attempt: None,
        }
    } else {
        CiFacts {
            provider: "local".into(),
            ..CiFacts::default()
        }
    }
}

/// "<run URL> attempt <n> job <id>", naming the one CI job (two jobs of one
/// run, or two attempts, are different lock holders).
fn job_name(facts: &CiFacts, lookup: &impl Fn(&str) -> Option<String>) -> Option<String> {
    let url = facts.run_url.clone()?;
    let parts = match facts.provider.as_str() {
        "github" => [("attempt", "GITHUB_RUN_ATTEMPT"), ("job", "GITHUB_JOB")],
        "gitlab" => [("pipeline", "CI_PIPELINE_ID"), ("job", "CI_JOB_ID")],
        _ => return Some(url),
    };
    let mut name = url;
    for (label, variable) in parts {
        if let Some(value) = lookup(variable).filter(|value| !value.is_empty()) {
            name.push_str(&format!(" {label} {value}"));
        }
    }
    Some(name)
}

/// The job this process runs as across its attempts, if the CI system says enough.
fn job_attempt(facts: &CiFacts, lookup: &impl Fn(&str) -> Option<String>) -> Option<CiJob> {
    let value = |name: &str| lookup(name).filter(|value| !value.is_empty());
    let is = |name: &str| value(name).is_some_and(|value| value == "true");
    let (run, job, attempt) = if is("GITHUB_ACTIONS") {
        (
            facts.run_url.clone()?,
            value("GITHUB_JOB")?,
            value("GITHUB_RUN_ATTEMPT")?,
        )
    } else if is("GITLAB_CI") {
        (
            value("CI_PIPELINE_URL").or_else(|| value("CI_PIPELINE_ID"))?,
            value("CI_JOB_NAME")?,
            value("CI_JOB_ID")?,
        )
    } else {
        return None;
    };
    Some(CiJob {
        job: format!("{run} job {job}"),
        attempt: attempt.parse().ok()?,
    })
}

pub fn is_gitlab_ci() -> bool {
    std::env::var("GITLAB_CI").is_ok_and(|value| value == "true")
}

/// The environment reports name (the comment marker, deployments):
/// `GREENLIGHT_ENVIRONMENT`, else GitLab's job environment, else production.
pub fn environment(lookup: &dyn Fn(&str) -> Option<String>) -> String {
    ["GREENLIGHT_ENVIRONMENT", "CI_ENVIRONMENT_NAME"]
        .iter()
        .find_map(|name| lookup(name).filter(|value| !value.trim().is_empty()))
        .unwrap_or_else(|| "production".to_owned())
}

pub fn is_github_actions() -> bool {
    std::env::var("GITHUB_ACTIONS").is_ok_and(|value| value == "true")
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    pub(super) fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| map.get(name).cloned()
    }

    /// `total` comments, ours (if any) with the id `ours`: what was found and the pages listed.
    async fn look_through(total: u64, ours: Option<u64>) -> (Option<u64>, Vec<u32>) {
        let mut asked = Vec::new();
        let marked = |id| {
            if Some(id) == ours {
                "<!-- ours -->"
            } else {
                "LGTM"
            }
        };
        let found = find_ours(
            "<!-- ours -->",
            Some("bot"),
            |page| {
                asked.push(page);
                let first = u64::from(page - 1) * u64::from(PAGE_SIZE);
                let ids: Vec<u64> = (first..total.min(first + u64::from(PAGE_SIZE))).collect();
                std::future::ready(Ok::<_, ()>(ids))
            },
            |&id| (id, Some(marked(id)), Some("bot")),
        )
        .await;
        (found.unwrap_or_default(), asked)
    }

    #[tokio::test]
    async fn our_comment_is_found_on_a_later_page_and_a_short_page_is_the_last() {
        assert_eq!(look_through(250, Some(130)).await, (Some(130), vec![1, 2]));
        assert_eq!(look_through(250, None).await, (None, vec![1, 2, 3]));
        assert_eq!(look_through(200, None).await, (None, vec![1, 2, 3]));
        assert_eq!(look_through(0, None).await, (None, vec![1]));
    }

    #[test]
    fn a_comment_is_ours_by_marker_and_author() {
        let marker = "<!-- greenlight:checkout:production -->";
        let body = Some("<!-- greenlight:checkout:production -->\nreport");
        assert!(is_ours(body, Some("bot"), marker, Some("bot")));
        assert!(!is_ours(body, Some("alice"), marker, Some("bot")));
        assert!(!is_ours(body, None, marker, Some("bot")));
        assert!(is_ours(body, Some("alice"), marker, None));
        assert!(!is_ours(Some("LGTM"), Some("bot"), marker, Some("bot")));
        assert_eq!(Author::given(None), Author::Unknown);
        let said = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let warnings = crate::report::live::Warnings::to({
            let said = said.clone();
            move |line| said.lock().unwrap().push(line.to_owned())
        });
        assert_eq!(
            Author::asked(Err("403".into()), "X", &warnings).login(),
            None
        );
        assert_eq!(
            Author::asked(Ok("bot".into()), "X", &warnings)
                .login()
                .as_deref(),
            Some("bot")
        );
        warnings.say();
        let said = said.lock().unwrap();
        assert_eq!(said.len(), 1, "{said:?}");
        assert!(said[0].contains("403: the comment is found by its marker alone"));
        assert!(said[0].contains("set X"));
    }

    #[test]
    fn reads_github_pull_requests() {
        let facts = detect(env(&[
            ("GITHUB_ACTIONS", "true"),
            ("GITHUB_SHA", "abc123"),
            ("GITHUB_REF", "refs/pull/42/merge"),
            ("GITHUB_SERVER_URL", "https://github.com"),
            ("GITHUB_REPOSITORY", "acme/shop"),
            ("GITHUB_RUN_ID", "7"),
        ]));
        assert_eq!(facts.provider, "github");
        assert_eq!(facts.pr, Some(42));
        assert_eq!(
            facts.run_url.as_deref(),
            Some("https://github.com/acme/shop/actions/runs/7")
        );
    }

    #[test]
    fn the_event_payload_gives_the_pr_and_the_dispatch_inputs() {
        let dir = std::env::temp_dir().join(format!("greenlight-event-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let event = dir.join("event.json");
        std::fs::write(
            &event,
            r#"{"pull_request": {"number": 12}, "inputs": {"version": "v3"}}"#,
        )
        .unwrap();
        let facts = detect(env(&[
            ("GITHUB_ACTIONS", "true"),
            ("GITHUB_REF", "refs/heads/main"),
            ("GITHUB_EVENT_PATH", event.to_str().unwrap()),
        ]));
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(facts.pr, Some(12));
        assert_eq!(facts.inputs["version"], "v3");
    }

    #[test]
    fn switches_and_the_environment_have_defaults() {
        let lookup = env(&[
            ("GITHUB_ACTIONS", "true"),
            ("GREENLIGHT_SUMMARY", "false"),
            ("GREENLIGHT_COMMENT", "maybe"),
            ("CI_ENVIRONMENT_NAME", "staging"),
        ]);
        let settings = github::Settings::from_env(&lookup, &detect(&lookup));
        assert!(!settings.summary && settings.comment && !settings.deployment);
        assert_eq!(settings.environment, "staging");
        assert_eq!(settings.api_url, "https://api.github.com");
        assert_eq!(settings.token, None);
    }

    #[test]
    fn reads_gitlab_merge_requests_and_defaults_to_local() {
        let facts = detect(env(&[("GITLAB_CI", "true"), ("CI_MERGE_REQUEST_IID", "9")]));
        assert_eq!((facts.provider.as_str(), facts.pr), ("gitlab", Some(9)));
        assert_eq!(detect(env(&[])).provider, "local");
    }

    #[test]
    fn two_jobs_of_one_ci_run_have_different_names() {
        let env = |job: &'static str| {
            move |name: &str| {
                match name {
                    "GITHUB_ACTIONS" => Some("true"),
                    "GITHUB_SERVER_URL" => Some("https://github.com"),
                    "GITHUB_REPOSITORY" => Some("acme/shop"),
                    "GITHUB_RUN_ID" => Some("42"),
                    "GITHUB_RUN_ATTEMPT" => Some("2"),
                    "GITHUB_JOB" => Some(job),
                    "HOSTNAME" => Some("runner-7"),
                    _ => None,
                }
                .map(str::to_owned)
            }
        };
        let deploy = detect(env("deploy")).job;
        assert_eq!(
            deploy.as_deref(),
            Some("https://github.com/acme/shop/actions/runs/42 attempt 2 job deploy")
        );
        assert_ne!(deploy, detect(env("canary")).job);
    }
}
