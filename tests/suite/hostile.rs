//! Hostile input: a server that echoes credentials, values no gate can compare,
//! commands whose children outlive them, and specs built to exhaust memory.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

use serde_json::json;
use tempfile::TempDir;
use wiremock::matchers::{method, path_regex};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

use crate::support::binary::Greenlight;
use crate::support::ci::calls;

/// In every credential variable; must show up nowhere but the requests that
/// carry it and `::add-mask::`.
const SENTINEL: &str = "s3ntinel-Zq9XwYv7-do-not-print";

fn base64(text: &str) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let bytes = text.as_bytes();
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (i, shift) in [18, 12, 6, 0].into_iter().enumerate() {
            out.push(if i <= chunk.len() {
                char::from(ALPHABET[((n >> shift) & 63) as usize])
            } else {
                '='
            });
        }
    }
    out
}

/// Every form of the sentinel a leak could take.
fn forbidden() -> Vec<String> {
    vec![
        SENTINEL.to_owned(),
        base64(SENTINEL),
        base64(&format!("{SENTINEL}:{SENTINEL}")),
        // What is left after a cut: the first 12 characters.
        SENTINEL[..12].to_owned(),
    ]
}

fn leaks(text: &str) -> Vec<String> {
    forbidden()
        .into_iter()
        .filter(|secret| text.contains(secret.as_str()))
        .collect()
}

/// A Prometheus (or proxy) that misbehaves in every way that echoes a
/// credential: a 500 and a 400 with every request header in the body, and a
/// redirect to another origin.
async fn echoing_prometheus(elsewhere: &MockServer) -> MockServer {
    let server = MockServer::start().await;
    let elsewhere = elsewhere.uri();
    let seen = std::sync::atomic::AtomicUsize::new(0);
    Mock::given(path_regex("^/api/v1/query$"))
        .respond_with(move |request: &Request| {
            let headers: Vec<String> = request
                .headers
                .iter()
                .map(|(name, value)| format!("{name}: {}", value.to_str().unwrap_or_default()))
                .collect();
            let echo = format!("upstream failed; you sent {}", headers.join("; "));
            match seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst) % 3 {
                0 => ResponseTemplate::new(500).set_body_string(echo),
                1 => ResponseTemplate::new(400).set_body_json(
                    json!({"status": "error", "errorType": "bad_data", "error": echo}),
                ),
                _ => ResponseTemplate::new(302)
                    .insert_header("location", format!("{elsewhere}/api/v1/query")),
            }
        })
        .mount(&server)
        .await;
    server
}

/// A health check that passes, and a metrics endpoint that echoes its headers in a 500.
async fn echoing_endpoint() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(path_regex("^/health$"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    Mock::given(path_regex("^/metrics$"))
        .respond_with(|request: &Request| {
            let headers: Vec<String> = request
                .headers
                .iter()
                .map(|(name, value)| format!("{name}={}", value.to_str().unwrap_or_default()))
                .collect();
            ResponseTemplate::new(500).set_body_string(format!("denied: {}", headers.join(" ")))
        })
        .mount(&server)
        .await;
    server
}

/// A spec naming the sentinel in every credential variable it can name.
fn leaky_spec(dir: &Path, prometheus: &str, endpoint: &str, auth: &str) -> PathBuf {
    let spec = format!(
        "apiVersion: greenlight.dev/v1alpha1
kind: Rollout
metadata:
  name: checkout
target:
  command:
    deploy: echo deploy >> {dir}/log
    retire: echo retire >> {dir}/log
router:
  command:
    set: echo $GREENLIGHT_WEIGHT > {dir}/weight
    get: cat {dir}/weight
strategy:
  canary:
    steps:
      - {{weight: 20, hold: 1m}}
smoke:
  - name: sends a key
    http:
      url: {endpoint}/health
      headersFromEnv: {{X-Check-Key: CHECK_KEY}}
hooks:
  preRollout:
    - name: prints the token
      command: echo \"token is $PROM_TOKEN\"
analysis:
  interval: 50ms
  consecutiveErrorLimit: 3
  prometheus:
    address: {prometheus}
    auth: {auth}
  metrics:
    - name: error-rate
      query: {{prometheus: 'sum(rate(errors[1m]))'}}
      max: 0.05
    - name: api-errors
      query:
        http: {{url: '{endpoint}/metrics', headers: {{X-Api-Key: API_KEY_VAR}}, pointer: /v}}
      max: 1
state:
  file: {dir}/state.json
",
        dir = dir.display()
    );
    let path = dir.join("greenlight.yaml");
    std::fs::write(&path, spec).unwrap();
    path
}

/// Every file under `dir` that holds a form of the sentinel.
fn files_with_leaks(dir: &Path) -> Vec<(PathBuf, Vec<String>)> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let leaked = leaks(&String::from_utf8_lossy(&std::fs::read(&path).unwrap()));
                if !leaked.is_empty() && path.file_name() != Some("greenlight.yaml".as_ref()) {
                    found.push((path, leaked));
                }
            }
        }
    }
    found
}

#[derive(Clone, Copy, PartialEq)]
enum Forge {
    GitHub,
    GitLab,
}

async fn run_leaky(
    auth: &str,
    forge_kind: Forge,
) -> (TempDir, Output, MockServer, MockServer, MockServer) {
    let elsewhere = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&elsewhere)
        .await;
    let prometheus = echoing_prometheus(&elsewhere).await;
    let endpoint = echoing_endpoint().await;
    let forge = match forge_kind {
        Forge::GitHub => crate::github_action::github().await,
        Forge::GitLab => crate::gitlab::gitlab(json!([])).await,
    };
    let dir = TempDir::new().unwrap();
    let spec = leaky_spec(dir.path(), &prometheus.uri(), &endpoint.uri(), auth);
    std::fs::write(
        dir.path().join("event.json"),
        json!({"pull_request": {"number": 7}}).to_string(),
    )
    .unwrap();
    let mut cmd = Greenlight::new();
    cmd.current_dir(dir.path())
        .args(["run", "-f"])
        .arg(&spec)
        .args(["--version", "v2", "--stable-version", "v1", "--report"])
        .arg(dir.path().join("out/report.json"))
        .arg("--summary")
        .arg(dir.path().join("out/summary.md"))
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        // Names that say nothing about secrets: only the spec tells greenlight.
        .env("PROM_BEARER", SENTINEL)
        .env("PROM_USER", SENTINEL)
        .env("PROM_PASS", SENTINEL)
        .env("PROM_TOKEN", SENTINEL)
        .env("CHECK_KEY", SENTINEL)
        .env("API_KEY_VAR", SENTINEL)
        .env("GREENLIGHT_COMMENT", "true")
        .env("GREENLIGHT_ENVIRONMENT", "production");
    if forge_kind == Forge::GitLab {
        cmd.env("GITLAB_CI", "true")
            .env("CI_API_V4_URL", format!("{}/api/v4", forge.uri()))
            .env("CI_PROJECT_ID", "42")
            .env("CI_MERGE_REQUEST_IID", "5")
            .env("GITLAB_TOKEN", "glpat-forge-token-1234");
    } else {
        cmd.env("GITHUB_ACTIONS", "true")
            .env("GITHUB_API_URL", forge.uri())
            .env("GITHUB_SERVER_URL", "https://github.com")
            .env("GITHUB_REPOSITORY", "acme/shop")
            .env("GITHUB_RUN_ID", "7")
            .env("GITHUB_SHA", "abc123")
            .env("GITHUB_EVENT_PATH", dir.path().join("event.json"))
            .env("GITHUB_OUTPUT", dir.path().join("github_output"))
            .env("GITHUB_STEP_SUMMARY", dir.path().join("step_summary.md"))
            .env("GREENLIGHT_GITHUB_TOKEN", "ghs_forge_token_1234")
            .env("GREENLIGHT_SUMMARY", "true")
            .env("GREENLIGHT_DEPLOYMENT", "true");
    }
    let output = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    (dir, output, forge, elsewhere, prometheus)
}

/// The outputs checked: stdout (but `::add-mask::`), stderr, every file the
/// run wrote (JSON report, Markdown summary, job summary, GITHUB_OUTPUT, state
/// file), every request body to the GitHub double, and every request that
/// reached the other origin.
async fn assert_sentinel_nowhere(
    dir: &Path,
    output: &Output,
    forge: &MockServer,
    elsewhere: &MockServer,
) {
    let stdout = String::from_utf8_lossy(&output.stdout);
    for line in stdout.lines() {
        if !line.starts_with("::add-mask::") {
            assert_eq!(leaks(line), Vec::<String>::new(), "stdout: {line}");
        }
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(leaks(&stderr), Vec::<String>::new(), "stderr: {stderr}");
    assert_eq!(files_with_leaks(dir), Vec::new());
    let forge_calls = calls(forge).await;
    assert!(!forge_calls.is_empty(), "the GitHub double saw nothing");
    for call in forge_calls {
        assert_eq!(
            leaks(&call.body.to_string()),
            Vec::<String>::new(),
            "{}",
            call.line
        );
    }
    assert_eq!(
        elsewhere
            .received_requests()
            .await
            .unwrap_or_default()
            .len(),
        0,
        "a redirect to another origin was followed"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn basic_auth_credentials_echoed_back_reach_no_output() {
    let (dir, output, forge, elsewhere, prometheus) = run_leaky(
        "{basic: {usernameEnv: PROM_USER, passwordEnv: PROM_PASS}}",
        Forge::GitHub,
    )
    .await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    // Provider errors, never a pass: the run halts.
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    // The double really saw the credentials (so a leak was possible).
    let sent = prometheus.received_requests().await.unwrap_or_default();
    assert!(sent.iter().any(
        |request| request.headers.get("authorization").is_some_and(|value| {
            value
                .to_str()
                .unwrap_or_default()
                .contains(&base64(&format!("{SENTINEL}:{SENTINEL}")))
        })
    ));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains(&format!("::add-mask::{SENTINEL}")),
        "{stdout}"
    );
    assert!(stderr.contains("***"), "{stderr}");
    assert_sentinel_nowhere(dir.path(), &output, &forge, &elsewhere).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bearer_token_echoed_back_reaches_no_output() {
    let (dir, output, forge, elsewhere, _prometheus) =
        run_leaky("{bearerTokenEnv: PROM_BEARER}", Forge::GitHub).await;
    assert_eq!(
        output.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_sentinel_nowhere(dir.path(), &output, &forge, &elsewhere).await;

    // The report and the comment say what happened, with the secret masked.
    let report = std::fs::read_to_string(dir.path().join("out/report.json")).unwrap();
    let comment = calls(&forge)
        .await
        .into_iter()
        .rev()
        .find(|call| call.line.starts_with("PATCH"))
        .map(|call| call.body["body"].as_str().unwrap_or_default().to_owned())
        .unwrap_or_default();
    let stable = |text: &str| {
        let text = regex::Regex::new(r"\d{4}-\d\d-\d\dT[\d:.]+Z")
            .unwrap()
            .replace_all(text, "[time]");
        let text = regex::Regex::new(r"127\.0\.0\.1:\d+")
            .unwrap()
            .replace_all(&text, "[server]");
        let text = text.replace(&dir.path().display().to_string(), "[dir]");
        let text = regex::Regex::new(r#"("(held|waited|duration|elapsed)_ms"|"ms"): \d+"#)
            .unwrap()
            .replace_all(&text, "$1: [ms]");
        regex::Regex::new(r"\d+(\.\d+)?(ms|s)\b")
            .unwrap()
            .replace_all(&text, "[duration]")
            .into_owned()
    };
    let errors: Vec<String> =
        serde_json::from_str::<serde_json::Value>(&report).unwrap()["timeline"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|event| event["error"].as_str().map(stable))
            .collect();
    assert!(
        errors.iter().any(|error| error.contains("***")),
        "{errors:#?}"
    );
    insta::assert_json_snapshot!("hostile_report_errors", errors);
    insta::assert_snapshot!("hostile_comment", stable(&comment));
}

/// On GitLab: the MR note, the dotenv file and JUnit are masked too.
#[tokio::test(flavor = "multi_thread")]
async fn on_gitlab_the_note_dotenv_and_junit_carry_no_secret() {
    let (dir, output, forge, elsewhere, _prometheus) = run_leaky(
        "{basic: {usernameEnv: PROM_USER, passwordEnv: PROM_PASS}}",
        Forge::GitLab,
    )
    .await;
    assert_eq!(
        output.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let written: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        written.iter().any(|name| name.ends_with(".env"))
            && written.iter().any(|name| name.ends_with(".xml")),
        "{written:?}"
    );
    let notes = calls(&forge).await;
    assert!(
        notes.iter().any(|call| call.body["body"]
            .as_str()
            .is_some_and(|body| body.contains("***"))),
        "the note does not show the masked error"
    );
    assert_sentinel_nowhere(dir.path(), &output, &forge, &elsewhere).await;
}

/// Values no gate can compare, from each metric source: never promoted.
#[tokio::test(flavor = "multi_thread")]
async fn broken_values_from_every_source_are_never_promoted() {
    for value in ["-inf", "NaN", "-1", "1e999"] {
        // The command source.
        let dir = TempDir::new().unwrap();
        let outcome = run_gate(dir.path(), &format!("{{command: echo {value}}}"), "rate");
        assert_ne!(outcome, "promoted", "command printing {value}");

        // Prometheus, as its API writes them (`+Inf`, `-Inf`, `NaN` are strings).
        let prometheus = MockServer::start().await;
        let sample = match value {
            "-inf" => "-Inf",
            "1e999" => "+Inf",
            other => other,
        };
        Mock::given(path_regex("^/api/v1/query$"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "status": "success",
                "data": {"resultType": "vector", "result": [{"metric": {}, "value": [1, sample]}]}
            })))
            .mount(&prometheus)
            .await;
        let dir = TempDir::new().unwrap();
        let outcome = run_gate(
            dir.path(),
            &format!(
                "{{prometheus: 'errors'}}\n  prometheus: {{address: '{}'}}",
                prometheus.uri()
            ),
            "rate",
        );
        assert_ne!(outcome, "promoted", "Prometheus answering {sample}");

        // An HTTP/JSON endpoint, as a number where JSON allows one, else a string.
        let endpoint = MockServer::start().await;
        for (route, body) in [
            ("^/string$", format!("{{\"v\": \"{value}\"}}")),
            ("^/number$", format!("{{\"v\": {value}}}")),
        ] {
            Mock::given(path_regex(route))
                .respond_with(ResponseTemplate::new(200).set_body_raw(body, "application/json"))
                .mount(&endpoint)
                .await;
        }
        for route in ["string", "number"] {
            let dir = TempDir::new().unwrap();
            let outcome = run_gate(
                dir.path(),
                &format!(
                    "{{http: {{url: '{}/{route}', pointer: /v}}}}",
                    endpoint.uri()
                ),
                "nonNegative",
            );
            assert_ne!(outcome, "promoted", "HTTP {route} {value}");
        }
    }
}

/// Runs a canary gated on `query` (`max: 0.05`) and returns its outcome.
fn run_gate(dir: &Path, query: &str, domain: &str) -> String {
    // `query` may carry `prometheus:` for the analysis section after a newline.
    let (query, analysis_extra) = query.split_once('\n').unwrap_or((query, ""));
    let spec = format!(
        "apiVersion: greenlight.dev/v1alpha1
kind: Rollout
metadata: {{name: checkout}}
target:
  command: {{deploy: 'true'}}
router:
  command: {{set: echo $GREENLIGHT_WEIGHT > {dir}/weight, get: cat {dir}/weight}}
strategy:
  canary:
    steps: [{{weight: 50, hold: 50ms}}]
analysis:
  interval: 20ms
  consecutiveErrorLimit: 2
{analysis_extra}
  metrics:
    - name: gate
      query: {query}
      domain: {domain}
      max: 0.05
state: {{file: {dir}/state.json}}
",
        dir = dir.display()
    );
    std::fs::write(dir.join("greenlight.yaml"), spec).unwrap();
    let output = Greenlight::new()
        .args(["run", "-f"])
        .arg(dir.join("greenlight.yaml"))
        .args(["--version", "v2", "--stable-version", "v1", "--report"])
        .arg(dir.join("report.json"))
        .env_remove("GITHUB_ACTIONS")
        .env_remove("GITLAB_CI")
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("report.json"))
            .unwrap_or_else(|_| panic!("no report: {}", String::from_utf8_lossy(&output.stderr))),
    )
    .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("is not a measurement")
            || stderr.contains("outside the domain")
            || stderr.contains("not JSON"),
        "{stderr}"
    );
    report["outcome"].as_str().unwrap_or_default().to_owned()
}

/// Live processes of group `group`, from /proc.
fn group_members(group: i32) -> Vec<String> {
    let mut members = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        if entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
            .is_none()
        {
            continue;
        }
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        if let Some((state, pgrp)) = greenlight::process::parse_stat(&stat)
            && pgrp == group
            && state != 'Z'
        {
            members.push(stat);
        }
    }
    members
}

/// A deploy whose children ignore SIGTERM and outlive their shell: after the
/// timeout nothing of its group is left, and the rollback runs only after.
#[test]
fn a_timed_out_deploy_leaves_no_process_and_the_rollback_comes_after() {
    let dir = TempDir::new().unwrap();
    let d = dir.path().display();
    let spec = format!(
        "apiVersion: greenlight.dev/v1alpha1
kind: Rollout
metadata: {{name: checkout}}
target:
  command:
    deploy: >-
      echo $$ > {d}/pgid;
      (trap '' TERM; sleep 8; echo late-deploy >> {d}/log) &
      (trap '' TERM; sleep 8; echo late-deploy >> {d}/log) &
      trap '' TERM; sleep 30
    retire: >-
      if [ -n \"$(ps -o pid= -g $(cat {d}/pgid) 2>/dev/null | tr -d ' ')\" ];
      then echo retire-while-deploy-alive >> {d}/log; else echo retire >> {d}/log; fi
    timeout: 300ms
router:
  command: {{set: echo $GREENLIGHT_WEIGHT > {d}/weight, get: cat {d}/weight}}
strategy:
  canary:
    steps: [{{weight: 50, hold: 10ms}}]
state: {{file: {d}/state.json}}
"
    );
    std::fs::write(dir.path().join("greenlight.yaml"), spec).unwrap();
    let started = Instant::now();
    let output = Greenlight::new()
        .args(["run", "-f"])
        .arg(dir.path().join("greenlight.yaml"))
        .args(["--version", "v2", "--stable-version", "v1"])
        .env_remove("GITHUB_ACTIONS")
        .env_remove("GITLAB_CI")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_ne!(output.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("did not finish within"), "{stderr}");
    let group: i32 = std::fs::read_to_string(dir.path().join("pgid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_eq!(group_members(group), Vec::<String>::new());
    // Long enough for a surviving child to have written.
    std::thread::sleep(Duration::from_secs(9).saturating_sub(started.elapsed()));
    let log = std::fs::read_to_string(dir.path().join("log")).unwrap_or_default();
    assert!(!log.contains("late-deploy"), "{log}");
    assert!(!log.contains("retire-while-deploy-alive"), "{log}");
}

fn validate(text: &[u8]) -> (Output, Duration) {
    let dir = TempDir::new().unwrap();
    std::fs::write(dir.path().join("greenlight.yaml"), text).unwrap();
    let started = Instant::now();
    let output = Greenlight::new()
        .current_dir(dir.path())
        .args(["validate", "--version", "v2"])
        .output()
        .unwrap();
    (output, started.elapsed())
}

fn rejected_at(text: &[u8], expected: &str) -> String {
    let (output, _) = validate(text);
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("greenlight.yaml:{expected}")),
        "expected greenlight.yaml:{expected} in {stderr}"
    );
    assert!(stderr.len() < 3000, "{} bytes of error", stderr.len());
    stderr
}

/// Regression: 100k scalars under one anchor used 100 (then 1,000) times took
/// 8 s and 2.6 GB (then aborted); refused at the anchor.
#[test]
fn alias_bombs_are_refused_at_the_anchor() {
    for uses in [100, 1000] {
        let scalars = vec!["x"; 100_000].join(",");
        let aliases = vec!["*bomb"; uses].join(",");
        let text = format!(
            "apiVersion: greenlight.dev/v1alpha1\nkind: Rollout\nvars:\n  big: &bomb [{scalars}]\n  uses: [{aliases}]\n"
        );
        // 100k scalars are a node budget of their own; the anchor is still named.
        let stderr = rejected_at(text.as_bytes(), "4:");
        assert!(stderr.contains("nodes"), "{stderr}");
    }
    let small = vec!["x"; 1000].join(",");
    let aliases = vec!["*bomb"; 1000].join(",");
    let text = format!("kind: Rollout\nvars:\n  big: &bomb [{small}]\n  uses: [{aliases}]\n");
    let stderr = rejected_at(text.as_bytes(), "3:8:");
    assert!(stderr.contains("`&bomb`"), "{stderr}");
}

/// Regression: `{{ [1]*99999999 }}` took 13 s, 1.2 GB and printed a 300 MB line.
#[test]
fn template_bombs_are_refused_quickly_with_a_short_message() {
    for bomb in [
        "{{ [1]*99999999 }}",
        "{{ ([1]*99999999)|join(',') }}",
        "{% for a in range(99999) %}{% for b in range(99999) %}x{% endfor %}{% endfor %}",
    ] {
        let text = format!(
            "apiVersion: greenlight.dev/v1alpha1\nkind: Rollout\nmetadata: {{name: x}}\ntarget:\n  command:\n    deploy: |\n      {bomb}\nrouter:\n  command: {{set: 'true', get: echo 0}}\nstrategy:\n  canary:\n    steps: [{{weight: 50, hold: 1s}}]\n"
        );
        let (output, took) = validate(text.as_bytes());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{stderr}");
        assert!(
            stderr.contains("greenlight.yaml:7:7: target.command.deploy"),
            "{stderr}"
        );
        assert!(stderr.len() < 3000, "{} bytes", stderr.len());
        // Generous for a loaded debug build; `benches/fuzz-spec` measures the release binary.
        assert!(took < Duration::from_secs(10), "{bomb} took {took:?}");
    }
}

#[test]
fn every_malformed_file_is_located() {
    let good = "apiVersion: greenlight.dev/v1alpha1\nkind: Rollout\n";
    let stderr = rejected_at(b"", "1:1:");
    assert!(
        stderr.contains("a spec starts with `apiVersion"),
        "{stderr}"
    );
    rejected_at(b"# nothing but a comment\n", "1:1:");
    rejected_at(
        format!("{good}metadata: {{name: x}}\n---\nkind: Rollout\n").as_bytes(),
        "4:1:",
    );
    let stderr = rejected_at(
        b"apiVersion: greenlight.dev/v1alpha1\nkind: Roll\xffout\n",
        "2:11:",
    );
    assert!(stderr.contains("UTF-8"), "{stderr}");
    let stderr = rejected_at(
        format!("{good}metadata:\n  name: a\0b\n").as_bytes(),
        "4:10:",
    );
    assert!(stderr.contains("NUL"), "{stderr}");
    let stderr = rejected_at(format!("{good}vars:\n  7: seven\n").as_bytes(), "4:3:");
    assert!(stderr.contains("must be a string"), "{stderr}");
}
