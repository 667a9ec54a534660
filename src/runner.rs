//! The imperative shell around the engine: does what it asks, feeds back what
//! happened, streams events to reporters and checkpoints the state record.

use std::time::SystemTime;

use futures_util::future::join_all;

use crate::checks::CheckRunner;
use crate::clock::Clock;
use crate::deploy::Target;
use crate::engine::{Action, Engine, EventKind, Input, Outcome, State};
use crate::metrics::MetricSource;
use crate::provider::ProviderError;
use crate::report::{Report, Reporter};
use crate::router::Router;
use crate::state::{Record, RecordPhase, StateStore, save_or_warn};
use crate::traffic::Weight;

/// How long a reporter may take over one live event.
const LIVE_REPORT_BUDGET: std::time::Duration = std::time::Duration::from_secs(5);

/// Everything a rollout talks to.
pub struct Providers {
    pub target: Box<dyn Target>,
    pub router: Box<dyn Router>,
    /// One per gate, in plan order.
    pub metrics: Vec<Box<dyn MetricSource>>,
    pub checks: Box<dyn CheckRunner>,
    /// One per wait-until gate (`Plan::before_retire`), in plan order.
    pub waits: Vec<Box<dyn MetricSource>>,
}

/// A request to stop, e.g. the CI job being cancelled. Until promotion, the
/// runner answers it by putting traffic back on the stable version; it never
/// interrupts a provider call half-way.
#[derive(Clone)]
pub struct Cancellation(tokio::sync::watch::Receiver<Option<String>>);

impl Cancellation {
    /// A cancellation and the handle that triggers it with a reason.
    pub fn new() -> (tokio::sync::watch::Sender<Option<String>>, Self) {
        let (sender, receiver) = tokio::sync::watch::channel(None);
        (sender, Self(receiver))
    }

    fn reason(&self) -> Option<String> {
        self.0.borrow().clone()
    }

    /// Resolves once cancelled (never, if the sender is gone without cancelling).
    async fn cancelled(&mut self) {
        if self.0.wait_for(Option::is_some).await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// Where progress is checkpointed, and under whose name.
pub struct Checkpoint<'a> {
    pub store: &'a dyn StateStore,
    pub holder: String,
}

pub async fn run(
    engine: &Engine,
    providers: &Providers,
    clock: &dyn Clock,
    reporters: &mut [Box<dyn Reporter>],
    checkpoint: Option<&Checkpoint<'_>>,
    cancellation: Option<Cancellation>,
) -> Report {
    let mut cancellation = cancellation;
    let mut cancel_sent = false;
    let mut state = State::new();
    let mut input = Input::Start;
    // Take the lock before deploying, not at the first weight: a second job
    // must see this rollout while it is still deploying.
    if let Some(checkpoint) = checkpoint {
        save(checkpoint, engine, &state, clock.now()).await;
    }
    let mut reported = 0;
    loop {
        let (next, action) = engine.step(state, clock.now(), input);
        state = next;
        let fresh = &state.timeline[reported..];
        for event in fresh {
            for reporter in reporters.iter_mut() {
                // A slow forge (a PR comment) must never hold traffic back,
                // least of all a rollback: live updates get a short budget.
                if tokio::time::timeout(LIVE_REPORT_BUDGET, reporter.event(event))
                    .await
                    .is_err()
                {
                    tracing::warn!(
                        "a live report took over {LIVE_REPORT_BUDGET:?} and was skipped"
                    );
                }
            }
        }
        let traffic_moved = fresh.iter().any(|event| {
            matches!(
                event.kind,
                EventKind::WeightSet { .. } | EventKind::RollbackCompleted { .. }
            )
        });
        reported = state.timeline.len();
        if let Some(checkpoint) = checkpoint
            && (traffic_moved || matches!(action, Action::Finish(_)))
        {
            save(checkpoint, engine, &state, clock.now()).await;
        }
        if !cancel_sent
            && state.can_cancel()
            && let Some(reason) = cancellation.as_ref().and_then(Cancellation::reason)
        {
            cancel_sent = true;
            input = Input::Cancelled { reason };
            continue;
        }
        input = match action {
            Action::Deploy { version } => Input::Deployed(providers.target.deploy(&version).await),
            Action::RunChecks { stage, step } => {
                Input::Checked(providers.checks.run(stage, step).await)
            }
            Action::SetWeight(weight) => Input::WeightApplied(providers.router.apply(weight).await),
            Action::Measure => Input::Measured(
                join_all(providers.metrics.iter().map(|metric| metric.measure())).await,
            ),
            Action::SleepUntil(deadline) => {
                match cancellation.as_mut().filter(|_| state.can_cancel()) {
                    Some(cancellation) => {
                        tokio::select! {
                            () = clock.sleep_until(deadline) => {}
                            () = cancellation.cancelled() => {}
                        }
                        // A cancellation that arrived is picked up at the top of the loop.
                        Input::Woke
                    }
                    None => {
                        clock.sleep_until(deadline).await;
                        Input::Woke
                    }
                }
            }
            Action::Drain(side) => Input::Drained(providers.router.drain(side).await),
            Action::MeasureWait(index) => Input::WaitMeasured(match providers.waits.get(index) {
                Some(source) => source.measure().await,
                None => Err(ProviderError::new(format!(
                    "internal error: no source for wait-until gate {index}"
                ))),
            }),
            Action::Retire { version } => Input::Retired(providers.target.retire(&version).await),
            Action::Finish(outcome) => {
                let reason = state.reason.clone().unwrap_or_default();
                let report = Report::build(
                    &engine.release(),
                    &engine.plan,
                    outcome,
                    reason,
                    state.timeline,
                );
                for reporter in reporters.iter_mut() {
                    if let Err(error) = reporter.finish(&report).await {
                        tracing::warn!("a report could not be written: {error}");
                    }
                }
                return report;
            }
        };
    }
}

/// Records where the rollout stands; a failure to save is a warning, not a
/// reason to stop moving traffic safely.
async fn save(checkpoint: &Checkpoint<'_>, engine: &Engine, state: &State, now: SystemTime) {
    let weight = state
        .timeline
        .iter()
        .rev()
        .find_map(|event| match event.kind {
            EventKind::WeightSet { weight, .. } => Some(weight),
            EventKind::RollbackCompleted { weight } => Some(weight),
            _ => None,
        })
        .unwrap_or(Weight::ZERO);
    let phase = match state.outcome {
        None => RecordPhase::InProgress,
        Some(Outcome::Promoted) => RecordPhase::Promoted,
        Some(Outcome::RolledBack) => RecordPhase::RolledBack,
        Some(Outcome::Halted) => RecordPhase::Halted,
        Some(Outcome::Failed | Outcome::Planned) => RecordPhase::Failed,
    };
    let record = Record::of(
        &engine.release(),
        phase,
        weight.percent(),
        Some(checkpoint.holder.clone()),
        now,
    );
    save_or_warn(checkpoint.store, &record).await;
}
