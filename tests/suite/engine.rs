//! The engine on a virtual clock: every strategy and failure path, in milliseconds.

use greenlight::engine::plan::CheckStage;
use greenlight::engine::{EventKind, Outcome};
use greenlight::judge::Verdict;

use crate::support::*;

const CANARY: &str = "
strategy:
  canary:
    steps:
      - {weight: 10, hold: 30s}
      - {weight: 50, hold: 30s}
analysis:
  interval: 10s
  metrics:
    - name: error-rate
      query: {command: 'true'}
      max: 0.05
";

fn canary_with(analysis_extra: &str) -> String {
    CANARY.replace(
        "  interval: 10s\n",
        &format!("  interval: 10s\n{analysis_extra}"),
    )
}

#[tokio::test]
async fn all_gates_pass_then_promoted() {
    let then = given(CANARY)
        .metric("error-rate", vec![data(0.01)])
        .when_run()
        .await;

    assert_eq!(then.outcome(), Outcome::Promoted);
    assert_eq!(then.weights_set(), vec![10, 50, 100]);
    assert_eq!(then.target.log(), vec!["deploy v2", "retire v1"]);
    // Three measurements per 30 s step at a 10 s interval.
    assert_eq!(then.metrics[0].calls(), 6);
    let held: Vec<u64> = then
        .events()
        .filter_map(|kind| match kind {
            EventKind::StepCompleted { held_ms, .. } => Some(*held_ms),
            _ => None,
        })
        .collect();
    assert_eq!(held, vec![30_000, 30_000]);
}

#[tokio::test]
async fn a_gate_failing_at_step_two_rolls_back_to_zero_read_back() {
    // Step 1 takes three measurements; the fourth (first of step 2) fails.
    let answers = vec![data(0.01), data(0.01), data(0.01), data(0.3)];
    let then = given(CANARY).metric("error-rate", answers).when_run().await;

    assert_eq!(then.outcome(), Outcome::RolledBack);
    assert_eq!(then.outcome().exit_code(), 2);
    assert_eq!(then.weights_set(), vec![10, 50, 0]);
    assert_eq!(then.router.current(), 0);
    assert!(then.events().any(
        |kind| matches!(kind, EventKind::RollbackCompleted { weight } if weight.percent() == 0)
    ));
    assert_eq!(then.target.log(), vec!["deploy v2", "retire v2"]);
    assert!(!then.promoted());
    assert!(
        then.report.reason.contains("`error-rate` was 0.3"),
        "{}",
        then.report.reason
    );
    // The failure was seen 10 s into step 2, i.e. 40 s after the start.
    let failed_at = then.seconds_until(|kind| {
        matches!(
            kind,
            EventKind::Gate {
                verdict: Verdict::Fail,
                ..
            }
        )
    });
    assert_eq!(failed_at, Some(40.0));
}

#[tokio::test]
async fn no_data_longer_than_allowed_halts_and_never_promotes() {
    let then = given(&canary_with("  noDataLimit: 2\n"))
        .metric("error-rate", vec![no_data()])
        .when_run()
        .await;

    assert_eq!(then.outcome(), Outcome::Halted);
    assert_eq!(then.outcome().exit_code(), 3);
    assert_eq!(
        then.weights_set(),
        vec![10],
        "traffic stays where it is for a person to decide"
    );
    assert!(!then.promoted());
    assert!(
        then.report.reason.contains("no data 2 time(s) in a row"),
        "{}",
        then.report.reason
    );
}

#[tokio::test]
async fn no_data_with_fail_policy_rolls_back() {
    let then = given(&canary_with("  noData: fail\n  noDataLimit: 1\n"))
        .metric("error-rate", vec![no_data()])
        .when_run()
        .await;

    assert_eq!(then.outcome(), Outcome::RolledBack);
    assert_eq!(then.weights_set(), vec![10, 0]);
}

#[tokio::test]
async fn no_data_with_ignore_policy_cannot_block_promotion() {
    let then = given(&canary_with("  noData: ignore\n"))
        .metric("error-rate", vec![no_data()])
        .when_run()
        .await;

    assert_eq!(then.outcome(), Outcome::Promoted);
    let verdicts: Vec<Verdict> = then
        .events()
        .filter_map(|kind| match kind {
            EventKind::Gate { verdict, .. } => Some(*verdict),
            _ => None,
        })
        .collect();
    assert!(
        verdicts.iter().all(|verdict| *verdict == Verdict::NoData),
        "{verdicts:?}"
    );
}

#[tokio::test]
async fn provider_errors_past_the_limit_halt() {
    let then = given(&canary_with("  consecutiveErrorLimit: 3\n"))
        .metric(
            "error-rate",
            vec![
                data(0.01),
                error("connection refused"),
                error("connection refused"),
                error("connection refused"),
            ],
        )
        .when_run()
        .await;

    assert_eq!(then.outcome(), Outcome::Halted);
    assert!(!then.promoted());
    assert!(
        then.report
            .reason
            .contains("failed 3 time(s) in a row: connection refused"),
        "{}",
        then.report.reason
    );
    let errors = then
        .events()
        .filter(|kind| {
            matches!(
                kind,
                EventKind::Gate {
                    verdict: Verdict::ProviderError,
                    ..
                }
            )
        })
        .count();
    assert_eq!(errors, 3);
}

#[tokio::test]
async fn errors_below_the_limit_are_tolerated() {
    let then = given(&canary_with("  consecutiveErrorLimit: 3\n"))
        .metric(
            "error-rate",
            vec![error("timeout"), error("timeout"), data(0.01)],
        )
        .when_run()
        .await;

    assert_eq!(then.outcome(), Outcome::Promoted);
}

#[tokio::test]
async fn a_failure_limit_of_two_tolerates_one_isolated_failure() {
    let isolated = vec![data(0.01), data(0.2), data(0.01)];
    let then = given(&canary_with("  failureLimit: 2\n"))
        .metric("error-rate", isolated)
        .when_run()
        .await;
    assert_eq!(then.outcome(), Outcome::Promoted);

    let twice = vec![data(0.01), data(0.2), data(0.01), data(0.2), data(0.01)];
    let then = given(&canary_with("  failureLimit: 2\n"))
        .metric("error-rate", twice)
        .when_run()
        .await;
    assert_eq!(then.outcome(), Outcome::RolledBack);
    assert_eq!(then.weights_set(), vec![10, 50, 0]);
}

#[tokio::test]
async fn too_few_samples_halt_as_inconclusive() {
    let then = given(&canary_with("  minSamples: 5\n  noDataLimit: 10\n"))
        .when_run()
        .await;

    assert_eq!(then.outcome(), Outcome::Halted);
    assert!(then.events().any(|kind| matches!(
        kind,
        EventKind::Gate {
            verdict: Verdict::Inconclusive,
            ..
        }
    )));
    assert!(
        then.report.reason.starts_with("too few samples"),
        "{}",
        then.report.reason
    );
}

const BLUE_GREEN: &str = "
strategy:
  blueGreen:
    preview: {hold: 20s}
    postPromotion: {hold: 60s}
    scaleDownDelay: 30s
analysis:
  interval: 20s
  metrics:
    - name: error-rate
      query: {command: 'true'}
      max: 0.05
";

#[tokio::test]
async fn blue_green_promotes_after_post_promotion_analysis_then_scales_down_later() {
    let then = given(BLUE_GREEN).when_run().await;

    assert_eq!(then.outcome(), Outcome::Promoted);
    assert_eq!(then.weights_set(), vec![0, 100]);
    let promoted = then.seconds_until(|kind| matches!(kind, EventKind::Promoted { .. }));
    let retired = then.seconds_until(|kind| matches!(kind, EventKind::Retired { .. }));
    assert_eq!((promoted, retired), (Some(80.0), Some(110.0)));
}

#[tokio::test]
async fn blue_green_post_promotion_failure_switches_back() {
    // Preview: one measurement at 20 s; after the switch the second one fails.
    let then = given(BLUE_GREEN)
        .metric("error-rate", vec![data(0.0), data(0.0), data(0.5)])
        .when_run()
        .await;

    assert_eq!(then.outcome(), Outcome::RolledBack);
    assert_eq!(then.weights_set(), vec![0, 100, 0]);
    assert_eq!(then.router.current(), 0);
    assert!(!then.promoted());
}

#[tokio::test]
async fn a_failed_smoke_check_means_the_new_version_never_gets_traffic() {
    let body = format!("{CANARY}smoke:\n  - name: healthz\n    command: 'true'\n");
    let then = given(&body)
        .checks(MemoryChecks::failing(CheckStage::BeforeTraffic, "healthz"))
        .when_run()
        .await;

    assert_eq!(then.outcome(), Outcome::RolledBack);
    assert_eq!(then.weights_set(), vec![0]);
    assert!(then.report.reason.contains("smoke check `healthz` failed"));
}

#[tokio::test]
async fn a_deploy_failure_rolls_back_before_any_traffic() {
    let then = given(CANARY)
        .target(MemoryTarget::failing_deploy("ImagePullBackOff"))
        .when_run()
        .await;

    assert_eq!(then.outcome(), Outcome::RolledBack);
    assert_eq!(then.weights_set(), vec![0]);
    assert!(then.report.reason.contains("ImagePullBackOff"));
}

#[tokio::test]
async fn a_weight_the_router_does_not_read_back_is_a_failure_and_rolls_back() {
    let then = given(CANARY)
        .router(MemoryRouter::stuck_at(0))
        .when_run()
        .await;

    assert_eq!(then.outcome(), Outcome::Failed);
    assert_eq!(then.weights_set(), vec![10, 0]);
    assert!(
        then.report
            .reason
            .contains("reads back 0% after setting 10%"),
        "{}",
        then.report.reason
    );
    assert!(
        then.events()
            .any(|kind| matches!(kind, EventKind::RollbackCompleted { .. }))
    );
}

#[tokio::test]
async fn a_rollback_that_cannot_be_verified_fails_loudly() {
    // The second set (step 2) fails, and so does the rollback after it.
    let then = given(CANARY)
        .router(MemoryRouter::failing_from(1))
        .when_run()
        .await;

    assert_eq!(then.outcome(), Outcome::Failed);
    assert!(
        then.report.reason.contains("greenlight rollback"),
        "{}",
        then.report.reason
    );
    assert!(
        !then
            .events()
            .any(|kind| matches!(kind, EventKind::RollbackCompleted { .. }))
    );
}

#[tokio::test]
async fn a_linear_ramp_steps_up_to_max_then_promotes() {
    let body = "strategy:\n  canary:\n    step: 20\n    max: 60\n    every: 1m\n";
    let then = given(body).when_run().await;

    assert_eq!(then.outcome(), Outcome::Promoted);
    assert_eq!(then.weights_set(), vec![20, 40, 60, 100]);
}

const HOOKED: &str = "
strategy:
  canary:
    steps:
      - {weight: 10, hold: 30s}
      - {weight: 50, hold: 30s}
smoke:
  - {name: healthz, command: 'true', afterEachStep: true}
hooks:
  preRollout: [{name: freeze, command: 'true'}]
  beforeTraffic: [{name: warm-cache, command: 'true'}]
  afterStep: [{name: e2e, command: 'true'}]
  beforePromotion: [{name: confirm, command: 'true'}]
  postRollout: [{name: notify, command: 'true'}]
  onRollback: [{name: page, command: 'true'}]
";

#[tokio::test]
async fn hooks_run_at_every_point_in_order() {
    let then = given(HOOKED).when_run().await;

    assert_eq!(then.outcome(), Outcome::Promoted);
    use CheckStage::*;
    assert_eq!(
        then.checks.log(),
        vec![
            (PreRollout, None),
            (BeforeTraffic, None),
            (AfterStep, Some(1)),
            (AfterStep, Some(2)),
            (BeforePromotion, None),
            (PostRollout, None),
        ]
    );
    assert_eq!(then.weights_set(), vec![10, 50, 100]);
}

#[tokio::test]
async fn a_failing_pre_rollout_hook_stops_before_any_change() {
    let then = given(HOOKED)
        .checks(MemoryChecks::failing(CheckStage::PreRollout, "freeze"))
        .when_run()
        .await;

    assert_eq!(then.outcome(), Outcome::Halted);
    assert!(then.target.log().is_empty(), "nothing deployed");
    assert!(then.weights_set().is_empty(), "no traffic touched");
    assert!(
        then.report
            .reason
            .contains("pre-rollout hook `freeze` failed"),
        "{}",
        then.report.reason
    );
}

#[tokio::test]
async fn a_failing_after_step_hook_is_a_gate() {
    let then = given(HOOKED)
        .checks(MemoryChecks::failing(CheckStage::AfterStep, "e2e"))
        .when_run()
        .await;

    assert_eq!(then.outcome(), Outcome::RolledBack);
    assert_eq!(then.weights_set(), vec![10, 0]);
    assert_eq!(
        then.report.steps[0].status,
        greenlight::report::StepStatus::Failed
    );
    assert!(
        then.checks.log().contains(&(CheckStage::OnRollback, None)),
        "on-rollback hooks ran"
    );
}

#[tokio::test]
async fn an_unconfirmed_promotion_halts_where_traffic_is() {
    let then = given(HOOKED)
        .checks(MemoryChecks::failing(
            CheckStage::BeforePromotion,
            "confirm",
        ))
        .when_run()
        .await;

    assert_eq!(then.outcome(), Outcome::Halted);
    assert_eq!(then.weights_set(), vec![10, 50]);
    assert!(!then.promoted());
}

#[tokio::test]
async fn failing_post_rollout_and_on_rollback_hooks_are_warnings() {
    let then = given(HOOKED)
        .checks(MemoryChecks::failing(CheckStage::PostRollout, "notify"))
        .when_run()
        .await;
    assert_eq!(then.outcome(), Outcome::Promoted);
    assert!(
        then.events().any(
            |kind| matches!(kind, EventKind::Warning { message } if message.contains("notify"))
        )
    );

    let then = given(&format!("{HOOKED}analysis:\n  metrics:\n    - {{name: errors, query: {{command: 'true'}}, max: 0}}\n"))
        .metric("errors", vec![data(1.0)])
        .checks(MemoryChecks::failing(CheckStage::OnRollback, "page"))
        .when_run()
        .await;
    assert_eq!(then.outcome(), Outcome::RolledBack);
    assert!(
        then.events()
            .any(|kind| matches!(kind, EventKind::Warning { message } if message.contains("page")))
    );
    assert_eq!(then.target.log(), vec!["deploy v2", "retire v2"]);
}

#[tokio::test]
async fn a_cancelled_job_puts_traffic_back_on_stable() {
    let then = given(CANARY).cancelled_at_step(2).when_run().await;

    assert_eq!(then.outcome(), Outcome::RolledBack);
    assert_eq!(then.weights_set(), vec![10, 50, 0]);
    assert_eq!(then.router.current(), 0);
    assert_eq!(then.report.reason, "the rollout was cancelled (SIGTERM)");
    assert_eq!(then.target.log(), vec!["deploy v2", "retire v2"]);
}
