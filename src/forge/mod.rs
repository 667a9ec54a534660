//! The CI systems greenlight runs in (forges): which one runs us, the facts
//! templates and reports need from it, and per forge its runtime protocol and
//! its reporters (PR/MR comments, deployments).

pub mod github;
pub mod gitlab;
pub mod links;
pub mod session;

use crate::template::CiFacts;

/// Reads the CI facts from environment variables (`lookup` is `std::env::var`
/// in production, a map in tests).
pub fn detect(lookup: impl Fn(&str) -> Option<String>) -> CiFacts {
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
        }
    } else if is("GITLAB_CI") {
        CiFacts {
            provider: "gitlab".into(),
            sha: lookup("CI_COMMIT_SHA"),
            git_ref: lookup("CI_COMMIT_REF_NAME"),
            pr: lookup("CI_MERGE_REQUEST_IID").and_then(|iid| iid.parse().ok()),
            run_url: lookup("CI_JOB_URL").or_else(|| lookup("CI_PIPELINE_URL")),
            inputs: Default::default(),
        }
    } else {
        CiFacts {
            provider: "local".into(),
            ..CiFacts::default()
        }
    }
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
}
