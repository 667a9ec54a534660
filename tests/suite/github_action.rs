//! The binary as the composite action runs it: the action's environment in;
//! masks, outputs, the job summary, the comment and the deployment out; the
//! token nowhere else.

use serde_json::json;
use std::path::{Path, PathBuf};
use tempfile::TempDir;
use wiremock::matchers::{any, method, path_regex};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::binary::{Greenlight, Run};
use crate::support::ci::{
    BOT, Call, SENTINEL, assert_all, calls, lines, parse_github_output, serving,
};
use crate::support::file_driven_spec;

struct Job {
    dir: TempDir,
    spec: PathBuf,
}

impl Job {
    fn new(error_rate: &str) -> Self {
        let dir = TempDir::new().unwrap();
        let spec = file_driven_spec(dir.path());
        std::fs::write(dir.path().join("error-rate"), error_rate).unwrap();
        std::fs::write(
            dir.path().join("event.json"),
            json!({"action": "synchronize", "pull_request": {"number": 7}}).to_string(),
        )
        .unwrap();
        Self { dir, spec }
    }

    fn file(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Runs `greenlight COMMAND` with the environment action.yml gives it.
    async fn run(&self, command: &str, server: &MockServer) -> Run {
        self.run_with(command, server, &[]).await
    }

    /// `run`, with some of the environment changed (an empty value unsets).
    async fn run_with(&self, command: &str, server: &MockServer, env: &[(&str, &str)]) -> Run {
        let mut cmd = Greenlight::new();
        cmd.args([command, "-f"])
            .arg(&self.spec)
            .args(["--version", "v2", "--stable-version", "v1", "--report"])
            .arg(self.file("out/report.json"))
            .arg("--summary")
            .arg(self.file("out/summary.md"))
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("GITHUB_ACTIONS", "true")
            .env("GITHUB_API_URL", server.uri())
            .env("GITHUB_SERVER_URL", "https://github.com")
            .env("GITHUB_REPOSITORY", "acme/shop")
            .env("GITHUB_RUN_ID", "7")
            .env("GITHUB_SHA", "abc123")
            .env("GITHUB_REF", "refs/pull/7/merge")
            .env("GITHUB_EVENT_PATH", self.file("event.json"))
            .env("GITHUB_OUTPUT", self.file("github_output"))
            .env("GITHUB_STEP_SUMMARY", self.file("step_summary.md"))
            .env("GREENLIGHT_GITHUB_TOKEN", SENTINEL)
            .env("GREENLIGHT_COMMENT", "true")
            .env("GREENLIGHT_SUMMARY", "true")
            .env("GREENLIGHT_DEPLOYMENT", "true")
            .env("GREENLIGHT_ENVIRONMENT", "production");
        for (name, value) in env {
            match value {
                &"" => cmd.env_remove(name),
                value => cmd.env(name, value),
            };
        }
        // The binary blocks; the mock server needs this runtime to answer.
        tokio::task::spawn_blocking(move || cmd.run())
            .await
            .unwrap()
    }

    /// A rollout the last job left halted at 20%.
    fn halted_at_20(&self) {
        std::fs::write(
            self.file("state.json"),
            r#"{"name":"checkout","stableVersion":"v1","newVersion":"v2","phase":"halted","weight":20,"updatedAt":"2026-01-01T00:00:00.000Z"}"#,
        )
        .unwrap();
        std::fs::write(self.file("weight"), "20\n").unwrap();
    }

    /// The sentinel in any file the job left behind.
    fn files_with_token(&self) -> Vec<PathBuf> {
        fn walk(dir: &Path, found: &mut Vec<PathBuf>) {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    walk(&path, found);
                } else if String::from_utf8_lossy(&std::fs::read(&path).unwrap()).contains(SENTINEL)
                {
                    found.push(path);
                }
            }
        }
        let mut found = Vec::new();
        walk(self.dir.path(), &mut found);
        found
    }
}

pub(crate) async fn github() -> MockServer {
    let comments = r"^/repos/acme/shop/issues/7/comments$";
    let comment = r"^/repos/acme/shop/issues/comments/1001$";
    let deployments = r"^/repos/acme/shop/deployments$";
    let statuses = r"^/repos/acme/shop/deployments/42/statuses$";
    serving(vec![
        ("GET", r"^/user$", 200, json!({"login": BOT})),
        ("GET", comments, 200, json!([])),
        ("POST", comments, 201, json!({"id": 1001})),
        ("PATCH", comment, 200, json!({"id": 1001})),
        ("POST", deployments, 201, json!({"id": 42})),
        ("POST", statuses, 201, json!({"id": 1})),
    ])
    .await
}

/// What the job wrote to `GITHUB_OUTPUT`, read the way the runner does.
fn outputs(run: &Run) -> std::collections::BTreeMap<String, String> {
    parse_github_output(run.outputs.as_deref().expect("GITHUB_OUTPUT was written"))
}

/// The job summary the run wrote (`GITHUB_STEP_SUMMARY`).
fn step_summary(run: &Run) -> &str {
    run.summary.as_deref().expect("the job summary was written")
}

/// The token may appear on stdout only inside `::add-mask::`, which the runner
/// consumes; never on stderr, in a file or in a request body.
async fn assert_no_token(job: &Job, output: &Run, server: &MockServer) {
    for line in output.stdout.lines().filter(|line| line.contains(SENTINEL)) {
        assert_eq!(line, format!("::add-mask::{SENTINEL}"));
    }
    assert!(!output.stderr.contains(SENTINEL), "{}", output.stderr);
    assert_eq!(job.files_with_token(), Vec::<PathBuf>::new());
    for call in calls(server).await {
        assert!(!call.body.to_string().contains(SENTINEL), "{}", call.line);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_in_the_action_publishes_everything_and_masks_the_token_first() {
    let server = github().await;
    let job = Job::new("0.01");
    let output = job.run("run", &server).await;
    assert_eq!(output.code(), Some(0), "{}", output.stderr);

    let stdout = &output.stdout;
    assert_eq!(
        stdout.lines().next(),
        Some(format!("::add-mask::{SENTINEL}").as_str())
    );
    let stderr = &output.stderr;
    assert!(
        stderr.contains("::group::Step 1: 20%") && stderr.contains("::endgroup::"),
        "{stderr}"
    );

    let outputs = outputs(&output);
    assert_eq!(outputs["outcome"], "promoted");
    assert_eq!(outputs["stable-version"], "v1");
    assert_eq!(outputs["new-version"], "v2");
    assert_eq!(Path::new(&outputs["report"]), job.file("out/report.json"));
    assert_eq!(Path::new(&outputs["summary"]), job.file("out/summary.md"));
    assert_eq!(outputs["comment-id"], "1001");
    assert_eq!(outputs["deployment-id"], "42");
    let report = output.report.as_ref().expect("the JSON report was written");
    assert_eq!(report["outcome"], "promoted");

    let step_summary = step_summary(&output);
    assert!(
        step_summary.starts_with("✅ **checkout v2 promoted**"),
        "{step_summary}"
    );
    assert_eq!(Some(step_summary), output.markdown.as_deref());

    let calls = calls(&server).await;
    let lines = lines(&calls);
    assert_eq!(
        lines
            .iter()
            .filter(|line| line.starts_with("POST /repos/acme/shop/issues/7/comments"))
            .count(),
        1
    );
    assert!(
        lines
            .iter()
            .filter(|line| line.starts_with("PATCH"))
            .count()
            >= 3,
        "{lines:#?}"
    );
    let states: Vec<&str> = calls
        .iter()
        .filter(|call| call.line.ends_with("/statuses"))
        .map(|call| call.body["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["in_progress", "success"]);
    assert_no_token(&job, &output, &server).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_broken_github_leaves_the_rollback_and_exit_code_2_alone() {
    let server = MockServer::start().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(500).set_body_json(json!({"message": "boom"})))
        .mount(&server)
        .await;
    let job = Job::new("0.5");
    let output = job.run("run", &server).await;
    let stderr = &output.stderr;
    assert_eq!(output.code(), Some(2), "{stderr}");
    // One warning for the whole run, however many calls failed.
    let warnings: Vec<&str> = stderr
        .lines()
        .filter(|line| line.starts_with("::warning::"))
        .collect();
    assert_eq!(warnings.len(), 1, "{stderr}");
    assert!(warnings[0].contains("GitHub answered 500"), "{stderr}");
    assert!(!stderr.contains("ERROR"), "{stderr}");
    assert_eq!(outputs(&output)["outcome"], "rolled_back");
    assert!(step_summary(&output).starts_with("↩️ **checkout v2 rolled back**"));
    assert_no_token(&job, &output, &server).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_plan_is_commented_and_its_outputs_written_but_nothing_deployed() {
    let server = github().await;
    let job = Job::new("0.01");
    let output = job.run("plan", &server).await;
    assert_eq!(output.code(), Some(0), "{}", output.stderr);
    assert_eq!(outputs(&output)["outcome"], "planned");
    let calls = calls(&server).await;
    assert_eq!(
        lines(&calls),
        [
            "GET /user",
            "GET /repos/acme/shop/issues/7/comments?per_page=100&page=1",
            "POST /repos/acme/shop/issues/7/comments",
        ]
    );
    let body = calls[2].body["body"].as_str().unwrap();
    assert!(
        body.starts_with("<!-- greenlight:checkout:production -->\n📋 **checkout v2 planned**"),
        "{body}"
    );
    assert!(
        body.contains("<details><summary>Plan</summary>")
            && body.contains("nothing has been changed"),
        "{body}"
    );
    assert!(!job.file("weight").exists());
    assert_no_token(&job, &output, &server).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_nearly_full_job_summary_still_gets_the_verdict() {
    let server = github().await;
    let job = Job::new("0.01");
    // Another tool already used all but 300 bytes of this step's summary.
    let used = "x".repeat(1024 * 1024 - 300);
    std::fs::write(job.file("step_summary.md"), &used).unwrap();
    let output = job.run("run", &server).await;
    assert_eq!(output.code(), Some(0));
    let summary = step_summary(&output);
    assert!(summary.len() <= 1024 * 1024, "{}", summary.len());
    let ours = &summary[used.len()..];
    assert!(ours.starts_with("✅ **checkout v2 promoted**"), "{ours}");
    assert!(ours.contains("the JSON report has everything"), "{ours}");
}

/// The requests of one kind (the deployment's or the comment's), in order:
/// the two are written side by side.
fn of<'a>(lines: &[&'a str], prefixes: &[&str]) -> Vec<&'a str> {
    lines
        .iter()
        .copied()
        .filter(|line| prefixes.iter().any(|prefix| line.starts_with(prefix)))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_manual_rollback_updates_the_rollouts_deployment_and_comment() {
    let server = github().await;
    // The rollout's deployment among others of the environment, newest first.
    Mock::given(method("GET"))
        .and(path_regex(r"^/repos/acme/shop/deployments$"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([
            {"id": 43, "description": "greenlight: payments v7 → v8"},
            {"id": 42, "description": "greenlight: checkout v1 → v2"},
            {"id": 41, "description": "greenlight: checkout v0 → v1"},
        ])))
        .mount(&server)
        .await;
    // A workflow_dispatch run: no pull request in the event; the commit has one.
    Mock::given(method("GET"))
        .and(path_regex(r"^/repos/acme/shop/commits/abc123/pulls$"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([{"number": 7}])))
        .mount(&server)
        .await;
    let comments = json!([
        {"id": 1001, "body": "<!-- greenlight:checkout:production -->\nthe rollout", "user": {"login": BOT}},
    ]);
    Mock::given(method("GET"))
        .and(path_regex(r"^/repos/acme/shop/issues/7/comments$"))
        .respond_with(ResponseTemplate::new(200).set_body_json(comments))
        .with_priority(1)
        .mount(&server)
        .await;
    let job = Job::new("0.01");
    job.halted_at_20();
    std::fs::write(
        job.file("event.json"),
        json!({"inputs": {"command": "rollback"}}).to_string(),
    )
    .unwrap();
    let output = job
        .run_with("rollback", &server, &[("GITHUB_REF", "refs/heads/main")])
        .await;
    assert_eq!(output.code(), Some(0), "{}", output.stderr);
    assert_eq!(
        std::fs::read_to_string(job.file("weight")).unwrap().trim(),
        "0"
    );

    let calls = calls(&server).await;
    let lines = lines(&calls);
    let deployment = of(
        &lines,
        &[
            "GET /repos/acme/shop/deployments",
            "POST /repos/acme/shop/deployments",
        ],
    );
    assert_eq!(
        deployment,
        [
            "GET /repos/acme/shop/deployments?environment=production&per_page=100",
            "POST /repos/acme/shop/deployments/42/statuses",
            "POST /repos/acme/shop/deployments/42/statuses",
        ]
    );
    let statuses: Vec<&Call> = calls
        .iter()
        .filter(|call| call.line.ends_with("/statuses"))
        .collect();
    assert_eq!(statuses[0].body["state"], "in_progress");
    assert_eq!(statuses[1].body["state"], "failure");
    let description = statuses[1].body["description"].as_str().unwrap();
    assert!(
        description.starts_with("↩️ checkout v2 rolled back"),
        "{description}"
    );
    assert_eq!(
        statuses[1].body["log_url"],
        "https://github.com/acme/shop/actions/runs/7"
    );

    let comment = of(
        &lines,
        &[
            "GET /user",
            "GET /repos/acme/shop/commits",
            "GET /repos/acme/shop/issues",
            "POST /repos/acme/shop/issues",
            "PATCH",
        ],
    );
    assert_eq!(
        comment[..3],
        [
            "GET /repos/acme/shop/commits/abc123/pulls",
            "GET /user",
            "GET /repos/acme/shop/issues/7/comments?per_page=100&page=1",
        ]
    );
    assert!(comment.len() >= 4, "{comment:#?}");
    assert_all(&comment[3..], "PATCH /repos/acme/shop/issues/comments/1001");
    assert_eq!(deployment.len() + comment.len(), lines.len(), "{lines:#?}");
    let last = calls
        .iter()
        .rev()
        .find(|call| call.line.starts_with("PATCH"))
        .unwrap();
    let body = last.body["body"].as_str().unwrap();
    assert!(body.contains("checkout v2 rolled back"), "{body}");

    let outputs = outputs(&output);
    assert_eq!(outputs["outcome"], "rolled_back");
    assert_eq!(outputs["comment-id"], "1001");
    assert_eq!(outputs["deployment-id"], "42");
    assert_no_token(&job, &output, &server).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn someone_elses_comment_with_the_marker_is_left_alone() {
    let server = github().await;
    Mock::given(method("GET"))
        .and(path_regex(r"^/repos/acme/shop/issues/7/comments$"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([
            {"id": 500, "body": "<!-- greenlight:checkout:production -->\ncopied from the bot", "user": {"login": "alice"}},
        ])))
        .with_priority(1)
        .mount(&server)
        .await;
    let job = Job::new("0.01");
    let output = job
        .run_with("run", &server, &[("GREENLIGHT_DEPLOYMENT", "false")])
        .await;
    assert_eq!(output.code(), Some(0), "{}", output.stderr);
    let calls = calls(&server).await;
    let lines = lines(&calls);
    assert_eq!(
        lines[..4],
        [
            "GET /user",
            "GET /repos/acme/shop/issues/7/comments?per_page=100&page=1",
            "POST /repos/acme/shop/issues/7/comments",
            "PATCH /repos/acme/shop/issues/comments/1001",
        ]
    );
    assert_all(&lines[3..], "PATCH /repos/acme/shop/issues/comments/1001");
    assert_eq!(outputs(&output)["comment-id"], "1001");
    assert!(!output.stderr.contains("::warning::"), "{}", output.stderr);
}

/// A GitHub where the token cannot ask who it is, as with an app installation token.
async fn github_for_an_app_token(comments: serde_json::Value) -> MockServer {
    let forbidden = json!({"message": "Resource not accessible by integration"});
    let listed = r"^/repos/acme/shop/issues/7/comments$";
    let comment = r"^/repos/acme/shop/issues/comments/(501|1001)$";
    serving(vec![
        ("GET", r"^/user$", 403, forbidden),
        ("GET", listed, 200, comments),
        ("POST", listed, 201, json!({"id": 1001})),
        ("PATCH", comment, 200, json!({"id": 501})),
    ])
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn the_job_token_finds_its_comment_by_the_bot_login_the_action_names() {
    let server = github_for_an_app_token(json!([
        {"id": 500, "body": "<!-- greenlight:checkout:production -->\ncopied", "user": {"login": "alice"}},
        {"id": 501, "body": "<!-- greenlight:checkout:production -->\nlast run", "user": {"login": "github-actions[bot]"}},
    ]))
    .await;
    let job = Job::new("0.01");
    let env = [
        ("GREENLIGHT_DEPLOYMENT", "false"),
        ("GREENLIGHT_COMMENT_AUTHOR", "github-actions[bot]"),
    ];
    let output = job.run_with("run", &server, &env).await;
    assert_eq!(output.code(), Some(0), "{}", output.stderr);
    let found = calls(&server).await;
    let found = lines(&found);
    assert_eq!(
        found[0],
        "GET /repos/acme/shop/issues/7/comments?per_page=100&page=1"
    );
    assert_all(&found[1..], "PATCH /repos/acme/shop/issues/comments/501");

    // Without the login, the 403 on GET /user is said once, with the
    // setting that fixes it; the marker alone finds the comment.
    let job = Job::new("0.01");
    let server = github_for_an_app_token(json!([])).await;
    let output = job
        .run_with("run", &server, &[("GREENLIGHT_DEPLOYMENT", "false")])
        .await;
    let stderr = &output.stderr;
    assert_eq!(output.code(), Some(0), "{stderr}");
    assert_eq!(
        stderr.matches("cannot ask GitHub who the token is").count(),
        1,
        "{stderr}"
    );
    assert!(stderr.contains("GREENLIGHT_COMMENT_AUTHOR"), "{stderr}");
    // A reporting problem, so a workflow annotation like the others.
    assert!(
        stderr.lines().any(|line| line.starts_with("::warning::")
            && line.contains("cannot ask GitHub who the token is")),
        "{stderr}"
    );
    assert_eq!(
        lines(&calls(&server).await)[..3],
        [
            "GET /user",
            "GET /repos/acme/shop/issues/7/comments?per_page=100&page=1",
            "POST /repos/acme/shop/issues/7/comments",
        ]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rollback_is_one_error_annotation_titled_with_the_service() {
    let server = github().await;
    let job = Job::new("0.5");
    let output = job.run("run", &server).await;
    let stderr = &output.stderr;
    assert_eq!(output.code(), Some(2), "{stderr}");
    let errors: Vec<&str> = stderr
        .lines()
        .filter(|line| line.starts_with("::error"))
        .collect();
    assert_eq!(errors.len(), 1, "{stderr}");
    assert!(
        errors[0].starts_with(
            "::error title=checkout rolled back::`error-rate` was 0.5, outside ≤ 0.05"
        ),
        "{stderr}"
    );
    // The job summary's first line links the run.
    let summary = step_summary(&output);
    let first = summary.lines().next().unwrap();
    assert!(
        first.ends_with(" · [CI run](https://github.com/acme/shop/actions/runs/7)"),
        "{first}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_halted_run_hands_off_in_the_log_the_summary_and_the_comment() {
    let server = github().await;
    let job = Job::new("not a number");
    let mut spec = std::fs::read_to_string(&job.spec).unwrap();
    spec.push_str("report:\n  dispatchWorkflow: .github/workflows/greenlight-manual.yml\n");
    std::fs::write(&job.spec, spec).unwrap();
    let output = job.run("run", &server).await;
    let stderr = &output.stderr;
    assert_eq!(output.code(), Some(3), "{stderr}");

    let spec = job.spec.display().to_string();
    let promote = format!("greenlight promote -f {spec} --version v2");
    let rollback = format!("greenlight rollback -f {spec} --version v2");
    let dispatch = "https://github.com/acme/shop/actions/workflows/greenlight-manual.yml";
    let error = stderr
        .lines()
        .find(|line| line.starts_with("::error"))
        .unwrap_or_else(|| panic!("no ::error in {stderr}"));
    assert!(
        error.starts_with("::error title=checkout halted::"),
        "{error}"
    );
    assert!(
        error.contains(&format!("`{promote}` or `{rollback}`")),
        "{error}"
    );
    assert!(
        stderr.contains(&format!("  {promote}  # send all traffic to v2")),
        "{stderr}"
    );

    let summary = step_summary(&output).to_owned();
    let comment = calls(&server)
        .await
        .iter()
        .rev()
        .find_map(|call| call.body["body"].as_str().map(str::to_owned))
        .unwrap();
    for text in [&summary, &comment] {
        for expected in [&promote, &rollback, dispatch] {
            assert!(text.contains(expected), "{expected}\n---\n{text}");
        }
    }
}
