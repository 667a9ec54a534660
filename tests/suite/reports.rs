//! Snapshots of what people read: the Markdown summary and the JSON report.

use greenlight::report::{json, markdown};

use crate::support::*;

/// The GitHub tests' canary with a second gate.
fn spec() -> String {
    format!(
        "{}    - name: p99-latency-ms\n      query: {{command: 'true'}}\n      max: 300\n",
        crate::github::SPEC
    )
}

#[tokio::test]
async fn promote() {
    let then = given(&spec())
        .metric(
            "error-rate",
            vec![data(0.004), data(0.01), data(0.012), data(0.009)],
        )
        .metric(
            "p99-latency-ms",
            vec![data(120.0), data(180.5), data(140.0), data(150.25)],
        )
        .when_run()
        .await;
    insta::assert_snapshot!(
        "promote_summary",
        markdown::render(&then.report, None).unwrap()
    );
    insta::assert_snapshot!("promote_report", json::render(&then.report).unwrap());
}

#[tokio::test]
async fn rollback() {
    let then = given(&spec())
        .metric("error-rate", vec![data(0.004), data(0.01), data(0.31)])
        .metric(
            "p99-latency-ms",
            vec![data(120.0), data(180.5), data(240.0)],
        )
        .when_run()
        .await;
    insta::assert_snapshot!(
        "rollback_summary",
        markdown::render(&then.report, Some("Release checkout")).unwrap()
    );
    insta::assert_snapshot!("rollback_report", json::render(&then.report).unwrap());
}

#[tokio::test]
async fn the_json_report_keeps_the_contract() {
    let then = given(&spec()).when_run().await;
    let report: serde_json::Value =
        serde_json::from_str(&json::render(&then.report).unwrap()).unwrap();
    assert_eq!(report["outcome"], "promoted");
    assert_eq!(report["stable_version"], "v1");
    assert_eq!(report["new_version"], "v2");
    let timeline = report["timeline"].as_array().unwrap();
    for event in timeline {
        let at = event["at"].as_str().unwrap();
        // RFC 3339 with milliseconds, e.g. 2026-01-01T00:00:30.000Z
        assert_eq!(at.len(), 24, "{at}");
        assert!(at.ends_with('Z') && at.as_bytes()[19] == b'.', "{at}");
        assert!(event["kind"].is_string());
    }
    let weight_set = timeline
        .iter()
        .find(|event| event["kind"] == "weight_set")
        .unwrap();
    assert_eq!(weight_set["weight"], 10);
    let gate = timeline
        .iter()
        .find(|event| event["kind"] == "gate")
        .unwrap();
    assert_eq!(
        (gate["metric"].as_str(), gate["verdict"].as_str()),
        (Some("error-rate"), Some("pass"))
    );
    assert!(gate["value"].is_number());
}
