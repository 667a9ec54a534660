//! Conformance: the GitHub and GitLab fakes answer with the real example
//! bodies from the reference folder, and what greenlight sends is checked
//! against the documented request examples and schemas. Runs only when
//! GREENLIGHT_REFERENCE is set (`.ci/run` always sets it).

use std::collections::BTreeSet;
use std::path::Path;

use greenlight::engine::Outcome;
use greenlight::forge::session::{CommandKind, Platform, Rollout};
use serde_json::Value;

use crate::github::SPEC;
use crate::support::ci::{self, Call, calls, lines, serving};
use crate::support::reference::{read, reference_dir};
use crate::support::*;

fn json(dir: &Path, file: &str) -> Value {
    serde_json::from_str(&read(dir, file)).unwrap_or_else(|error| panic!("{file}: {error}"))
}

const DEPLOYMENTS: &str = r"^/repos/acme/shop/deployments$";

/// A healthy rollout reported only to `platform`: its outcome.
async fn healthy_run_on(platform: Platform) -> Outcome {
    let given = given(SPEC).metric("error-rate", vec![data(0.004), data(0.01)]);
    let reporters = platform.forge_reporters(&Rollout {
        command: CommandKind::Run,
        release: &ci::release(),
        plan: &given.plan(),
        title: None,
        plan_text: None,
        final_limit: greenlight::spec::types::DEFAULT_FINAL_TIMEOUT,
        webhook: None,
        links: Default::default(),
    });
    given.when_run_with(reporters).await.outcome()
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

/// Every call sends only fields its route documents.
fn assert_documented(calls: &[Call], documented: &BTreeSet<String>) {
    for call in calls {
        assert!(keys(&call.body).is_subset(documented), "{}", call.body);
    }
}

#[tokio::test]
async fn github_comments_with_the_real_bodies() {
    let Some(dir) = reference_dir() else { return };
    let created = json(&dir, "github/issue-comment.json");
    let id = created["id"].as_u64().unwrap();
    let comments = r"^/repos/acme/shop/issues/7/comments$";
    let server = serving(vec![
        (
            "GET",
            comments,
            200,
            json(&dir, "github/issue-comment-items.json"),
        ),
        ("POST", comments, 201, created.clone()),
        (
            "PATCH",
            r"^/repos/acme/shop/issues/comments/\d+$",
            200,
            created,
        ),
    ])
    .await;
    let settings = greenlight::forge::github::Settings {
        deployment: false,
        ..ci::github(&server)
    };
    assert_eq!(
        healthy_run_on(Platform::GitHub(settings)).await,
        Outcome::Promoted
    );

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
    let example = documented(
        &dir,
        "PATCH /repos/{owner}/{repo}/issues/comments/{comment_id}",
        "issue-comment",
    );
    assert_documented(&calls[1..], &example);
}

#[tokio::test]
async fn github_deployments_with_the_real_bodies() {
    let Some(dir) = reference_dir() else { return };
    let deployment = json(&dir, "github/deployment-simple-example.json");
    let id = deployment["id"].as_u64().unwrap();
    let server = serving(vec![
        ("POST", DEPLOYMENTS, 201, deployment),
        (
            "POST",
            r"^/repos/acme/shop/deployments/\d+/statuses$",
            201,
            json(&dir, "github/deployment-status.json"),
        ),
    ])
    .await;
    let settings = greenlight::forge::github::Settings {
        comment: false,
        ..ci::github(&server)
    };
    healthy_run_on(Platform::GitHub(settings)).await;

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
    let create = documented(&dir, "POST /repos/{owner}/{repo}/deployments", "deployment");
    assert_documented(&calls[..1], &create);
    let status = documented(
        &dir,
        "POST /repos/{owner}/{repo}/deployments/{deployment_id}/statuses",
        "deployment-status",
    );
    assert_documented(&calls[1..], &status);
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
    assert_eq!(
        healthy_run_on(Platform::GitHub(settings)).await,
        Outcome::Promoted
    );
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
    let listed = format!("^{notes}$");
    let updated = format!(r"^{notes}/\d+$");
    let server = serving(vec![
        (
            "GET",
            "^/api/v4/user$",
            200,
            serde_json::json!({"id": 9, "username": ci::BOT}),
        ),
        (
            "GET",
            &listed,
            200,
            json(&dir, "gitlab/issue-notes-list.example.json"),
        ),
        ("POST", &listed, 201, note.clone()),
        ("PUT", &updated, 200, note),
    ])
    .await;
    assert_eq!(
        healthy_run_on(Platform::GitLab(ci::gitlab(&server))).await,
        Outcome::Promoted
    );

    let calls = calls(&server).await;
    assert_eq!(lines(&calls)[0], "GET /api/v4/user");
    assert_eq!(lines(&calls)[2], format!("POST {notes}"));
    let put = format!("PUT {notes}/{id}");
    assert!(
        lines(&calls)[3..].iter().all(|line| *line == put),
        "{:#?}",
        lines(&calls)
    );
    // The documented create and modify parameters: `body` (the rest optional).
    let section = read(&dir, "gitlab/notes.md.merge-requests-section.excerpt.md");
    assert!(
        section.contains("| `body`"),
        "the excerpt no longer documents `body`"
    );
    for call in &calls[2..] {
        assert_eq!(keys(&call.body), BTreeSet::from(["body".to_owned()]));
    }
}
