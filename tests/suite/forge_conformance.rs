//! Conformance: the GitHub and GitLab fakes answer with the real example
//! bodies from the reference folder, and what greenlight sends is checked
//! against the documented request examples and schemas. Runs only when
//! GREENLIGHT_REFERENCE is set (`.ci/run` always sets it).

use std::collections::BTreeSet;
use std::path::Path;

use greenlight::engine::Outcome;
use greenlight::forge::session::{Command, Platform, Rollout};
use greenlight::report::Reporter;
use serde_json::Value;

use crate::github::SPEC;
use crate::support::ci::{self, calls, lines, serving};
use crate::support::reference::{read, reference_dir};
use crate::support::*;

const COMMENTS: &str = r"^/repos/acme/shop/issues/7/comments$";
const COMMENT: &str = r"^/repos/acme/shop/issues/comments/\d+$";
const DEPLOYMENTS: &str = r"^/repos/acme/shop/deployments$";
const STATUSES: &str = r"^/repos/acme/shop/deployments/\d+/statuses$";

fn json(dir: &Path, file: &str) -> Value {
    serde_json::from_str(&read(dir, file)).unwrap_or_else(|error| panic!("{file}: {error}"))
}

/// A healthy rollout reporting to `platform`: its outcome.
async fn run_on(platform: Platform) -> Outcome {
    let given = given(SPEC).metric("error-rate", vec![data(0.004), data(0.01)]);
    let reporters = reporters(platform, &given);
    given.when_run_with(reporters).await.outcome()
}

fn reporters(platform: Platform, given: &Given) -> Vec<Box<dyn Reporter>> {
    platform.forge_reporters(&Rollout {
        command: Command::Run,
        release: &ci::release(),
        plan: &given.plan(),
        title: None,
        plan_text: None,
        final_limit: greenlight::spec::types::DEFAULT_FINAL_TIMEOUT,
        links: Default::default(),
    })
}

fn keys(value: &Value) -> BTreeSet<String> {
    value
        .as_object()
        .map(|object| object.keys().cloned().collect())
        .unwrap_or_default()
}

/// Request fields GitHub documents for a route: its examples' and the resource schema's.
fn documented(dir: &Path, route: &str, schema: &str) -> BTreeSet<String> {
    let examples = json(dir, "github/request-body-examples.2022-07.json");
    let mut fields: BTreeSet<String> = examples[route]
        .as_object()
        .unwrap_or_else(|| panic!("no request example for {route}"))
        .values()
        .flat_map(|example| keys(&example["value"]))
        .collect();
    fields.extend(keys(
        &json(dir, "github/schemas.2022-07.json")[schema]["properties"],
    ));
    fields
}

/// Every body in `calls` has only fields GitHub documents for `route`.
fn assert_documented(dir: &Path, calls: &[ci::Call], route: &str, schema: &str) {
    let documented = documented(dir, route, schema);
    for call in calls {
        assert!(keys(&call.body).is_subset(&documented), "{}", call.body);
    }
}

#[tokio::test]
async fn github_comments_with_the_real_bodies() {
    let Some(dir) = reference_dir() else { return };
    let created = json(&dir, "github/issue-comment.json");
    let id = created["id"].as_u64().unwrap();
    let listed = json(&dir, "github/issue-comment-items.json");
    let server = serving(vec![
        ("GET", COMMENTS, 200, listed),
        ("POST", COMMENTS, 201, created.clone()),
        ("PATCH", COMMENT, 200, created),
    ])
    .await;
    let settings = greenlight::forge::github::Settings {
        deployment: false,
        ..ci::github(&server)
    };
    assert_eq!(run_on(Platform::GitHub(settings)).await, Outcome::Promoted);

    let calls = calls(&server).await;
    // The listed comment ("Me too") carries no marker: a new one is made,
    // then updated under the id GitHub returned.
    assert_eq!(lines(&calls)[1], "POST /repos/acme/shop/issues/7/comments");
    let patch = format!("PATCH /repos/acme/shop/issues/comments/{id}");
    assert!(
        lines(&calls)[2..].iter().all(|line| *line == patch),
        "{:#?}",
        lines(&calls)
    );
    let route = "PATCH /repos/{owner}/{repo}/issues/comments/{comment_id}";
    assert_documented(&dir, &calls[1..], route, "issue-comment");
}

#[tokio::test]
async fn github_deployments_with_the_real_bodies() {
    let Some(dir) = reference_dir() else { return };
    let deployment = json(&dir, "github/deployment-simple-example.json");
    let id = deployment["id"].as_u64().unwrap();
    let status = json(&dir, "github/deployment-status.json");
    let server = serving(vec![
        ("POST", DEPLOYMENTS, 201, deployment),
        ("POST", STATUSES, 201, status),
    ])
    .await;
    let settings = greenlight::forge::github::Settings {
        comment: false,
        ..ci::github(&server)
    };
    run_on(Platform::GitHub(settings)).await;

    let calls = calls(&server).await;
    let statuses = format!("POST /repos/acme/shop/deployments/{id}/statuses");
    assert_eq!(
        lines(&calls),
        [
            "POST /repos/acme/shop/deployments",
            statuses.as_str(),
            statuses.as_str()
        ]
    );
    let (create, status) = (
        "POST /repos/{owner}/{repo}/deployments",
        "POST /repos/{owner}/{repo}/deployments/{deployment_id}/statuses",
    );
    assert_documented(&dir, &calls[..1], create, "deployment");
    assert_documented(&dir, &calls[1..], status, "deployment-status");
}

#[tokio::test]
async fn a_202_auto_merge_answer_is_a_warning_not_a_new_outcome() {
    let Some(dir) = reference_dir() else { return };
    let examples = json(&dir, "github/request-body-examples.2022-07.json");
    let merged = examples["POST /repos/{owner}/{repo}/deployments 202 response"]["merged-branch-response"]["value"].clone();
    let server = serving(vec![("POST", DEPLOYMENTS, 202, merged)]).await;
    let settings = greenlight::forge::github::Settings {
        comment: false,
        ..ci::github(&server)
    };
    assert_eq!(run_on(Platform::GitHub(settings)).await, Outcome::Promoted);
    // No deployment id, so no status is posted.
    assert_eq!(
        lines(&calls(&server).await),
        ["POST /repos/acme/shop/deployments"]
    );
}

#[tokio::test]
async fn gitlab_notes_with_the_real_bodies() {
    let Some(dir) = reference_dir() else { return };
    let note = json(&dir, "gitlab/mr-note.example.json");
    let id = note["id"].as_u64().unwrap();
    let notes = "/api/v4/projects/42/merge_requests/5/notes";
    let (list, one) = (format!("^{notes}$"), format!(r"^{notes}/\d+$"));
    let listed = json(&dir, "gitlab/issue-notes-list.example.json");
    let server = serving(vec![
        ("GET", &list, 200, listed),
        ("POST", &list, 201, note.clone()),
        ("PUT", &one, 200, note),
    ])
    .await;
    assert_eq!(
        run_on(Platform::GitLab(ci::gitlab(&server))).await,
        Outcome::Promoted
    );

    let calls = calls(&server).await;
    assert_eq!(lines(&calls)[1], format!("POST {notes}"));
    let put = format!("PUT {notes}/{id}");
    assert!(
        lines(&calls)[2..].iter().all(|line| *line == put),
        "{:#?}",
        lines(&calls)
    );
    // The documented create and modify parameters: `body` (the rest optional).
    let section = read(&dir, "gitlab/notes.md.merge-requests-section.excerpt.md");
    assert!(
        section.contains("| `body`"),
        "the excerpt no longer documents `body`"
    );
    for call in &calls[1..] {
        assert_eq!(keys(&call.body), BTreeSet::from(["body".to_owned()]));
    }
}
