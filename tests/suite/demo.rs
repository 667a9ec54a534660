//! `greenlight demo` end to end, with real HTTP traffic and short steps.

use assert_cmd::prelude::*;
use predicates::str::contains;
use tempfile::TempDir;

use crate::support::binary::Greenlight;

/// Shortens the embedded spec so a whole demo takes about five seconds.
const SHORT: [&str; 6] = [
    "strategy.canary.steps.0.hold=1s",
    "strategy.canary.steps.1.hold=1s",
    "strategy.canary.steps.2.hold=1s",
    "strategy.canary.steps.3.hold=1s",
    "analysis.interval=250ms",
    "analysis.minSamples=2",
];

fn demo(out: &TempDir, extra: &[&str]) -> assert_cmd::assert::Assert {
    let mut command = Greenlight::new();
    command.arg("demo").arg("--out").arg(out.path());
    for set in SHORT {
        command.args(["--set", set]);
    }
    command.args(extra).assert()
}

fn report(out: &TempDir) -> serde_json::Value {
    let text = std::fs::read_to_string(out.path().join("report.json"))
        .expect("the demo wrote report.json");
    serde_json::from_str(&text).expect("report.json is JSON")
}

fn failed_gates(report: &serde_json::Value) -> Vec<(u64, String)> {
    report["timeline"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|event| event["kind"] == "gate" && event["verdict"] == "fail")
        .map(|event| {
            (
                event["step"].as_u64().unwrap_or(0),
                event["metric"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect()
}

#[test]
fn a_healthy_new_version_is_promoted() {
    let out = TempDir::new().unwrap();
    demo(&out, &[])
        .code(0)
        .stderr(contains("proxy weights read back: v1 0% · v2 100%"));
    let report = report(&out);
    assert_eq!(report["outcome"], "promoted");
    let weights: Vec<u64> = report["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|event| event["kind"] == "weight_set")
        .filter_map(|event| event["weight"].as_u64())
        .collect();
    assert_eq!(weights, vec![10, 25, 50, 100]);
    let summary = std::fs::read_to_string(out.path().join("summary.md")).unwrap();
    assert!(
        summary.starts_with("✅ **demo-shop v2 promoted**"),
        "{summary}"
    );
}

#[test]
fn errors_roll_back_to_all_stable_read_back_from_the_proxy() {
    let out = TempDir::new().unwrap();
    demo(&out, &["--error-rate", "0.3"])
        .code(2)
        .stderr(contains("proxy weights read back: v1 100% · v2 0%"));
    let report = report(&out);
    assert_eq!(report["outcome"], "rolled_back");
    assert_eq!(
        failed_gates(&report)
            .first()
            .map(|(_, metric)| metric.as_str()),
        Some("error-rate")
    );
    let completed = report["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .find(|event| event["kind"] == "rollback_completed");
    assert_eq!(
        completed.map(|event| &event["weight"]),
        Some(&serde_json::json!(0))
    );
}

#[test]
fn latency_rolls_back_on_the_latency_gate() {
    let out = TempDir::new().unwrap();
    demo(&out, &["--latency", "300ms"]).code(2);
    let report = report(&out);
    assert_eq!(report["outcome"], "rolled_back");
    let failed = failed_gates(&report);
    assert!(
        failed.iter().all(|(_, metric)| metric == "p99-latency-ms"),
        "{failed:?}"
    );
    assert!(!failed.is_empty());
}

#[test]
fn faults_after_step_two_roll_back_in_step_three() {
    let out = TempDir::new().unwrap();
    demo(&out, &["--fault-after", "2", "--error-rate", "0.5"])
        .code(2)
        .stderr(contains("v2 now fails 50%"));
    let report = report(&out);
    assert_eq!(
        failed_gates(&report).first().map(|(step, _)| *step),
        Some(3)
    );
    assert_eq!(report["steps"][1]["status"], "passed");
}

#[test]
fn bad_demo_flags_are_usage_errors() {
    let out = TempDir::new().unwrap();
    demo(&out, &["--fault-after", "4"])
        .code(1)
        .stderr(contains("faults can start after steps 1 to 3"));
    demo(&out, &["--error-rate", "1.5"])
        .code(1)
        .stderr(contains("--error-rate"));
    assert!(!out.path().join("report.json").exists());
}

#[test]
fn print_spec_shows_the_embedded_example() {
    let expected = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/demo/greenlight.yaml"
    ))
    .unwrap();
    Greenlight::new()
        .args(["demo", "--print-spec"])
        .assert()
        .success()
        .stdout(expected);
}
