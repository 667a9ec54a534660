//! The chat notification (`report.webhook`) through the binary, against a
//! local HTTP server: each format once at the end, the URL masked, and a
//! webhook that never answers costs at most the final report's time limit.

use std::path::Path;
use std::process::Output;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::support::binary::Greenlight;
use crate::support::file_driven_spec;
use crate::support::http_server::{HttpServer, Response};

/// The path is the secret part of a real webhook URL.
const HOOK: &str = "/hooks/T000/B000/XXXXsecretXXXX";

fn job(error_rate: &str, webhook: &str) -> (TempDir, std::path::PathBuf) {
    let dir = TempDir::new().unwrap();
    let spec = file_driven_spec(dir.path());
    std::fs::write(dir.path().join("error-rate"), error_rate).unwrap();
    let mut text = std::fs::read_to_string(&spec).unwrap();
    text.push_str(&format!("report:\n{webhook}"));
    std::fs::write(&spec, text).unwrap();
    (dir, spec)
}

async fn run(spec: &Path, url: &str) -> Output {
    let mut cmd = Greenlight::on("run", spec);
    cmd.args(["--version", "v2", "--stable-version", "v1", "--report"])
        .arg(spec.with_file_name("report.json"))
        .env("CHAT_WEBHOOK", url);
    tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn each_format_gets_one_message_at_the_end_and_the_url_stays_secret() {
    for format in ["slack", "teams", "json"] {
        let server = HttpServer::start(Arc::new(|_| Response::text(200, "ok"))).await;
        let url = server.url(HOOK);
        let (dir, spec) = job(
            "0.5",
            &format!("  webhook:\n    urlEnv: CHAT_WEBHOOK\n    format: {format}\n"),
        );
        let output = run(&spec, &url).await;
        let stderr = text(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{format}: {stderr}");

        let requests = server.requests();
        assert_eq!(requests.len(), 1, "{format}: {requests:#?}");
        let request = &requests[0];
        assert_eq!(
            (request.method.as_str(), request.path.as_str()),
            ("POST", HOOK)
        );
        assert_eq!(request.headers["content-type"], "application/json");
        let body: serde_json::Value = serde_json::from_str(&request.body).unwrap();
        let headline = "↩️ checkout v2 rolled back";
        let said = match format {
            "slack" => {
                let steps = body["blocks"][1]["text"]["text"].as_str().unwrap();
                assert!(
                    steps.contains("Step 1 · 20%") && steps.contains("error-rate 0.5 ❌"),
                    "{steps}"
                );
                body["text"].as_str().unwrap().to_owned()
            }
            "teams" => {
                let card = &body["attachments"][0]["content"];
                assert_eq!(card["type"], "AdaptiveCard");
                assert!(
                    card["body"][2]["text"]
                        .as_str()
                        .unwrap()
                        .contains("error-rate 0.5 ❌")
                );
                card["body"][0]["text"].as_str().unwrap().to_owned()
            }
            _ => {
                assert_eq!(body["outcome"], "rolled_back");
                assert_eq!(body["steps"][0]["gates"][0]["value"], 0.5);
                body["headline"].as_str().unwrap().to_owned()
            }
        };
        assert!(said.starts_with(headline), "{format}: {said}");

        let report = std::fs::read_to_string(dir.path().join("report.json")).unwrap();
        for place in [&stderr, &text(&output.stdout), &report] {
            assert!(!place.contains("XXXXsecretXXXX"), "{format}: {place}");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_plan_sends_nothing_and_a_failing_webhook_is_one_warning() {
    let server = HttpServer::start(Arc::new(|_| Response::text(500, "no_service"))).await;
    let (_dir, spec) = job("0.01", "  webhook:\n    urlEnv: CHAT_WEBHOOK\n");
    let mut plan = Greenlight::on("plan", &spec);
    plan.args(["--version", "v2", "--stable-version", "v1"])
        .env("CHAT_WEBHOOK", server.url(HOOK));
    let planned = tokio::task::spawn_blocking(move || plan.output().unwrap())
        .await
        .unwrap();
    assert_eq!(planned.status.code(), Some(0), "{}", text(&planned.stderr));
    assert!(server.requests().is_empty());

    let output = run(&spec, &server.url(HOOK)).await;
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert_eq!(server.requests().len(), 1);
    let warnings: Vec<&str> = stderr
        .lines()
        .filter(|line| line.contains("the chat webhook answered 500"))
        .collect();
    assert_eq!(warnings.len(), 1, "{stderr}");
    assert!(!stderr.contains("XXXXsecretXXXX"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hanging_webhook_keeps_the_job_no_longer_than_the_final_limit() {
    let server = HttpServer::start(Arc::new(|_| {
        Response::text(200, "ok").delayed(Duration::from_secs(60))
    }))
    .await;
    let (_dir, spec) = job(
        "0.01",
        "  finalTimeout: 1s\n  webhook:\n    urlEnv: CHAT_WEBHOOK\n    format: slack\n",
    );
    let started = Instant::now();
    let output = run(&spec, &server.url(HOOK)).await;
    let took = started.elapsed();
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert_eq!(server.requests().len(), 1);
    assert!(
        stderr.contains("did not take the final report within 1s"),
        "{stderr}"
    );
    // The rollout holds two 200ms steps; a call's own timeout is 10s, so
    // anything under it means the final limit cut the webhook short.
    assert!(took < Duration::from_secs(8), "{took:?}");
}

#[test]
fn an_unset_webhook_variable_is_a_warning_not_a_failure() {
    let (_dir, spec) = job("0.01", "  webhook:\n    urlEnv: CHAT_WEBHOOK\n");
    let output = Greenlight::on("run", &spec)
        .args(["--version", "v2", "--stable-version", "v1"])
        .output()
        .unwrap();
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("CHAT_WEBHOOK") && stderr.contains("no chat notification"),
        "{stderr}"
    );
}
