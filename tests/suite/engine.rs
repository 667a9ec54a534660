//! The engine on a virtual clock: every strategy and failure path, in milliseconds.

use std::time::Duration;

use greenlight::engine::plan::{CheckStage, Mode};
use greenlight::engine::{EventKind, Outcome};
use greenlight::judge::evidence::{BlastRadius, VersionCounts};
use greenlight::judge::{Counts, Verdict};
use greenlight::metrics::Measurement;
use greenlight::traffic::Side;

use crate::support::*;

fn canary() -> String {
    two_step_canary("10s", "")
}

fn canary_with(analysis_extra: &str) -> String {
    two_step_canary("10s", analysis_extra)
}

#[tokio::test]
async fn all_gates_pass_then_promoted() {
    let then = given(&canary())
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
    let then = given(&canary())
        .metric("error-rate", answers)
        .when_run()
        .await;

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
    let body = format!(
        "{}smoke:\n  - name: healthz\n    command: 'true'\n",
        canary()
    );
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
    let then = given(&canary())
        .target(MemoryTarget::failing_deploy("ImagePullBackOff"))
        .when_run()
        .await;

    assert_eq!(then.outcome(), Outcome::RolledBack);
    assert_eq!(then.weights_set(), vec![0]);
    assert!(then.report.reason.contains("ImagePullBackOff"));
}

#[tokio::test]
async fn a_deploy_that_never_finishes_halts_without_touching_traffic_or_removing_it() {
    let then = given(&canary())
        .target(MemoryTarget::stuck_deploy(
            "deployment d1 did not finish in 10m",
        ))
        .when_run()
        .await;

    assert_eq!(then.outcome(), Outcome::Halted);
    assert_eq!(then.weights_set(), Vec::<u8>::new());
    assert!(then.report.reason.contains("deployment d1 did not finish"));
}

#[tokio::test]
async fn a_weight_the_router_does_not_read_back_is_a_failure_and_rolls_back() {
    let then = given(&canary())
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
    let then = given(&canary())
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
    let then = given(&canary()).cancelled_at_step(2).when_run().await;

    assert_eq!(then.outcome(), Outcome::RolledBack);
    assert_eq!(then.weights_set(), vec![10, 50, 0]);
    assert_eq!(then.router.current(), 0);
    assert_eq!(then.report.reason, "the rollout was cancelled (SIGTERM)");
    assert_eq!(then.target.log(), vec!["deploy v2", "retire v2"]);
}

// ------------------------------------------ drain and wait before removing a version

fn with_wait_gate(extra: &str) -> String {
    format!(
        "{}  beforeRetire:
    - name: pending-jobs
      query: {{command: 'true'}}
      max: 0
      timeout: 60s
{extra}",
        canary()
    )
}

fn seconds_between(
    then: &Then,
    from: impl Fn(&EventKind) -> bool,
    to: impl Fn(&EventKind) -> bool,
) -> f64 {
    let a = then.seconds_until(from).expect("first event");
    let b = then.seconds_until(to).expect("second event");
    b - a
}

fn is_promoted(kind: &EventKind) -> bool {
    matches!(kind, EventKind::Promoted { .. })
}

#[tokio::test]
async fn the_old_version_is_retired_once_its_pending_work_reaches_the_limit() {
    let then = given(&with_wait_gate(""))
        .wait_gate("pending-jobs", vec![data(3.0), no_data(), data(0.0)])
        .when_run()
        .await;

    assert_eq!(then.outcome(), Outcome::Promoted);
    assert_eq!(then.target.log(), vec!["deploy v2", "retire v1"]);
    // Measured at 0 s, 10 s and 20 s after promotion (the analysis interval).
    assert_eq!(then.waits[0].calls(), 3);
    assert!(then.events().any(|kind| matches!(
        kind,
        EventKind::WaitGate { metric, value, waited_ms: 20_000, .. }
            if metric == "pending-jobs" && *value == 0.0
    )));
    let waited = seconds_between(&then, is_promoted, |kind| {
        matches!(kind, EventKind::Retired { .. })
    });
    assert_eq!(waited, 20.0);
}

#[tokio::test]
async fn pending_work_that_never_ends_halts_at_the_timeout_and_keeps_the_old_version() {
    let then = given(&with_wait_gate("      interval: 15s\n"))
        .wait_gate("pending-jobs", vec![data(2.0)])
        .when_run()
        .await;

    assert_eq!(then.outcome(), Outcome::Halted);
    assert_eq!(then.outcome().exit_code(), 3);
    assert_eq!(then.target.log(), vec!["deploy v2"], "v1 is never removed");
    assert_eq!(then.weights_set(), vec![10, 50, 100]);
    // 0, 15, 30, 45 and the last look at the 60 s deadline.
    assert_eq!(then.waits[0].calls(), 5);
    let halted_after = seconds_between(&then, is_promoted, |kind| {
        matches!(kind, EventKind::Halted { .. })
    });
    assert_eq!(halted_after, 60.0);
    assert_eq!(
        then.report.reason,
        "v1 was not removed: waiting until `pending-jobs` ≤ 0 timed out after 1m: `pending-jobs` was 2, above 0"
    );
}

#[tokio::test]
async fn wait_gate_provider_errors_are_retried_then_halt_like_analysis_errors() {
    let flaky = given(&with_wait_gate(""))
        .wait_gate(
            "pending-jobs",
            vec![
                error("prometheus down"),
                error("prometheus down"),
                data(0.0),
            ],
        )
        .when_run()
        .await;
    assert_eq!(flaky.outcome(), Outcome::Promoted);
    assert_eq!(flaky.target.log(), vec!["deploy v2", "retire v1"]);

    let down = given(&with_wait_gate(""))
        .wait_gate("pending-jobs", vec![error("prometheus down")])
        .when_run()
        .await;
    assert_eq!(down.outcome(), Outcome::Halted);
    assert_eq!(down.target.log(), vec!["deploy v2"]);
    assert_eq!(
        down.waits[0].calls(),
        3,
        "consecutiveErrorLimit defaults to 3"
    );
    assert!(
        down.report
            .reason
            .ends_with("the provider failed 3 time(s) in a row: prometheus down"),
        "{}",
        down.report.reason
    );
}

#[tokio::test]
async fn a_rollback_skips_the_wait_gates_of_the_old_version() {
    let then = given(&with_wait_gate(""))
        .metric("error-rate", vec![data(0.3)])
        .wait_gate("pending-jobs", vec![data(5.0)])
        .when_run()
        .await;

    assert_eq!(then.outcome(), Outcome::RolledBack);
    assert_eq!(then.target.log(), vec!["deploy v2", "retire v2"]);
    assert_eq!(then.waits[0].calls(), 0);
}

#[tokio::test]
async fn servers_are_drained_before_removal_polling_until_no_session_is_open() {
    let then = given(&canary())
        .drain(Duration::from_secs(30), Duration::from_secs(2))
        .router(MemoryRouter::draining(vec![Ok(4), Ok(1), Ok(0)]))
        .when_run()
        .await;

    assert_eq!(then.outcome(), Outcome::Promoted);
    assert_eq!(then.router.drains(), vec![Side::Stable; 3]);
    assert!(then.events().any(|kind| matches!(
        kind,
        EventKind::Drained { version, waited_ms: 4_000 } if version == "v1"
    )));
    assert_eq!(then.target.log(), vec!["deploy v2", "retire v1"]);
}

#[tokio::test]
async fn a_drain_that_never_empties_halts_after_promotion_and_warns_after_rollback() {
    let stuck = given(&canary())
        .drain(Duration::from_secs(30), Duration::from_secs(10))
        .router(MemoryRouter::draining(vec![Ok(2)]))
        .when_run()
        .await;
    assert_eq!(stuck.outcome(), Outcome::Halted);
    assert_eq!(stuck.target.log(), vec!["deploy v2"]);
    assert_eq!(stuck.router.drains().len(), 4, "0, 10, 20 and 30 s");
    assert!(
        stuck.report.reason.starts_with(
            "v1 was not removed: draining the stable servers (v1) timed out after 30s: 2 session(s) still open"
        ),
        "{}",
        stuck.report.reason
    );

    let rolled_back = given(&canary())
        .metric("error-rate", vec![data(0.3)])
        .drain(Duration::from_secs(30), Duration::from_secs(10))
        .router(MemoryRouter::draining(vec![Err(
            greenlight::provider::ProviderError::new("socket gone"),
        )]))
        .when_run()
        .await;
    assert_eq!(rolled_back.outcome(), Outcome::RolledBack);
    assert_eq!(rolled_back.router.drains(), vec![Side::New; 3]);
    assert_eq!(rolled_back.target.log(), vec!["deploy v2"], "v2 stays up");
    assert!(rolled_back.events().any(|kind| matches!(
        kind,
        EventKind::Warning { message } if message.starts_with("v2 was not removed: draining the new servers (v2): the provider failed 3 time(s) in a row: socket gone")
    )));
}

// ------------------------------------------- manual commands: short plans, same engine

#[tokio::test]
async fn promote_by_hand_drains_waits_for_the_gates_then_retires_stable() {
    let then = given(&with_wait_gate(""))
        .by_hand(Mode::Promote)
        .drain(Duration::from_secs(30), Duration::from_secs(2))
        .router(MemoryRouter::draining(vec![Ok(3), Ok(0)]))
        .wait_gate("pending-jobs", vec![data(2.0), data(0.0)])
        .when_run()
        .await;

    assert_eq!(then.outcome(), Outcome::Promoted);
    assert_eq!(then.weights_set(), vec![100]);
    assert_eq!(then.router.drains(), vec![Side::Stable; 2]);
    assert_eq!(then.waits[0].calls(), 2);
    assert_eq!(then.target.log(), vec!["retire v1"]);
    assert_eq!(then.report.reason, "v2 promoted by hand; v1 retired");
}

#[tokio::test]
async fn rollback_by_hand_drains_the_new_servers_and_removes_them() {
    let then = given(&canary())
        .by_hand(Mode::RollBack)
        .drain(Duration::from_secs(30), Duration::from_secs(2))
        .router(MemoryRouter::draining(vec![Ok(0)]))
        .when_run()
        .await;

    assert_eq!(then.outcome(), Outcome::RolledBack);
    assert_eq!(then.weights_set(), vec![0]);
    assert_eq!(then.router.drains(), vec![Side::New]);
    assert_eq!(then.target.log(), vec!["retire v2"]);
    assert_eq!(
        then.report.reason,
        "rolled back by hand: all traffic is on v1; v2 removed"
    );
}

#[tokio::test]
async fn abort_by_hand_puts_traffic_back_and_removes_nothing() {
    let then = given(&canary()).by_hand(Mode::Abort).when_run().await;

    assert_eq!(then.outcome(), Outcome::RolledBack);
    assert_eq!(then.weights_set(), vec![0]);
    assert!(then.target.log().is_empty());
    assert_eq!(
        then.report.reason,
        "aborted by hand: all traffic is on v1; v2 is left running"
    );
}

const COMPARE: &str = "
strategy:
  canary:
    steps:
      - {weight: 10, hold: 30s}
      - {weight: 50, hold: 30s}
analysis:
  interval: 10s
  metrics:
    - name: errors
      compare: stable
      query:
        counts:
          new: {requests: {command: 'true'}, errors: {command: 'true'}}
          stable: {requests: {command: 'true'}, errors: {command: 'true'}}
";

/// One window: (requests, errors) of the new version, then of the stable one.
fn counts(
    new: (u64, u64),
    stable: (u64, u64),
) -> Result<Measurement, greenlight::provider::ProviderError> {
    Ok(Measurement::Counts(VersionCounts {
        new: Counts {
            requests: new.0,
            events: new.1,
        },
        stable: Some(Counts {
            requests: stable.0,
            events: stable.1,
        }),
        slower_than_ms: None,
    }))
}

#[tokio::test]
async fn a_comparison_rolls_back_at_the_first_significant_window_and_counts_the_blast_radius() {
    // 5% against 1%: a healthy first window, then the regression.
    let answers = vec![
        counts((1_000, 10), (9_000, 90)),
        counts((1_000, 50), (9_000, 90)),
    ];
    let then = given(COMPARE).metric("errors", answers).when_run().await;

    assert_eq!(then.outcome(), Outcome::RolledBack);
    assert_eq!(then.weights_set(), vec![10, 0]);
    let failed_at = then.seconds_until(|kind| {
        matches!(
            kind,
            EventKind::Gate {
                verdict: Verdict::Fail,
                ..
            }
        )
    });
    assert_eq!(failed_at, Some(20.0));
    let blast_radius = then.events().find_map(|kind| match kind {
        EventKind::RollbackStarted { blast_radius, .. } => *blast_radius,
        _ => None,
    });
    assert_eq!(
        blast_radius,
        Some(BlastRadius {
            requests: 2_000,
            failed: 60
        })
    );
    assert!(
        then.report
            .reason
            .contains("worse on the new version: error rate 3.0% vs 1.0%, ratio "),
        "{}",
        then.report.reason
    );
}

#[tokio::test]
async fn a_comparison_shown_not_worse_ends_each_step_early_and_promotes() {
    let then = given(COMPARE)
        .metric("errors", vec![counts((20_000, 200), (20_000, 200))])
        .when_run()
        .await;

    assert_eq!(then.outcome(), Outcome::Promoted);
    let held: Vec<u64> = then
        .events()
        .filter_map(|kind| match kind {
            EventKind::StepCompleted { held_ms, .. } => Some(*held_ms),
            _ => None,
        })
        .collect();
    assert_eq!(held.len(), 2);
    assert!(held.iter().all(|held| *held < 30_000), "{held:?}");
}

#[tokio::test]
async fn an_undecided_comparison_halts_at_the_end_of_the_step_when_the_spec_says_so() {
    let spec = COMPARE.replace(
        "      compare: stable\n",
        "      compare: stable\n      inconclusive: halt\n",
    );
    let then = given(&spec)
        .metric("errors", vec![counts((200, 2), (1_800, 18))])
        .when_run()
        .await;

    assert_eq!(then.outcome(), Outcome::Halted);
    assert_eq!(then.weights_set(), vec![10]);
    assert!(
        then.report
            .reason
            .contains("not shown within its margin by the end of step 1"),
        "{}",
        then.report.reason
    );

    // The default goes on and promotes: no regression was ever significant.
    let then = given(COMPARE)
        .metric("errors", vec![counts((200, 2), (1_800, 18))])
        .when_run()
        .await;
    assert_eq!(then.outcome(), Outcome::Promoted);
}

#[tokio::test]
async fn a_rate_threshold_neither_fails_nor_passes_on_fewer_than_min_requests() {
    let spec = canary()
        .replace(
            "      query: {command: 'true'}\n",
            "      query:\n        counts:\n          new: {requests: {command: 'true'}, errors: {command: 'true'}}\n",
        )
        .replace("      max: 0.05\n", "      max: 0.05\n      minRequests: 100\n");
    let new_only = |requests, errors| {
        Ok(Measurement::Counts(VersionCounts {
            new: Counts {
                requests,
                events: errors,
            },
            stable: None,
            slower_than_ms: None,
        }))
    };
    // 1 error in 18 requests is 5.6%, above the 5% limit: not enough to fail on.
    let then = given(&spec)
        .metric("error-rate", vec![new_only(18, 1)])
        .when_run()
        .await;
    assert_eq!(then.outcome(), Outcome::Halted);
    assert!(
        then.report.reason.contains("too few samples"),
        "{}",
        then.report.reason
    );
    assert!(!then.events().any(|kind| matches!(
        kind,
        EventKind::Gate {
            verdict: Verdict::Fail,
            ..
        }
    )));

    // The same rate on 200 requests fails, and says on how many.
    let then = given(&spec)
        .metric("error-rate", vec![new_only(200, 12)])
        .when_run()
        .await;
    assert_eq!(then.outcome(), Outcome::RolledBack);
    let requests = then.events().find_map(|kind| match kind {
        EventKind::Gate { requests, .. } => *requests,
        _ => None,
    });
    assert_eq!(requests, Some(200));
}
