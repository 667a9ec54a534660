//! The rollout never waits on a forge: with a forge that never answers, the
//! events, their times and the outcome are those of a run with a healthy
//! forge, on a clock that any real wait would move (tokio's, paused); the
//! final report gives up at its limit and says so in one line.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use greenlight::engine::{Event, EventKind, Outcome};
use greenlight::forge::session::{CommandKind, Platform, Rollout};
use greenlight::report::live::{ForgeReporter, LiveReports, Warnings};
use greenlight::report::{Report, Reporter, describe_event};

use crate::support::*;

/// The final report's limit: shorter than the two 10 s call timeouts a
/// hanging forge runs into, so only the limit can end it.
const LIMIT: Duration = Duration::from_secs(15);

fn promoted() -> Given {
    given(&two_step_canary("15s", "")).metric("error-rate", vec![data(0.004), data(0.01)])
}

fn rolled_back() -> Given {
    given(&two_step_canary("15s", ""))
        .metric("error-rate", vec![data(0.004), data(0.01), data(0.31)])
}

/// What a rollout did and when, relative to its start.
fn timeline(then: &Then) -> Vec<(Duration, String)> {
    let start = then.report.timeline[0].at;
    then.report
        .timeline
        .iter()
        .map(|event| {
            let offset = event.at.duration_since(start).unwrap_or_default();
            (offset, describe_event(&event.kind))
        })
        .collect()
}

fn gate_times(then: &Then) -> Vec<Duration> {
    let start = then.report.timeline[0].at;
    then.report
        .timeline
        .iter()
        .filter(|event| matches!(event.kind, EventKind::Gate { .. }))
        .map(|event| event.at.duration_since(start).unwrap_or_default())
        .collect()
}

/// A forge that answers every call after `latency`, and records what it got.
#[derive(Clone, Default)]
struct HealthyForge {
    latency: Duration,
    batches: Arc<Mutex<Vec<Vec<String>>>>,
    finished: Arc<Mutex<Vec<Outcome>>>,
}

#[async_trait]
impl ForgeReporter for HealthyForge {
    async fn update(&mut self, events: &[Event]) -> Result<(), String> {
        tokio::time::sleep(self.latency).await;
        let batch = events.iter().map(|event| describe_event(&event.kind));
        self.batches.lock().unwrap().push(batch.collect());
        Ok(())
    }

    async fn finish(&mut self, report: &Report) -> Result<(), String> {
        tokio::time::sleep(self.latency).await;
        self.finished.lock().unwrap().push(report.outcome);
        Ok(())
    }
}

/// A local port that takes connections (the kernel's backlog accepts them)
/// and never answers a byte.
fn hanging_forge() -> (std::net::TcpListener, String) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    (listener, url)
}

struct Run {
    then: Then,
    /// From the last event to the runner's return.
    final_report: Duration,
    warnings: Vec<String>,
}

async fn run_with(
    given: Given,
    limit: Duration,
    forge: impl FnOnce(&Given) -> Vec<Box<dyn ForgeReporter>>,
) -> Run {
    let warnings = Arc::new(Mutex::new(Vec::new()));
    let said = Arc::clone(&warnings);
    let live = LiveReports::start(
        forge(&given),
        limit,
        Warnings::to(move |line| said.lock().unwrap().push(line.to_owned())),
    );
    let clock = TokioClock::starting_at(epoch());
    let started = tokio::time::Instant::now();
    let reporters: Vec<Box<dyn Reporter>> = vec![Box::new(live)];
    let then = given.when_run_on(&clock, reporters).await;
    let last = then.report.timeline.last().unwrap().at;
    let ran = started.elapsed();
    let last_offset = last.duration_since(epoch()).unwrap();
    let warnings = warnings.lock().unwrap().clone();
    Run {
        final_report: ran.saturating_sub(last_offset),
        then,
        warnings,
    }
}

fn github_and_gitlab(url: &str, given: &Given) -> Vec<Box<dyn ForgeReporter>> {
    let rollout = Rollout {
        command: CommandKind::Run,
        release: &crate::support::ci::release(),
        plan: &given.plan(),
        title: None,
        plan_text: None,
        final_limit: LIMIT,
        webhook: None,
        links: Default::default(),
    };
    let warnings = greenlight::report::live::Warnings::to(|_| {});
    let mut reporters = Platform::GitHub(crate::support::ci::github_at(url.to_owned()))
        .forge_publishers(&rollout, &warnings);
    reporters.extend(
        Platform::GitLab(crate::support::ci::gitlab_at(url.to_owned()))
            .forge_publishers(&rollout, &warnings),
    );
    assert_eq!(reporters.len(), 3, "deployment, PR comment, MR note");
    reporters
}

async fn a_hanging_forge_changes_nothing_but_the_final_wait(given: fn() -> Given) {
    let quiet = run_with(given(), LIMIT, |_| Vec::new()).await;
    let forge = HealthyForge {
        latency: Duration::from_millis(300),
        ..HealthyForge::default()
    };
    let healthy = run_with(given(), LIMIT, |_| vec![Box::new(forge.clone())]).await;
    let (_listener, url) = hanging_forge();
    let hanging = run_with(given(), LIMIT, |given| github_and_gitlab(&url, given)).await;

    assert_eq!(timeline(&healthy.then), timeline(&quiet.then));
    assert_eq!(timeline(&hanging.then), timeline(&quiet.then));
    assert_eq!(hanging.then.outcome(), healthy.then.outcome());
    assert_eq!(gate_times(&hanging.then), gate_times(&healthy.then));
    // Within a step, measurements keep the analysis interval.
    for pair in gate_times(&hanging.then).windows(2) {
        assert!(pair[1] - pair[0] >= Duration::from_secs(15), "{pair:?}");
    }

    // The healthy forge saw every event, the newest state last, and the final report.
    let seen: Vec<String> = forge.batches.lock().unwrap().concat();
    let all: Vec<String> = timeline(&healthy.then)
        .into_iter()
        .map(|(_, line)| line)
        .collect();
    assert!(all.starts_with(&seen), "{seen:#?}");
    assert!(seen.len() > 1, "no live update during the holds: {seen:#?}");
    assert_eq!(
        *forge.finished.lock().unwrap(),
        vec![healthy.then.outcome()]
    );
    assert!(healthy.warnings.is_empty(), "{:?}", healthy.warnings);
    // At most the call in flight and the final one.
    assert!(healthy.final_report <= Duration::from_millis(600));

    // The hanging one: the final report goes to every reporter side by side,
    // so each gives up at its call's own timeout, within the limit; said in
    // one line.
    let call = greenlight::report::live::CALL_TIMEOUT;
    assert!(
        (call..=LIMIT).contains(&hanging.final_report),
        "{:?}",
        hanging.final_report
    );
    assert_eq!(hanging.warnings.len(), 1, "{:#?}", hanging.warnings);
    assert!(
        hanging.warnings[0].starts_with("not every report got through"),
        "{}",
        hanging.warnings[0]
    );
}

#[tokio::test(start_paused = true)]
async fn a_forge_that_never_answers_does_not_slow_a_promotion() {
    a_hanging_forge_changes_nothing_but_the_final_wait(promoted).await;
}

#[tokio::test(start_paused = true)]
async fn a_forge_that_never_answers_does_not_delay_a_rollback() {
    a_hanging_forge_changes_nothing_but_the_final_wait(rolled_back).await;
}

#[tokio::test(start_paused = true)]
async fn a_slow_forge_gets_the_latest_state_and_skips_the_stale_ones() {
    // A third of a hold per call: updates queue up behind each call.
    let forge = HealthyForge {
        latency: Duration::from_secs(10),
        ..HealthyForge::default()
    };
    let limit = Duration::from_secs(25);
    let slow = run_with(promoted(), limit, |_| vec![Box::new(forge.clone())]).await;
    let batches = forge.batches.lock().unwrap().clone();
    let all: Vec<String> = timeline(&slow.then)
        .into_iter()
        .map(|(_, line)| line)
        .collect();
    // Fewer calls than events, none lost or reordered up to the final report.
    assert!(batches.iter().any(|batch| batch.len() > 1), "{batches:#?}");
    assert!(all.starts_with(&batches.concat()));
    assert_eq!(*forge.finished.lock().unwrap(), vec![Outcome::Promoted]);
    assert!(slow.final_report <= limit);
    assert!(slow.warnings.is_empty(), "{:?}", slow.warnings);
}
