//! Reports a person on call can act on: the run and each gate's query
//! linked, the hand-off commands after a halt, every step's held time, and
//! the live comment following the measurements of a hold, at most every 30 s.

use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use async_trait::async_trait;
use greenlight::engine::{Event, EventKind, Outcome};
use greenlight::report::links::{Handoff, Links, prometheus_graph};
use greenlight::report::live::ForgeReporter;
use greenlight::report::markdown;
use greenlight::report::sticky::{ApiError, MEASUREMENT_UPDATE, NoteApi, StickyReporter};

use crate::github::{
    SPEC, assert_created_then_updated, comment_only, failing, fresh_github, healthy,
    reporters_with_links,
};
use crate::support::ci::{self, calls, lines};
use crate::support::*;

const RUN: &str = "https://github.com/acme/shop/actions/runs/7";
const DISPATCH: &str = "https://github.com/acme/shop/actions/workflows/greenlight-manual.yml";

fn links() -> Links {
    let mut handoff = Handoff::new(
        "deploy/greenlight.yaml",
        "v2",
        &[],
        &["image=registry.example/checkout".to_owned()],
    );
    handoff.dispatch = Some(DISPATCH.to_owned());
    Links {
        run: Some(RUN.to_owned()),
        queries: [(
            "error-rate".to_owned(),
            prometheus_graph(
                "https://ops:s3cret@prometheus.example",
                r#"sum(rate(http_requests_total{code=~"5.."}[1m]))"#,
            )
            .unwrap(),
        )]
        .into(),
        handoff: Some(handoff),
    }
}

fn halting() -> Given {
    given(SPEC).metric(
        "error-rate",
        vec![data(0.004), error("prometheus: 503 Service Unavailable")],
    )
}

#[tokio::test]
async fn a_halted_rollout_hands_off_with_the_exact_commands() {
    let server = fresh_github().await;
    let given = halting();
    let reporters = reporters_with_links(comment_only(&server), &given, links());
    let then = given.when_run_with(reporters).await;
    assert_eq!(then.outcome(), Outcome::Halted);

    let calls = calls(&server).await;
    assert_created_then_updated(&lines(&calls));
    let bodies: Vec<&str> = calls
        .iter()
        .filter_map(|call| call.body["body"].as_str())
        .collect();
    // Every version links the run on its first line after the marker.
    for body in &bodies {
        let first = body.lines().nth(1).unwrap_or_default();
        assert!(first.ends_with(&format!(" · [CI run]({RUN})")), "{body}");
        assert!(!body.contains("s3cret") && !body.contains("ops:"), "{body}");
    }
    let last = bodies.last().unwrap();
    for expected in [
        "greenlight promote -f deploy/greenlight.yaml --version v2 --var image=registry.example/checkout  # send all traffic to v2",
        "greenlight rollback -f deploy/greenlight.yaml --version v2 --var image=registry.example/checkout  # put all traffic back on v1",
        &format!("[manual workflow]({DISPATCH})"),
        "| [error-rate](https://prometheus.example/graph?g0.expr=sum%28rate%28http_requests_total%7Bcode%3D%7E%225..%22%7D%5B1m%5D%29%29&g0.tab=0) (≤ 0.05) |",
        "50% of traffic was last verified on v2",
    ] {
        assert!(last.contains(expected), "{expected}\n---\n{last}");
    }
    // The hand-off ends the comment.
    assert!(
        last.trim_end()
            .ends_with(&format!("[manual workflow]({DISPATCH}).")),
        "{last}"
    );
    insta::assert_snapshot!("halted_comment", last);
    // The live versions never hand off: the outcome is not known yet.
    assert!(
        bodies[..bodies.len() - 1]
            .iter()
            .all(|body| !body.contains("To finish by hand"))
    );
}

#[tokio::test]
async fn promoted_and_rolled_back_rollouts_need_no_hand_off() {
    let promoted = healthy().when_run().await;
    let rolled_back = failing().when_run().await;
    for then in [promoted, rolled_back] {
        let report = then.report.with_links(links());
        assert!(markdown::handoff(&report).is_none());
        let summary = markdown::render(&report, None).unwrap();
        assert!(!summary.contains("To finish by hand"), "{summary}");
        assert!(
            summary
                .lines()
                .next()
                .unwrap()
                .ends_with(&format!("[CI run]({RUN})"))
        );
    }
}

#[tokio::test]
async fn failed_and_halted_steps_show_how_long_they_held() {
    let rolled_back = failing().when_run().await;
    let summary = markdown::render(&rolled_back.report, None).unwrap();
    assert!(summary.contains("| 1 | 10% | 30s |"), "{summary}");
    assert!(summary.contains("| 2 | 50% | 15s |"), "{summary}");
    // Step 2 halted at its second provider error in a row, 30 s into its hold.
    let halted = halting().when_run().await;
    let summary = markdown::render(&halted.report, None).unwrap();
    assert!(
        summary.contains("| 2 | 50% | 30s | ⚠️ provider error | **halted** |"),
        "{summary}"
    );
}

/// A forge that keeps every body it is sent.
#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Vec<String>>>);

#[async_trait]
impl NoteApi for Recorder {
    async fn find(&mut self, _marker: &str) -> Result<Option<u64>, ApiError> {
        Ok(None)
    }
    async fn create(&mut self, body: &str) -> Result<u64, ApiError> {
        self.0.lock().unwrap().push(body.to_owned());
        Ok(1)
    }
    async fn update(&mut self, _id: u64, body: &str) -> Result<(), ApiError> {
        self.0.lock().unwrap().push(body.to_owned());
        Ok(())
    }
}

const LONG_HOLD: &str = "
strategy:
  canary:
    steps:
      - {weight: 10, hold: 2m}
analysis:
  interval: 10s
  metrics:
    - name: error-rate
      query: {command: 'true'}
      max: 0.05
";

#[tokio::test]
async fn the_live_comment_follows_a_hold_at_most_every_30_seconds() {
    // A new value at every measurement, so each version shows which one it had.
    let values: Vec<f64> = (1..=12).map(|n| f64::from(n) / 1000.0).collect();
    let given = given(LONG_HOLD).metric("error-rate", values.iter().copied().map(data).collect());
    let plan = given.plan();
    let then = given.when_run().await;
    let recorder = Recorder::default();
    let mut sticky = StickyReporter::new(
        recorder.clone(),
        "<!-- greenlight:checkout:production -->".to_owned(),
        None,
        ci::release(),
        plan,
    );
    // The forge is free after every event: each is its own batch.
    let mut shown: Vec<(SystemTime, usize)> = Vec::new();
    let timeline: Vec<Event> = then.report.timeline.clone();
    for event in &timeline {
        let before = recorder.0.lock().unwrap().len();
        sticky.update(std::slice::from_ref(event)).await.unwrap();
        if recorder.0.lock().unwrap().len() > before && matches!(event.kind, EventKind::Gate { .. })
        {
            shown.push((event.at, recorder.0.lock().unwrap().len() - 1));
        }
    }
    let measured: Vec<SystemTime> = timeline
        .iter()
        .filter(|event| matches!(event.kind, EventKind::Gate { .. }))
        .map(|event| event.at)
        .collect();
    assert_eq!(measured.len(), 12);
    // 12 measurements 10 s apart: shown at the 1st, 4th, 7th and 10th.
    let expected: Vec<SystemTime> = [0, 3, 6, 9].iter().map(|&index| measured[index]).collect();
    assert_eq!(
        shown.iter().map(|(at, _)| *at).collect::<Vec<_>>(),
        expected
    );
    for pair in shown.windows(2) {
        assert!(pair[1].0.duration_since(pair[0].0).unwrap() >= MEASUREMENT_UPDATE);
    }
    let bodies = recorder.0.lock().unwrap().clone();
    for ((_, index), value) in shown.iter().zip(["0.001", "0.004", "0.007", "0.01"]) {
        let body = &bodies[*index];
        assert!(
            body.contains(&format!(" {value} ✅ | ⏳ in progress |")),
            "{value}\n{body}"
        );
    }
    // The held time so far, on the engine's clock: 40 s at the 4th measurement.
    assert!(
        bodies[shown[1].1].contains("| 1 | 10% | 40s |"),
        "{}",
        bodies[shown[1].1]
    );
}
