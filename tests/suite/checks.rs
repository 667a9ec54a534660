//! Smoke checks and hooks against real local HTTP servers (wiremock) and real
//! commands; retries run on a virtual clock.

use std::sync::Arc;
use std::time::Duration;

use greenlight::checks::{CheckRunner, CheckSuite};
use greenlight::clock::ManualClock;
use greenlight::engine::CheckResult;
use greenlight::engine::plan::CheckStage;
use greenlight::release::Release;
use greenlight::secrets::Masker;
use greenlight::spec::{LoadOptions, load};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::binary::Greenlight;
use crate::support::{epoch, spec_yaml};

fn http_client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("an HTTP client")
}

/// Runs the before-traffic checks of a spec whose `smoke:` section is `smoke`.
async fn run_smoke(smoke: &str, masker: Masker) -> Vec<CheckResult> {
    let body =
        format!("strategy:\n  canary:\n    steps: [{{weight: 10, hold: 1m}}]\nsmoke:\n{smoke}");
    let options = LoadOptions {
        version: "v2".into(),
        stable_version: "v1".into(),
        ..LoadOptions::default()
    };
    let loaded =
        load("test.yaml", &spec_yaml(&body), &options).unwrap_or_else(|error| panic!("{error}"));
    let release = Release {
        name: "checkout".into(),
        stable_version: "v1".into(),
        new_version: "v2".into(),
    };
    let clock = Arc::new(ManualClock::starting_at(epoch()));
    let suite = CheckSuite::from_spec(&loaded.spec, &release, &http_client(), clock, masker)
        .expect("checks build");
    suite.run(CheckStage::BeforeTraffic, None).await
}

async fn one(smoke: &str) -> CheckResult {
    let mut results = run_smoke(smoke, Masker::default()).await;
    assert_eq!(results.len(), 1);
    results.remove(0)
}

#[tokio::test]
async fn every_expectation_passes_against_a_healthy_server() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/healthz"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("x-version", "v2")
                .set_body_json(serde_json::json!({"status": "UP", "version": "v2"})),
        )
        .mount(&server)
        .await;
    let result = one(&format!(
        "  - name: healthz
    http:
      url: {}/healthz
      expect:
        status: 200
        bodyContains: UP
        bodyMatches: '\"version\":\"v[0-9]+\"'
        json: {{pointer: /status, equals: UP}}
        headers: {{X-Version: v2}}
        latency: 5s
",
        server.uri()
    ))
    .await;
    assert!(result.passed, "{}", result.detail);
    assert_eq!(result.attempts, 1);
    assert!(
        result
            .detail
            .starts_with(&format!("GET {}/healthz answered 200 in", server.uri())),
        "{}",
        result.detail
    );
}

#[tokio::test]
async fn a_failing_server_fails_with_what_it_answered() {
    let server = MockServer::start().await;
    Mock::given(path("/status"))
        .respond_with(ResponseTemplate::new(503))
        .mount(&server)
        .await;
    Mock::given(path("/json"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(serde_json::json!({"status": "DOWN"})),
        )
        .mount(&server)
        .await;
    let uri = server.uri();
    let status = one(&format!(
        "  - {{name: status, http: {{url: '{uri}/status'}}, timeout: 1s, attempts: 2}}\n"
    ))
    .await;
    assert!(!status.passed);
    assert_eq!(status.attempts, 2);
    assert_eq!(
        status.detail,
        format!("GET {uri}/status answered 503, expected 200 (after 2 attempts)")
    );

    let json = one(&format!(
        "  - {{name: json, http: {{url: '{uri}/json', expect: {{json: {{pointer: /status, equals: UP}}}}}}, attempts: 1}}\n"
    ))
    .await;
    assert_eq!(
        json.detail,
        format!("GET {uri}/json: /status is \"DOWN\", expected \"UP\"")
    );
}

#[tokio::test]
async fn a_flaky_server_passes_once_it_recovers() {
    let server = MockServer::start().await;
    Mock::given(path("/healthz"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(2)
        .mount(&server)
        .await;
    Mock::given(path("/healthz"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    let result = one(&format!(
        "  - {{name: healthz, http: {{url: '{}/healthz'}}, timeout: 30s}}\n",
        server.uri()
    ))
    .await;
    assert!(result.passed, "{}", result.detail);
    assert_eq!(result.attempts, 3);
    // Backoff 200 ms then 400 ms, on the virtual clock.
    assert!(
        result.elapsed >= Duration::from_millis(600),
        "{:?}",
        result.elapsed
    );
}

#[tokio::test]
async fn a_slow_server_times_out() {
    let server = MockServer::start().await;
    Mock::given(path("/slow"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(5)))
        .mount(&server)
        .await;
    let result = one(&format!(
        "  - {{name: slow, http: {{url: '{}/slow'}}, timeout: 300ms, attempts: 1}}\n",
        server.uri()
    ))
    .await;
    assert!(!result.passed);
    assert!(result.detail.contains("timed out"), "{}", result.detail);
}

#[tokio::test]
async fn an_oversized_body_is_cut_and_says_so() {
    let server = MockServer::start().await;
    let mut body = "x".repeat(2 * 1024 * 1024);
    body.push_str("needle");
    Mock::given(path("/big"))
        .respond_with(ResponseTemplate::new(200).set_body_string(body))
        .mount(&server)
        .await;
    let result = one(&format!(
        "  - {{name: big, http: {{url: '{}/big', expect: {{bodyContains: needle}}}}, attempts: 1}}\n",
        server.uri()
    ))
    .await;
    assert!(!result.passed);
    assert!(
        result.detail.contains("(only its first 1 MiB were read)"),
        "{}",
        result.detail
    );
    assert!(
        result.detail.len() < 1_000,
        "a failure quotes the body, not all of it"
    );
}

#[tokio::test]
async fn command_checks_see_the_rollout_and_keep_their_output() {
    let result = one("  - name: context
    command: 'test \"$GREENLIGHT_NEW_VERSION\" = v2 && echo \"stage=$GREENLIGHT_STAGE\"'
")
    .await;
    assert!(result.passed, "{}", result.detail);
    assert_eq!(result.output.as_deref(), Some("stage=before-traffic"));
}

#[tokio::test]
async fn non_utf8_output_is_kept_readably() {
    let result =
        one("  - {name: bytes, command: \"printf 'caf\\\\351 \\\\377'; exit 3\", attempts: 1}\n")
            .await;
    assert!(!result.passed);
    assert!(result.detail.contains("exited 3"), "{}", result.detail);
    assert_eq!(result.output.as_deref(), Some("caf\u{FFFD} \u{FFFD}"));
}

#[tokio::test]
async fn output_is_size_capped_and_secrets_are_masked() {
    let masker = Masker::from_env([("DEPLOY_TOKEN".to_owned(), "sentinel-7d1f".to_owned())]);
    let results = run_smoke(
        "  - {name: leak, command: 'echo token=sentinel-7d1f; exit 1', attempts: 1}
  - {name: loud, command: 'head -c 100000 /dev/zero | tr \"\\\\0\" a'}
",
        masker,
    )
    .await;
    let leak = &results[0];
    assert_eq!(leak.output.as_deref(), Some("token=***"));
    assert!(
        leak.detail.contains("token=***") && !leak.detail.contains("sentinel"),
        "{}",
        leak.detail
    );
    let loud = results[1].output.as_deref().unwrap_or_default();
    assert!(loud.len() < 20_000, "{}", loud.len());
    assert!(
        loud.ends_with("more byte(s) not kept"),
        "{}",
        &loud[loud.len() - 40..]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_smoke_check_keeps_all_traffic_on_stable_through_the_binary() {
    let server = MockServer::start().await;
    Mock::given(path("/healthz"))
        .respond_with(ResponseTemplate::new(503))
        .mount(&server)
        .await;
    let dir = tempfile::TempDir::new().unwrap();
    let spec = format!(
        "apiVersion: greenlight.dev/v1alpha1
kind: Rollout
metadata: {{name: checkout}}
target:
  command: {{deploy: 'true'}}
router:
  command:
    set: echo $GREENLIGHT_WEIGHT >> {dir}/weights
    get: tail -n 1 {dir}/weights
strategy:
  canary:
    steps: [{{weight: 10, hold: 1s}}]
smoke:
  - name: healthz
    http: {{url: '{uri}/healthz'}}
    attempts: 2
state: {{file: {dir}/state.json}}
",
        dir = dir.path().display(),
        uri = server.uri()
    );
    std::fs::write(dir.path().join("greenlight.yaml"), spec).unwrap();
    let report = dir.path().join("report.json");
    let mut command = Greenlight::new().into_std();
    command
        .current_dir(dir.path())
        .args([
            "run",
            "--version",
            "v2",
            "--stable-version",
            "v1",
            "--report",
        ])
        .arg(&report);
    let status = tokio::task::spawn_blocking(move || command.status())
        .await
        .unwrap()
        .unwrap();

    assert_eq!(status.code(), Some(2));
    let weights = std::fs::read_to_string(dir.path().join("weights")).unwrap();
    assert_eq!(weights, "0\n", "the new version never got traffic");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(report).unwrap()).unwrap();
    assert_eq!(report["outcome"], "rolled_back");
    let smoke = report["checks"][0].clone();
    assert_eq!(
        (smoke["kind"].as_str(), smoke["verdict"].as_str()),
        (Some("smoke"), Some("fail"))
    );
    assert_eq!(smoke["attempts"], 2);
}
