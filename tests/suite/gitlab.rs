//! GitLab: the sticky merge-request note against a wiremock GitLab, and the
//! binary as the CI/CD component runs it (JUnit, dotenv, log sections).

use greenlight::engine::Outcome;
use greenlight::forge::session::{CommandKind, Platform, Rollout};
use greenlight::report::{Reporter, junit};
use serde_json::json;
use tempfile::TempDir;
use wiremock::MockServer;

use crate::github::SPEC;
use crate::support::binary::{Greenlight, Run};
use crate::support::ci::{self, SENTINEL, assert_all, calls, lines, respond, serving};
use crate::support::*;

const NOTES: &str = "/api/v4/projects/42/merge_requests/5/notes";
const MARKER: &str = "<!-- greenlight:checkout:production -->";

pub(crate) async fn gitlab(existing: serde_json::Value) -> MockServer {
    let notes = format!("^{NOTES}$");
    let note = format!(r"^{NOTES}/\d+$");
    let created = json!({"id": 301, "body": "x"});
    serving(vec![
        (
            "GET",
            "^/api/v4/user$",
            200,
            json!({"id": 9, "username": ci::BOT}),
        ),
        ("GET", &notes, 200, existing),
        ("POST", &notes, 201, created.clone()),
        ("PUT", &note, 200, created),
    ])
    .await
}

fn reporters(server: &MockServer, given: &Given) -> Vec<Box<dyn Reporter>> {
    Platform::GitLab(ci::gitlab(server)).forge_reporters(&Rollout {
        command: CommandKind::Run,
        release: &ci::release(),
        plan: &given.plan(),
        title: None,
        plan_text: None,
        final_limit: greenlight::spec::types::DEFAULT_FINAL_TIMEOUT,
        webhook: None,
        links: Default::default(),
    })
}

/// After `first`: whose note is ours, the notes, a new note (301), then
/// only updates of it.
fn created_then_updated(lines: &[&str], first: &[&str]) {
    let list = format!("GET {NOTES}?sort=asc&order_by=created_at&per_page=100&page=1");
    let post = format!("POST {NOTES}");
    let mut expected = first.to_vec();
    expected.extend(["GET /api/v4/user", &list, &post]);
    assert_eq!(lines[..expected.len()], expected, "{lines:#?}");
    assert_all(&lines[expected.len()..], &format!("PUT {NOTES}/301"));
}

fn healthy() -> Given {
    given(SPEC).metric(
        "error-rate",
        vec![data(0.004), data(0.01), data(0.012), data(0.009)],
    )
}

#[tokio::test]
async fn the_note_is_created_once_then_updated_with_a_private_token() {
    let server = gitlab(json!([])).await;
    let given = healthy();
    let reporters = reporters(&server, &given);
    let then = given.when_run_with(reporters).await;
    assert_eq!(then.outcome(), Outcome::Promoted);

    let calls = calls(&server).await;
    created_then_updated(&lines(&calls), &[]);
    for call in &calls {
        let token = call
            .headers
            .iter()
            .find(|(name, _)| name == "private-token");
        assert_eq!(token.map(|(_, value)| value.as_str()), Some(SENTINEL));
        assert!(!call.body.to_string().contains(SENTINEL));
        if let Some(body) = call.body["body"].as_str() {
            assert!(body.starts_with(MARKER), "{body}");
        }
    }
    let last = calls.last().unwrap().body["body"].as_str().unwrap();
    assert!(last.contains("✅ **checkout v2 promoted**"), "{last}");
}

#[tokio::test]
async fn a_rerun_updates_the_existing_note() {
    let server = gitlab(json!([
        {"id": 76, "body": "Looks good"},
        {"id": 77, "body": format!("{MARKER}\nold run"), "author": {"username": ci::BOT}},
    ]))
    .await;
    let given = healthy();
    let reporters = reporters(&server, &given);
    given.when_run_with(reporters).await;
    let calls = calls(&server).await;
    let lines = lines(&calls);
    assert!(lines[..2].iter().all(|line| line.starts_with("GET ")));
    assert_all(&lines[2..], &format!("PUT {NOTES}/77"));
}

#[tokio::test]
async fn without_a_merge_request_or_a_commit_there_is_no_note_and_no_call() {
    let server = gitlab(json!([])).await;
    let settings = greenlight::forge::gitlab::Settings {
        merge_request: None,
        sha: None,
        ..ci::gitlab(&server)
    };
    let given = healthy();
    let rollout = Rollout {
        command: CommandKind::Run,
        release: &ci::release(),
        plan: &given.plan(),
        title: None,
        plan_text: None,
        final_limit: greenlight::spec::types::DEFAULT_FINAL_TIMEOUT,
        webhook: None,
        links: Default::default(),
    };
    assert!(
        Platform::GitLab(settings)
            .forge_reporters(&rollout)
            .is_empty()
    );
}

fn junit_of(then: &Then) -> String {
    junit::render(&then.report)
}

#[tokio::test]
async fn junit_reports() {
    let rolled_back = crate::github::failing().when_run().await;
    insta::assert_snapshot!("junit_rolled_back", junit_of(&rolled_back));
    let halted = given(SPEC)
        .metric(
            "error-rate",
            vec![no_data(), error("prometheus: 503 Service Unavailable")],
        )
        .when_run()
        .await;
    assert_eq!(halted.outcome(), Outcome::Halted);
    insta::assert_snapshot!("junit_halted", junit_of(&halted));
    for then in [&rolled_back, &halted] {
        let xml = junit_of(then);
        if let Err(problem) = junit_schema::validate(&xml) {
            panic!("not valid JUnit: {problem}\n{xml}");
        }
    }
}

#[test]
fn the_junit_schema_rejects_what_ci_systems_do_not_read() {
    let valid = r#"<testsuites name="g" tests="1" time="1.500"><testsuite name="s" tests="1" skipped="0" time="1.500"><testcase name="c" time="1.500"/></testsuite></testsuites>"#;
    junit_schema::validate(valid).unwrap();
    for invalid in [
        valid.replace(
            r#"<testsuites name="g""#,
            r#"<testsuites name="g" skipped="0""#,
        ),
        valid.replace(
            r#"<testcase name="c" time="1.500"/>"#,
            r#"<testcase name="c" time="-1"/>"#,
        ),
    ] {
        assert!(junit_schema::validate(&invalid).is_err(), "{invalid}");
    }
}

#[tokio::test]
async fn failed_and_halted_steps_report_how_long_they_held_in_junit() {
    let rolled_back = crate::github::failing().when_run().await;
    let step = |then: &Then, number: usize| {
        then.report
            .steps
            .iter()
            .find(|step| step.step == number)
            .and_then(|step| step.held_ms)
    };
    // Step 2 failed at its first measurement, 15 s into its hold.
    assert_eq!(step(&rolled_back, 2), Some(15_000));
    assert!(
        junit_of(&rolled_back).contains(r#"name="error-rate (≤ 0.05)" time="15.000""#),
        "{}",
        junit_of(&rolled_back)
    );
}

struct Job {
    dir: TempDir,
}

impl Job {
    fn new() -> Self {
        let dir = TempDir::new().unwrap();
        file_driven_spec(dir.path());
        std::fs::write(dir.path().join("error-rate"), "0.01").unwrap();
        Self { dir }
    }

    fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(name))
            .unwrap_or_else(|error| panic!("{name}: {error}"))
    }

    /// Runs `greenlight run` the way the component does, in the project directory.
    async fn run(&self, server: &MockServer, token: Option<&str>) -> Run {
        self.run_with(server, token, &[]).await
    }

    /// `run` with some of the environment changed (an empty value unsets).
    async fn run_with(
        &self,
        server: &MockServer,
        token: Option<&str>,
        env: &[(&str, &str)],
    ) -> Run {
        let mut cmd = Greenlight::new();
        cmd.current_dir(self.dir.path())
            .args(["run", "--version", "v2", "--stable-version", "v1"])
            .args([
                "--report",
                "greenlight-report.json",
                "--summary",
                "greenlight-summary.md",
            ])
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("GITLAB_CI", "true")
            .env("CI_API_V4_URL", format!("{}/api/v4", server.uri()))
            .env("CI_PROJECT_ID", "42")
            .env("CI_MERGE_REQUEST_IID", "5")
            .env("CI_COMMIT_SHA", "abc123")
            .env("CI_JOB_URL", "https://gitlab.example/acme/shop/-/jobs/9")
            .env("CI_JOB_TOKEN", "job-token-cannot-post-notes")
            .env("GREENLIGHT_ENVIRONMENT", "production")
            .env("GREENLIGHT_COMMENT", "true");
        if let Some(token) = token {
            cmd.env("GITLAB_TOKEN", token);
        }
        for (name, value) in env {
            match value {
                &"" => cmd.env_remove(name),
                value => cmd.env(name, value),
            };
        }
        tokio::task::spawn_blocking(move || cmd.run())
            .await
            .unwrap()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_component_job_writes_junit_dotenv_sections_and_the_note() {
    let server = gitlab(json!([])).await;
    let job = Job::new();
    let output = job.run(&server, Some(SENTINEL)).await;
    let stderr = &output.stderr;
    assert_eq!(output.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("section_start:")
            && stderr.contains(":greenlight_step_1[collapsed=false]\r\x1b[0KStep 1: 20%"),
        "{stderr}"
    );
    assert!(
        stderr.contains("\x1b[0Ksection_end:") && !stderr.contains("::group::"),
        "{stderr}"
    );

    let dotenv = output.dotenv.as_deref().expect("the dotenv report");
    let root = job.dir.path().canonicalize().unwrap();
    assert_eq!(
        dotenv,
        format!(
            "GREENLIGHT_OUTCOME=promoted\nGREENLIGHT_STABLE_VERSION=v1\nGREENLIGHT_NEW_VERSION=v2\nGREENLIGHT_REPORT_PATH={0}/greenlight-report.json\nGREENLIGHT_SUMMARY_PATH={0}/greenlight-summary.md\nGREENLIGHT_COMMENT_ID=301\n",
            root.display()
        )
    );
    let junit = output.junit.as_deref().expect("the JUnit report");
    assert!(
        junit.contains(r#"<testsuites name="greenlight" tests="3" failures="0" errors="0" time=""#),
        "{junit}"
    );
    if let Err(problem) = junit_schema::validate(junit) {
        panic!("not valid JUnit: {problem}\n{junit}");
    }
    assert!(lines(&calls(&server).await).contains(&format!("POST {NOTES}").as_str()));

    for file in [
        "greenlight.env",
        "greenlight-junit.xml",
        "greenlight-report.json",
        "greenlight-summary.md",
    ] {
        assert!(!job.read(file).contains(SENTINEL), "{file}");
    }
    assert!(!stderr.contains(SENTINEL) && !output.stdout.contains(SENTINEL));
}

#[tokio::test(flavor = "multi_thread")]
async fn without_gitlab_token_the_warning_says_why_the_job_token_is_not_enough() {
    let server = gitlab(json!([])).await;
    let job = Job::new();
    let output = job.run(&server, None).await;
    let stderr = &output.stderr;
    assert_eq!(output.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("GITLAB_TOKEN is not set")
            && stderr.contains("CI_JOB_TOKEN cannot post notes"),
        "{stderr}"
    );
    assert!(calls(&server).await.is_empty());
    assert!(
        output
            .junit
            .is_some_and(|junit| junit.contains("<testsuites"))
    );
    assert!(
        output
            .dotenv
            .is_some_and(|dotenv| dotenv.starts_with("GREENLIGHT_OUTCOME=promoted\n"))
    );
}

/// The dotenv report the job wrote.
fn dotenv(run: &Run) -> &str {
    run.dotenv
        .as_deref()
        .expect("the dotenv report was written")
}

const COMMIT_MERGE_REQUESTS: &str = "/api/v4/projects/42/repository/commits/abc123/merge_requests";

/// A promotion in a branch pipeline (no `CI_MERGE_REQUEST_IID`) whose
/// commit belongs to `merge_requests`; what the job left.
async fn branch_pipeline(merge_requests: serde_json::Value) -> (MockServer, Run) {
    let server = gitlab(json!([])).await;
    let route = format!("^{COMMIT_MERGE_REQUESTS}$");
    respond(&server, "GET", &route, 200, merge_requests).await;
    let job = Job::new();
    let output = job
        .run_with(&server, Some(SENTINEL), &[("CI_MERGE_REQUEST_IID", "")])
        .await;
    let stderr = &output.stderr;
    assert_eq!(output.code(), Some(0), "{stderr}");
    (server, output)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_branch_pipeline_finds_its_merge_request_from_the_commit() {
    let (server, output) = branch_pipeline(json!([
        {"iid": 4, "project_id": 42, "state": "merged"},
        {"iid": 5, "project_id": 42, "state": "opened"},
    ]))
    .await;
    let stderr = &output.stderr;
    let lookup = format!("GET {COMMIT_MERGE_REQUESTS}");
    created_then_updated(&lines(&calls(&server).await), &[&lookup]);
    assert!(
        dotenv(&output).contains("GREENLIGHT_COMMENT_ID=301\n"),
        "{stderr}"
    );
    assert!(!stderr.contains("WARNING"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_branch_pipeline_without_a_merge_request_says_so_once() {
    let (server, output) = branch_pipeline(json!([])).await;
    let stderr = &output.stderr;
    assert_eq!(
        lines(&calls(&server).await),
        [format!("GET {COMMIT_MERGE_REQUESTS}").as_str()]
    );
    let said: Vec<&str> = stderr
        .lines()
        .filter(|line| line.contains("belongs to no merge request"))
        .collect();
    assert_eq!(said.len(), 1, "{stderr}");
    // GitLab's log shows it as a warning line.
    assert!(said[0].contains("WARNING: "), "{stderr}");
    assert!(!dotenv(&output).contains("GREENLIGHT_COMMENT_ID"));
}

#[tokio::test(flavor = "multi_thread")]
async fn someone_elses_note_with_the_marker_is_left_alone() {
    let server = gitlab(json!([
        {"id": 76, "body": format!("{MARKER}\nquoted by a reviewer"), "author": {"username": "alice"}},
    ]))
    .await;
    let job = Job::new();
    let output = job.run(&server, Some(SENTINEL)).await;
    assert_eq!(output.code(), Some(0));
    let calls = calls(&server).await;
    let lines = lines(&calls);
    assert_eq!(lines[2], format!("POST {NOTES}"));
    assert_all(&lines[3..], &format!("PUT {NOTES}/301"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rollback_ends_the_job_log_with_a_red_error_line() {
    let server = gitlab(json!([])).await;
    let job = Job::new();
    std::fs::write(job.dir.path().join("error-rate"), "0.5").unwrap();
    let output = job.run(&server, Some(SENTINEL)).await;
    let stderr = &output.stderr;
    assert_eq!(output.code(), Some(2), "{stderr}");
    let error = stderr
        .lines()
        .find(|line| line.contains("ERROR: "))
        .unwrap_or_else(|| panic!("no ERROR line in {stderr}"));
    assert!(
        error.starts_with("\x1b[31;1mERROR: checkout rolled back: ") && error.ends_with("\x1b[0m"),
        "{error:?}"
    );
    assert!(!stderr.contains("::error"), "{stderr}");
    let summary = output.markdown.as_deref().expect("the Markdown summary");
    assert!(
        summary
            .lines()
            .next()
            .unwrap()
            .ends_with(" · [CI run](https://gitlab.example/acme/shop/-/jobs/9)"),
        "{summary}"
    );
}
