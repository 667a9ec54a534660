//! The CI pages a report links: the run itself, and the page that starts the
//! manual workflow (`workflow_dispatch`) a person finishes a halted rollout
//! with. Read from the CI's environment; never with credentials.

use crate::report::links::public_url;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CiLinks {
    /// The GitHub Actions run, or the GitLab job.
    pub run: Option<String>,
    /// Where the manual workflow is started.
    pub dispatch: Option<String>,
}

/// `dispatch_workflow` is `report.dispatchWorkflow`: a workflow file name
/// (or its path under `.github/workflows/`).
pub fn ci_links(
    lookup: &dyn Fn(&str) -> Option<String>,
    dispatch_workflow: Option<&str>,
) -> CiLinks {
    let facts = super::detect(lookup);
    let run = facts.run_url.as_deref().and_then(public_url);
    let dispatch = match facts.provider.as_str() {
        "github" => github_dispatch(lookup, dispatch_workflow),
        "gitlab" => gitlab_dispatch(lookup),
        _ => None,
    };
    CiLinks { run, dispatch }
}

/// `<server>/<owner>/<repo>/actions/workflows/<file>`, whose "Run workflow"
/// button asks for the inputs: the configured workflow, else this one when
/// it was itself dispatched by hand (so it has a `workflow_dispatch`).
fn github_dispatch(
    lookup: &dyn Fn(&str) -> Option<String>,
    dispatch_workflow: Option<&str>,
) -> Option<String> {
    let file = match dispatch_workflow {
        Some(file) => file.to_owned(),
        None if lookup("GITHUB_EVENT_NAME").as_deref() == Some("workflow_dispatch") => {
            // `owner/repo/.github/workflows/deploy.yml@refs/heads/main`
            let workflow_ref = lookup("GITHUB_WORKFLOW_REF")?;
            workflow_ref.split('@').next()?.to_owned()
        }
        None => return None,
    };
    let file = file.rsplit('/').next().filter(|file| !file.is_empty())?;
    let server = lookup("GITHUB_SERVER_URL")?;
    let repository = lookup("GITHUB_REPOSITORY")?;
    public_url(&format!(
        "{}/{repository}/actions/workflows/{file}",
        server.trim_end_matches('/')
    ))
}

/// GitLab's "Run pipeline" page for this branch, when this pipeline was
/// itself started from it (so the project runs greenlight by hand that way).
fn gitlab_dispatch(lookup: &dyn Fn(&str) -> Option<String>) -> Option<String> {
    if lookup("CI_PIPELINE_SOURCE").as_deref() != Some("web") {
        return None;
    }
    let project = lookup("CI_PROJECT_URL")?;
    let mut url = reqwest::Url::parse(&public_url(&format!(
        "{}/-/pipelines/new",
        project.trim_end_matches('/')
    ))?)
    .ok()?;
    if let Some(branch) = lookup("CI_COMMIT_REF_NAME") {
        url.query_pairs_mut().append_pair("ref", &branch);
    }
    Some(url.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::forge::tests::env;

    const GITHUB: &[(&str, &str)] = &[
        ("GITHUB_ACTIONS", "true"),
        (
            "GITHUB_SERVER_URL",
            "https://x-access-token:ghs_secret@github.example",
        ),
        ("GITHUB_REPOSITORY", "acme/shop"),
        ("GITHUB_RUN_ID", "7"),
        (
            "GITHUB_WORKFLOW_REF",
            "acme/shop/.github/workflows/deploy.yml@refs/heads/main",
        ),
    ];

    #[test]
    fn github_links_the_run_and_the_manual_workflow_without_credentials() {
        let links = ci_links(&env(GITHUB), Some(".github/workflows/manual.yml"));
        assert_eq!(
            links,
            CiLinks {
                run: Some("https://github.example/acme/shop/actions/runs/7".to_owned()),
                dispatch: Some(
                    "https://github.example/acme/shop/actions/workflows/manual.yml".to_owned()
                ),
            }
        );
        // Without the setting, only a workflow that was dispatched has the button.
        assert_eq!(ci_links(&env(GITHUB), None).dispatch, None);
        let mut dispatched = GITHUB.to_vec();
        dispatched.push(("GITHUB_EVENT_NAME", "workflow_dispatch"));
        assert_eq!(
            ci_links(&env(&dispatched), None).dispatch.as_deref(),
            Some("https://github.example/acme/shop/actions/workflows/deploy.yml")
        );
    }

    #[test]
    fn gitlab_links_the_job_and_the_run_pipeline_page() {
        let lookup = env(&[
            ("GITLAB_CI", "true"),
            ("CI_JOB_URL", "https://gitlab.example/acme/shop/-/jobs/9"),
            ("CI_PROJECT_URL", "https://gitlab.example/acme/shop"),
            ("CI_PIPELINE_SOURCE", "web"),
            ("CI_COMMIT_REF_NAME", "main"),
        ]);
        assert_eq!(
            ci_links(&lookup, None),
            CiLinks {
                run: Some("https://gitlab.example/acme/shop/-/jobs/9".to_owned()),
                dispatch: Some(
                    "https://gitlab.example/acme/shop/-/pipelines/new?ref=main".to_owned()
                ),
            }
        );
        assert_eq!(ci_links(&env(&[]), None), CiLinks::default());
    }
}
