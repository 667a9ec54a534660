//! GitHub: the sticky PR comment and the deployment, against a wiremock
//! GitHub, with the exact requests asserted.

use greenlight::engine::{EventKind, Outcome};
use greenlight::forge::session::{CommandKind, Platform, Rollout};
use greenlight::report::Reporter;
use greenlight::report::comment::{self, Stage};
use serde_json::json;
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::ci::{self, Call, SENTINEL, calls, lines, respond};
use crate::support::*;

pub const SPEC: &str = "
strategy:
  canary:
    steps:
      - {weight: 10, hold: 30s}
      - {weight: 50, hold: 30s}
smoke:
  - name: healthz
    command: 'true'
analysis:
  interval: 15s
  metrics:
    - name: error-rate
      query: {command: 'true'}
      max: 0.05
";

const MARKER: &str = "<!-- greenlight:checkout:production -->";

/// A GitHub with no greenlight comment on PR 7 yet.
pub(crate) async fn fresh_github() -> MockServer {
    let server = MockServer::start().await;
    respond(
        &server,
        "GET",
        r"^/repos/acme/shop/issues/7/comments$",
        200,
        json!([]),
    )
    .await;
    respond(
        &server,
        "POST",
        r"^/repos/acme/shop/issues/7/comments$",
        201,
        json!({"id": 1001, "body": "x"}),
    )
    .await;
    respond(
        &server,
        "PATCH",
        r"^/repos/acme/shop/issues/comments/\d+$",
        200,
        json!({"id": 1001, "body": "x"}),
    )
    .await;
    respond(
        &server,
        "POST",
        r"^/repos/acme/shop/deployments$",
        201,
        json!({"id": 42}),
    )
    .await;
    respond(
        &server,
        "POST",
        r"^/repos/acme/shop/deployments/42/statuses$",
        201,
        json!({"id": 1}),
    )
    .await;
    server
}

fn reporters(
    settings: greenlight::forge::github::Settings,
    given: &Given,
) -> Vec<Box<dyn Reporter>> {
    reporters_with_links(settings, given, Default::default())
}

/// The forge reporters of a `run`, with the links its reports show.
pub(crate) fn reporters_with_links(
    settings: greenlight::forge::github::Settings,
    given: &Given,
    links: greenlight::report::links::Links,
) -> Vec<Box<dyn Reporter>> {
    Platform::GitHub(settings).forge_reporters(&Rollout {
        command: CommandKind::Run,
        release: &ci::release(),
        plan: &given.plan(),
        title: None,
        plan_text: None,
        final_limit: greenlight::spec::types::DEFAULT_FINAL_TIMEOUT,
        webhook: None,
        links,
    })
}

/// PR 7's comment was created, then only ever updated.
pub(crate) fn assert_created_then_updated(lines: &[&str]) {
    assert_eq!(
        lines[..2],
        [
            "GET /repos/acme/shop/issues/7/comments?per_page=100&page=1",
            "POST /repos/acme/shop/issues/7/comments",
        ]
    );
    assert!(
        lines[2..]
            .iter()
            .all(|line| *line == "PATCH /repos/acme/shop/issues/comments/1001"),
        "{lines:#?}"
    );
}

pub(crate) fn comment_only(server: &MockServer) -> greenlight::forge::github::Settings {
    greenlight::forge::github::Settings {
        deployment: false,
        ..ci::github(server)
    }
}

pub(crate) fn healthy() -> Given {
    given(SPEC).metric(
        "error-rate",
        vec![data(0.004), data(0.01), data(0.012), data(0.009)],
    )
}

pub(crate) fn failing() -> Given {
    given(SPEC).metric("error-rate", vec![data(0.004), data(0.01), data(0.31)])
}

/// Events that publish a new version of the comment.
fn milestones(then: &Then) -> usize {
    then.events()
        .filter(|kind| {
            matches!(
                kind,
                EventKind::Started { .. }
                    | EventKind::Deployed { .. }
                    | EventKind::WeightSet { .. }
                    | EventKind::RollbackStarted { .. }
            )
        })
        .count()
}

fn bodies(calls: &[Call]) -> Vec<String> {
    calls
        .iter()
        .filter_map(|call| call.body["body"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn the_first_run_creates_the_comment_and_ends_with_the_final_report() {
    let server = fresh_github().await;
    let given = healthy();
    let reporters = reporters(comment_only(&server), &given);
    let then = given.when_run_with(reporters).await;
    assert_eq!(then.outcome(), Outcome::Promoted);

    let calls = calls(&server).await;
    let lines = lines(&calls);
    // Live updates the forge had time for (the latest state each time),
    // then the final report, all on the same comment.
    assert_created_then_updated(&lines);
    assert!(lines.len() <= 2 + milestones(&then), "{lines:#?}");

    let bodies = bodies(&calls);
    assert!(
        bodies.iter().all(|body| body.starts_with(MARKER)),
        "{bodies:#?}"
    );
    let last = bodies.last().unwrap();
    assert!(
        last.contains("✅ **checkout v2 promoted**") && last.contains("xychart-beta"),
        "{last}"
    );
    for call in &calls {
        let auth = call
            .headers
            .iter()
            .find(|(name, _)| name == "authorization");
        assert_eq!(
            auth.map(|(_, value)| value.as_str()),
            Some(format!("Bearer {SENTINEL}").as_str())
        );
        assert!(!call.body.to_string().contains(SENTINEL));
    }
}

#[tokio::test]
async fn the_live_comment_shows_the_step_in_progress() {
    let given = healthy();
    let plan = given.plan();
    let then = given.when_run().await;
    let step_2 = then
        .report
        .timeline
        .iter()
        .position(|event| matches!(event.kind, EventKind::WeightSet { step: Some(2), .. }))
        .unwrap();
    let live = greenlight::report::Report::build(
        &ci::release(),
        &plan,
        Outcome::Planned,
        String::new(),
        then.report.timeline[..=step_2].to_vec(),
    );
    let body = comment::render(&live, None, MARKER, Stage::Live, None).unwrap();
    assert!(body.contains("step 2 of 2, 50% of traffic on v2"), "{body}");
    insta::assert_snapshot!("live_comment_at_step_2", body);
}

#[tokio::test]
async fn a_rerun_finds_its_comment_and_updates_it_instead_of_adding_one() {
    let server = MockServer::start().await;
    respond(
        &server,
        "GET",
        r"^/repos/acme/shop/issues/7/comments$",
        200,
        json!([
            {"id": 5, "body": "LGTM"},
            {"id": 6, "body": "<!-- greenlight:checkout:staging -->\nanother environment"},
            {"id": 99, "body": format!("{MARKER}\nthe previous run"), "user": {"login": ci::BOT}},
        ]),
    )
    .await;
    respond(
        &server,
        "PATCH",
        r"^/repos/acme/shop/issues/comments/99$",
        200,
        json!({"id": 99}),
    )
    .await;
    let given = healthy();
    let reporters = reporters(comment_only(&server), &given);
    let then = given.when_run_with(reporters).await;

    let calls = calls(&server).await;
    let lines = lines(&calls);
    assert_eq!(
        lines[0],
        "GET /repos/acme/shop/issues/7/comments?per_page=100&page=1"
    );
    assert!(
        (2..=2 + milestones(&then)).contains(&lines.len()),
        "{lines:#?}"
    );
    assert!(
        lines[1..]
            .iter()
            .all(|line| *line == "PATCH /repos/acme/shop/issues/comments/99"),
        "{lines:#?}"
    );
}

#[tokio::test]
async fn a_push_comments_on_the_pull_request_of_its_commit() {
    let server = fresh_github().await;
    respond(
        &server,
        "GET",
        r"^/repos/acme/shop/commits/abc123/pulls$",
        200,
        json!([{"number": 12}]),
    )
    .await;
    respond(
        &server,
        "GET",
        r"^/repos/acme/shop/issues/12/comments$",
        200,
        json!([]),
    )
    .await;
    respond(
        &server,
        "POST",
        r"^/repos/acme/shop/issues/12/comments$",
        201,
        json!({"id": 1201}),
    )
    .await;
    let settings = greenlight::forge::github::Settings {
        pr: None,
        ..comment_only(&server)
    };
    let given = healthy();
    let reporters = reporters(settings, &given);
    given.when_run_with(reporters).await;

    let calls = calls(&server).await;
    assert_eq!(
        lines(&calls)[..3],
        [
            "GET /repos/acme/shop/commits/abc123/pulls",
            "GET /repos/acme/shop/issues/12/comments?per_page=100&page=1",
            "POST /repos/acme/shop/issues/12/comments",
        ]
    );
    assert!(
        lines(&calls)[3..]
            .iter()
            .all(|line| *line == "PATCH /repos/acme/shop/issues/comments/1201")
    );
}

#[tokio::test]
async fn a_commit_without_a_pull_request_gets_no_comment() {
    let server = fresh_github().await;
    respond(
        &server,
        "GET",
        r"^/repos/acme/shop/commits/abc123/pulls$",
        200,
        json!([]),
    )
    .await;
    let settings = greenlight::forge::github::Settings {
        pr: None,
        ..comment_only(&server)
    };
    let given = healthy();
    let reporters = reporters(settings, &given);
    let then = given.when_run_with(reporters).await;
    assert_eq!(then.outcome(), Outcome::Promoted);
    // Asked once, then left alone for the rest of the run.
    assert_eq!(
        lines(&calls(&server).await),
        ["GET /repos/acme/shop/commits/abc123/pulls"]
    );
}

async fn deployment_calls(given: Given) -> (Outcome, Vec<Call>) {
    let server = fresh_github().await;
    let settings = greenlight::forge::github::Settings {
        comment: false,
        ..ci::github(&server)
    };
    let reporters = reporters(settings, &given);
    let then = given.when_run_with(reporters).await;
    (then.outcome(), calls(&server).await)
}

#[tokio::test]
async fn a_deployment_goes_in_progress_then_success_when_promoted() {
    let (outcome, calls) = deployment_calls(healthy()).await;
    assert_eq!(outcome, Outcome::Promoted);
    assert_eq!(
        lines(&calls),
        [
            "POST /repos/acme/shop/deployments",
            "POST /repos/acme/shop/deployments/42/statuses",
            "POST /repos/acme/shop/deployments/42/statuses",
        ]
    );
    assert_eq!(
        calls[0].body,
        json!({
            "ref": "abc123",
            "environment": "production",
            "description": "greenlight: checkout v1 → v2",
            "auto_merge": false,
            "required_contexts": [],
        })
    );
    let states: Vec<&str> = calls[1..]
        .iter()
        .map(|call| call.body["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["in_progress", "success"]);
    for status in &calls[1..] {
        assert_eq!(
            status.body["log_url"],
            "https://github.com/acme/shop/actions/runs/7"
        );
        assert_eq!(
            status.body["environment_url"],
            "https://checkout.example.com"
        );
        assert!(status.body["description"].as_str().unwrap().chars().count() <= 140);
    }
}

#[tokio::test]
async fn a_rolled_back_deployment_ends_in_failure() {
    let (outcome, calls) = deployment_calls(failing()).await;
    assert_eq!(outcome, Outcome::RolledBack);
    let states: Vec<&str> = calls
        .iter()
        .filter(|call| call.line.ends_with("/statuses"))
        .map(|call| call.body["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["in_progress", "failure"]);
}

#[tokio::test]
async fn a_halted_deployment_ends_inactive() {
    let halted = given(SPEC).metric("error-rate", vec![error("prometheus is down")]);
    let (outcome, calls) = deployment_calls(halted).await;
    assert_eq!(outcome, Outcome::Halted);
    let last = calls.last().unwrap();
    assert_eq!(last.body["state"], "inactive");
}

#[tokio::test]
async fn api_failures_never_change_the_outcome() {
    for (scenario, expected) in [
        (healthy as fn() -> Given, Outcome::Promoted),
        (failing, Outcome::RolledBack),
    ] {
        let server = MockServer::start().await;
        Mock::given(wiremock::matchers::any())
            .respond_with(
                ResponseTemplate::new(500).set_body_json(json!({"message": "Server Error"})),
            )
            .mount(&server)
            .await;
        let given = scenario();
        let reporters = reporters(ci::github(&server), &given);
        let then = given.when_run_with(reporters).await;
        assert_eq!(then.outcome(), expected);
        let without = scenario().when_run().await;
        assert_eq!(then.report.timeline, without.report.timeline);
        assert!(!calls(&server).await.is_empty());
    }
}

#[tokio::test]
async fn a_forbidden_token_is_tried_once_not_at_every_step() {
    let server = MockServer::start().await;
    respond(
        &server,
        "GET",
        r"^/repos/acme/shop/issues/7/comments$",
        403,
        json!({"message": "Resource not accessible by integration"}),
    )
    .await;
    let given = healthy();
    let reporters = reporters(comment_only(&server), &given);
    let then = given.when_run_with(reporters).await;
    assert_eq!(then.outcome(), Outcome::Promoted);
    assert_eq!(calls(&server).await.len(), 1);
}

#[tokio::test]
async fn the_final_comment() {
    let promoted = healthy().when_run().await;
    insta::assert_snapshot!(
        "final_comment_promoted",
        comment::render(&promoted.report, None, MARKER, Stage::Final, None).unwrap()
    );
    let rolled_back = failing().when_run().await;
    insta::assert_snapshot!(
        "final_comment_rolled_back",
        comment::render(&rolled_back.report, None, MARKER, Stage::Final, None).unwrap()
    );
}

#[tokio::test]
async fn the_comment_stays_under_githubs_limit() {
    let mut then = healthy().when_run().await;
    // A timeline far too long for one comment.
    let filler = then.report.timeline[0].clone();
    then.report
        .timeline
        .extend(std::iter::repeat_n(filler, 2_000));
    let body = comment::render(&then.report, None, MARKER, Stage::Final, None).unwrap();
    assert!(body.chars().count() <= comment::COMMENT_LIMIT);
    assert!(body.starts_with(MARKER));
    assert!(body.contains("✅ **checkout v2 promoted**"));
    assert!(body.contains("is left out to stay within the size limit"));
}

#[tokio::test]
async fn a_job_summary_over_its_limit_drops_the_timeline_first() {
    let then = failing().when_run().await;
    let full = greenlight::report::markdown::render(&then.report, None).unwrap();
    let shortened =
        greenlight::report::markdown::render_within(&then.report, None, full.len() - 1).unwrap();
    assert!(shortened.len() < full.len());
    insta::assert_snapshot!("job_summary_without_timeline", shortened);
}
