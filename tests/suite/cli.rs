//! The binary as users and CI call it.

use assert_cmd::prelude::*;
use predicates::prelude::*;
use predicates::str::contains;
use tempfile::TempDir;

use crate::support::binary::Greenlight;
use crate::support::file_driven_spec;
use crate::support::snapshot::masked;

/// The binary, as run outside CI: when the suite itself runs on GitHub Actions
/// or GitLab CI, a `run` or `plan` here must not write to that job's outputs,
/// summary or pull request.
fn greenlight() -> Greenlight {
    Greenlight::new()
}

#[test]
fn help_lists_every_subcommand() {
    let assert = greenlight().arg("--help").assert().success();
    let help = String::from_utf8_lossy(&assert.get_output().stdout).into_owned();
    let commands = [
        "run", "plan", "validate", "schema", "demo", "promote", "rollback", "abort", "status",
    ];
    for command in commands {
        assert!(
            help.contains(&format!("  {command} ")),
            "{command} missing from:\n{help}"
        );
    }
}

#[test]
fn usage_errors_exit_1() {
    greenlight().arg("frobnicate").assert().code(1);
    greenlight().args(["run", "--nope"]).assert().code(1);
}

#[test]
fn the_schema_is_json_and_describes_the_spec() {
    let assert = greenlight().arg("schema").assert().success();
    let schema: serde_json::Value = serde_json::from_slice(&assert.get_output().stdout).unwrap();
    assert_eq!(schema["title"], "greenlight rollout spec");
    let required = schema["required"].as_array().unwrap();
    for field in [
        "apiVersion",
        "kind",
        "metadata",
        "target",
        "router",
        "strategy",
    ] {
        assert!(
            required.iter().any(|name| name == field),
            "{field} not required"
        );
    }
    assert_eq!(schema["additionalProperties"], false);
}

/// Validates `examples/<name>/greenlight.yaml`, then plans v1 → v2 with it.
fn validate_and_plan(name: &str) -> assert_cmd::assert::Assert {
    let example = format!(
        "{}/examples/{name}/greenlight.yaml",
        env!("CARGO_MANIFEST_DIR")
    );
    greenlight()
        .args(["validate", "-f", &example])
        .assert()
        .success();
    greenlight()
        .args(["plan", "-f", &example, "--version", "v2"])
        .args(["--stable-version", "v1"])
        .assert()
        .success()
}

#[test]
fn a_healthy_rollout_is_promoted_and_recorded() {
    let dir = TempDir::new().unwrap();
    let spec = file_driven_spec(dir.path());
    std::fs::write(dir.path().join("error-rate"), "0.01").unwrap();
    let report = dir.path().join("out/report.json");
    let summary = dir.path().join("out/summary.md");
    greenlight()
        .args(["run", "-f"])
        .arg(&spec)
        .args(["--version", "v2", "--stable-version", "v1", "--report"])
        .arg(&report)
        .arg("--summary")
        .arg(&summary)
        .assert()
        .code(0)
        .stderr(contains("step 1: weight 20% set and verified"));
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(json["outcome"], "promoted");
    assert!(
        std::fs::read_to_string(&summary)
            .unwrap()
            .starts_with("✅ **checkout v2 promoted**")
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("weight"))
            .unwrap()
            .trim(),
        "100"
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("log")).unwrap(),
        "deploy v2\nretire v1\n"
    );

    // The next rollout learns the stable version from the record. A router's
    // `get` prints the new version's share: v3 has none yet.
    std::fs::write(dir.path().join("weight"), "0\n").unwrap();
    std::fs::write(dir.path().join("error-rate"), "0.5").unwrap();
    greenlight()
        .args(["run", "-f"])
        .arg(&spec)
        .args(["--version", "v3", "--report"])
        .arg(&report)
        .assert()
        .code(2)
        .stderr(contains("rollout of checkout started: v2 → v3"));
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(json["outcome"], "rolled_back");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("weight"))
            .unwrap()
            .trim(),
        "0"
    );
}

#[test]
fn a_rollout_in_progress_elsewhere_halts_with_exit_3_and_changes_nothing() {
    let dir = TempDir::new().unwrap();
    let spec = file_driven_spec(dir.path());
    std::fs::write(
        dir.path().join("state.json"),
        r#"{"name":"checkout","stableVersion":"v1","newVersion":"v2","phase":"in_progress","weight":20,"holder":"https://ci.example/run/1","updatedAt":"2026-01-01T00:00:00.000Z"}"#,
    )
    .unwrap();
    greenlight()
        .args(["run", "-f"])
        .arg(&spec)
        .args(["--version", "v3"])
        .assert()
        .code(3)
        .stderr(contains(
            "already in progress (held by https://ci.example/run/1",
        ));
    assert!(!dir.path().join("weight").exists());
    assert!(!dir.path().join("log").exists());
}

#[test]
fn without_a_stable_version_the_error_says_how_to_give_one() {
    let dir = TempDir::new().unwrap();
    let spec = file_driven_spec(dir.path());
    greenlight()
        .args(["run", "-f"])
        .arg(&spec)
        .args(["--version", "v2"])
        .assert()
        .code(1)
        .stderr(contains("pass --stable-version").and(contains("state.json")));
}

#[test]
fn spec_errors_become_github_annotations() {
    let dir = TempDir::new().unwrap();
    std::fs::write(
        dir.path().join("greenlight.yaml"),
        "apiVersion: greenlight.dev/v1alpha1\nkind: Rolout\n",
    )
    .unwrap();
    greenlight()
        .current_dir(dir.path())
        .arg("validate")
        .env("GITHUB_ACTIONS", "true")
        .assert()
        .code(1)
        .stdout(contains(
            "::error file=greenlight.yaml,line=2,col=7::unknown variant `Rolout`",
        ));
}

#[test]
fn the_committed_schema_is_up_to_date() {
    let assert = greenlight().arg("schema").assert().success();
    let committed = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/docs/greenlight.schema.json"
    ))
    .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&assert.get_output().stdout),
        committed,
        "regenerate it: cargo run -- schema > docs/greenlight.schema.json"
    );
}

#[test]
fn sigterm_during_a_step_puts_traffic_back_on_stable() {
    let dir = TempDir::new().unwrap();
    let spec = file_driven_spec(dir.path());
    std::fs::write(dir.path().join("error-rate"), "0.01").unwrap();
    // Hold the first step long enough to be interrupted in it.
    let child = greenlight()
        .args(["run", "-f"])
        .arg(&spec)
        .args([
            "--version",
            "v2",
            "--stable-version",
            "v1",
            "--set",
            "strategy.canary.steps.0.hold=1m",
        ])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let weight = dir.path().join("weight");
    let read = || {
        std::fs::read_to_string(&weight)
            .unwrap_or_default()
            .trim()
            .to_owned()
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while read() != "20" {
        assert!(
            std::time::Instant::now() < deadline,
            "the first step never started"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let output = child.wait_with_output().unwrap();

    assert_eq!(output.status.code(), Some(2));
    assert_eq!(read(), "0");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("SIGTERM: putting traffic back on the stable version"),
        "{stderr}"
    );
    assert!(stderr.contains("rollback verified"), "{stderr}");
}

#[test]
fn the_lock_is_taken_before_anything_is_deployed() {
    let dir = TempDir::new().unwrap();
    let spec = file_driven_spec(dir.path());
    std::fs::write(dir.path().join("error-rate"), "0.01").unwrap();
    // The deploy itself checks that a second job would already see the rollout.
    let text = std::fs::read_to_string(&spec).unwrap().replace(
        "deploy: echo deploy $GREENLIGHT_VERSION",
        &format!(
            "deploy: grep -q in_progress {}/state.json && echo deploy $GREENLIGHT_VERSION",
            dir.path().display()
        ),
    );
    std::fs::write(&spec, text).unwrap();
    greenlight()
        .args(["run", "-f"])
        .arg(&spec)
        .args(["--version", "v2", "--stable-version", "v1"])
        .assert()
        .code(0);
    assert_eq!(
        std::fs::read_to_string(dir.path().join("log")).unwrap(),
        "deploy v2\nretire v1\n"
    );
}

#[test]
fn a_secret_a_command_prints_never_reaches_the_report() {
    let dir = TempDir::new().unwrap();
    let spec = file_driven_spec(dir.path());
    let text = std::fs::read_to_string(&spec).unwrap().replace(
        "deploy: echo deploy $GREENLIGHT_VERSION",
        "deploy: echo \"login failed for $DEPLOY_TOKEN\" >&2; exit 1; echo",
    );
    std::fs::write(&spec, text).unwrap();
    let report = dir.path().join("report.json");
    let assert = greenlight()
        .args(["run", "-f"])
        .arg(&spec)
        .args(["--version", "v2", "--stable-version", "v1", "--report"])
        .arg(&report)
        .env("DEPLOY_TOKEN", "sentinel-5ec2e7")
        .assert()
        .code(2);
    let output = assert.get_output();
    let everything = format!(
        "{}{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
        std::fs::read_to_string(&report).unwrap()
    );
    assert!(!everything.contains("sentinel-5ec2e7"), "{everything}");
    assert!(everything.contains("login failed for ***"), "{everything}");
}

/// The whole `plan` text of each example, so any change to what a user reads
/// shows up in review: each step with its gate and what it sends where, the
/// exact HAProxy runtime API commands (weights, drain, the `show stat` it
/// polls) and "nothing has been changed". The repository's path is `[repo]`.
#[test]
fn the_plan_text_of_the_examples() {
    for example in ["command", "haproxy"] {
        let assert = validate_and_plan(example);
        let text = String::from_utf8_lossy(&assert.get_output().stdout).into_owned();
        masked(&[]).bind(|| insta::assert_snapshot!(format!("plan_{example}_example"), text));
    }
}
