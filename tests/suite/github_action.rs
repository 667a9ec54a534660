//! The binary as the composite action runs it: the action's environment in;
//! masks, outputs, the job summary, the comment and the deployment out; the
//! token nowhere else.

use std::path::{Path, PathBuf};

use serde_json::json;
use tempfile::TempDir;
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::binary::{Greenlight, Run};
use crate::support::ci::{SENTINEL, calls, lines, parse_github_output, serving};
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
        // The binary blocks; the mock server needs this runtime to answer.
        tokio::task::spawn_blocking(move || cmd.run())
            .await
            .unwrap()
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

/// The job summary the run wrote.
fn step_summary(run: &Run) -> &str {
    run.summary.as_deref().expect("the job summary was written")
}

/// The token may appear on stdout only inside `::add-mask::`, which the runner
/// consumes; never on stderr, in a file or in a request body.
async fn assert_no_token(job: &Job, output: &Run, server: &MockServer) {
    let stdout = &output.stdout;
    for line in stdout.lines().filter(|line| line.contains(SENTINEL)) {
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
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&outputs["report"]).unwrap()).unwrap();
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
            "GET /repos/acme/shop/issues/7/comments?per_page=100&page=1",
            "POST /repos/acme/shop/issues/7/comments",
        ]
    );
    let body = calls[1].body["body"].as_str().unwrap();
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
    let first = step_summary(&output).lines().next().unwrap();
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
