//! The imperative shell around the engine: does what it asks, feeds back what
//! happened, streams events to reporters and writes progress to the state record.

use std::time::SystemTime;

use futures_util::future::join_all;

use crate::checks::CheckRunner;
use crate::clock::Clock;
use crate::deploy::Target;
use crate::engine::plan::Mode;
use crate::engine::{Action, Engine, EventKind, Input, Outcome, Resume, State};
use crate::metrics::{MetricSource, TaskMetric};
use crate::provider::ProviderError;
use crate::report::{Report, Reporter};
use crate::router::Router;
use crate::state::{Pending, Record, RecordPhase, StateStore, save_or_warn};
use crate::traffic::Weight;

/// Everything a rollout talks to.
pub struct Providers {
    pub target: Box<dyn Target>,
    pub router: Box<dyn Router>,
    /// One per gate, in plan order.
    pub metrics: Vec<Box<dyn MetricSource>>,
    pub checks: Box<dyn CheckRunner>,
    /// One per wait-until gate (`Plan::before_retire`), in plan order.
    pub waits: Vec<Box<dyn MetricSource>>,
    /// The migration's drain gate, measured per task.
    pub task_gate: Option<Box<dyn TaskMetric>>,
}

/// A request to stop, e.g. the CI job being cancelled. Until promotion, the
/// runner answers it by putting traffic back on the stable version; it never
/// interrupts a provider call half-way.
#[derive(Clone)]
pub struct Cancellation {
    requested: tokio::sync::watch::Receiver<Option<String>>,
    /// How long each of the rollback's router writes may take once cancelled.
    budget: std::time::Duration,
}

impl Cancellation {
    /// A cancellation with the default budget ([`CANCEL_BUDGET`]) and the
    /// handle that triggers it with a reason.
    pub fn new() -> (tokio::sync::watch::Sender<Option<String>>, Self) {
        let (sender, receiver) = tokio::sync::watch::channel(None);
        (
            sender,
            Self {
                requested: receiver,
                budget: CANCEL_BUDGET,
            },
        )
    }

    /// The same cancellation with `budget` for each of the rollback's writes.
    pub fn with_budget(self, budget: std::time::Duration) -> Self {
        Self { budget, ..self }
    }

    fn reason(&self) -> Option<String> {
        self.requested.borrow().clone()
    }

    /// Resolves once cancelled (never, if the sender is gone without cancelling).
    async fn cancelled(&mut self) {
        if self.requested.wait_for(Option::is_some).await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// Where progress is written down (the state record), and under whose name.
pub struct Journal<'a> {
    pub store: &'a dyn StateStore,
    pub holder: String,
    /// The pool the stable version runs in, for specs with fixed pools.
    pub stable_pool: Option<crate::pool::Pool>,
    /// The pools' names in this release (`pool.stable`, `pool.new`).
    pub pool_names: Option<crate::pool::Sides>,
    /// Where an interrupted rollout picks up, instead of starting afresh.
    pub resume: Option<Resume>,
    /// The weight the record had verified before this run (0 for a fresh one).
    pub verified: Weight,
}

pub async fn run(
    engine: &Engine,
    providers: &Providers,
    clock: &dyn Clock,
    reporters: &mut [Box<dyn Reporter>],
    journal: Option<&Journal<'_>>,
    cancellation: Option<Cancellation>,
) -> Report {
    let mut cancellation = cancellation;
    let mut cancel_sent = false;
    let mut state = State::new();
    let mut input = journal
        .and_then(|journal| journal.resume.clone())
        .map_or(Input::Start, Input::Resume);
    // Recorded before deploying, not at the first weight: a second job must
    // see this rollout while it is still deploying.
    let mut saved_pending = None;
    // Where traffic was found after a rollback write ran out of budget.
    let mut left: Option<Weight> = None;
    if let Some(journal) = journal {
        save(journal, engine, &state, clock.now(), None, None).await;
    }
    let mut reported = 0;
    loop {
        let (next, action) = engine.step(state, clock.now(), input);
        state = next;
        let fresh = &state.timeline[reported..];
        for event in fresh {
            // Reporters answer at once: the console writes a line, and the
            // forge reports only queue the event for their background task
            // (report::live), so a slow forge never holds traffic back.
            for reporter in reporters.iter_mut() {
                reporter.event(event).await;
            }
        }
        let traffic_moved = fresh.iter().any(|event| {
            matches!(
                event.kind,
                EventKind::WeightSet { .. } | EventKind::RollbackCompleted { .. }
            )
        });
        reported = state.timeline.len();
        // Written before a change starts and again once it is verified, so a
        // crash in between is recognised by the next run (`crate::resume`).
        let pending = pending(engine, &state, &action);
        if let Some(journal) = journal
            && (traffic_moved || matches!(action, Action::Finish(_)) || pending != saved_pending)
        {
            save(journal, engine, &state, clock.now(), pending.clone(), left).await;
            saved_pending = pending;
        }
        if !cancel_sent
            && state.can_cancel()
            && let Some(reason) = cancellation.as_ref().and_then(Cancellation::reason)
        {
            cancel_sent = true;
            input = Input::Cancelled { reason };
            continue;
        }
        // Until promotion, a cancellation cuts the call in flight short (a hung
        // metric query, a slow deploy): traffic goes back to stable at once.
        let can_cancel = state.can_cancel();
        let cut = |call| cut_short(call, cancellation.clone(), can_cancel);
        let cut_input = match &action {
            Action::Deploy { version } => Some(
                cut(Box::pin(async {
                    Input::Deployed(providers.target.deploy(version).await)
                }))
                .await,
            ),
            Action::RunChecks { stage, step } => Some(
                cut(Box::pin(async {
                    Input::Checked(providers.checks.run(*stage, *step).await)
                }))
                .await,
            ),
            Action::SetWeight(weight) if cancel_sent => {
                let budget = cancellation
                    .as_ref()
                    .map_or(CANCEL_BUDGET, |cancellation| cancellation.budget);
                let (input, where_left) =
                    rollback_write(providers.router.as_ref(), *weight, clock, budget).await;
                left = left.or(where_left);
                Some(Some(input))
            }
            Action::SetWeight(weight) => Some(
                cut(Box::pin(async {
                    Input::WeightApplied(providers.router.apply(*weight).await)
                }))
                .await,
            ),
            Action::Launch { version } => Some(
                cut(Box::pin(async {
                    Input::Deployed(providers.target.launch(version).await)
                }))
                .await,
            ),
            Action::Measure => Some(
                cut(Box::pin(async {
                    Input::Measured(
                        join_all(providers.metrics.iter().map(|metric| metric.measure())).await,
                    )
                }))
                .await,
            ),
            _ => None,
        };
        if let Some(done) = cut_input {
            input = match done {
                Some(input) => input,
                None => {
                    cancel_sent = true;
                    Input::Cancelled {
                        reason: cancellation
                            .as_ref()
                            .and_then(Cancellation::reason)
                            .unwrap_or_else(|| "the rollout was cancelled".to_owned()),
                    }
                }
            };
            continue;
        }
        input = match action {
            Action::Deploy { .. }
            | Action::Launch { .. }
            | Action::RunChecks { .. }
            | Action::SetWeight(_)
            // Handled above (they may be cut short); never reached.
            | Action::Measure => Input::Woke,
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
            Action::ListTasks { version } => Input::Tasks(providers.target.tasks(&version).await),
            Action::RouteTasks { keep } => Input::Routed(providers.router.route_tasks(&keep).await),
            Action::MeasureTask(task) => Input::TaskMeasured(match &providers.task_gate {
                Some(gate) => gate.measure(&task).await,
                None => Err(ProviderError::new(
                    "internal error: no source for the migration's drain gate",
                )),
            }),
            Action::KillTasks { version, ids } => {
                Input::Killed(providers.target.kill_tasks(&version, &ids).await)
            }
            Action::Restore { version } => Input::Restored(providers.target.restore(&version).await),
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

/// How long the rollback's own router write may take once the job is
/// cancelled: well inside the ~10 s a CI runner waits before SIGKILL.
pub const CANCEL_BUDGET: std::time::Duration = std::time::Duration::from_secs(5);

type Call<'a> = std::pin::Pin<Box<dyn std::future::Future<Output = Input> + Send + 'a>>;

/// Runs `call`, unless a cancellation arrives first while the rollout can
/// still be cancelled: then the call is dropped (a command it runs is killed)
/// and `None` says so.
async fn cut_short(
    call: Call<'_>,
    cancellation: Option<Cancellation>,
    can_cancel: bool,
) -> Option<Input> {
    match cancellation.filter(|_| can_cancel) {
        Some(mut cancellation) => tokio::select! {
            input = call => Some(input),
            () = cancellation.cancelled() => None,
        },
        None => Some(call.await),
    }
}

/// The rollback's router write after a cancellation, with its own `budget`
/// on `clock`. If it runs out, the router is read once more (within the same
/// budget again) so the record and the error say exactly where traffic was
/// left; that share is returned too.
async fn rollback_write(
    router: &dyn Router,
    weight: Weight,
    clock: &dyn Clock,
    budget: std::time::Duration,
) -> (Input, Option<Weight>) {
    let within = |call| async move {
        let deadline = clock.now() + budget;
        // An answer that is ready at the deadline still counts.
        tokio::select! {
            biased;
            result = call => Some(result),
            () = clock.sleep_until(deadline) => None,
        }
    };
    if let Some(read_back) = within(router.apply(weight)).await {
        return (Input::WeightApplied(read_back), None);
    }
    let (left, where_left) = match within(router.weight()).await {
        Some(Ok(live)) => (
            Some(live),
            format!("it reads {live} on the new version now"),
        ),
        Some(Err(error)) => (None, format!("reading it back failed too: {error}")),
        None => (
            None,
            "reading it back did not finish either, so where traffic is is unknown".to_owned(),
        ),
    };
    let error = ProviderError::new(format!(
        "{}: setting {weight} did not finish within the cancel budget of {}; {where_left}",
        router.describe(),
        humantime::format_duration(budget)
    ));
    (Input::WeightApplied(Err(error)), left)
}

/// The change `action` starts, as the record must show it while it runs.
fn pending(engine: &Engine, state: &State, action: &Action) -> Option<Pending> {
    // Once a rollback starts, everything until the end belongs to it; one that
    // ends unverified stays pending for the next run to finish.
    let rollback = state.timeline.iter().find_map(|event| match &event.kind {
        EventKind::RollbackStarted { reason, .. } => Some(reason.clone()),
        _ => None,
    });
    let verified = state
        .timeline
        .iter()
        .any(|event| matches!(event.kind, EventKind::RollbackCompleted { .. }));
    // A migration that stopped with old tasks left is resumed from them.
    if let Some(left) = state.migration_left() {
        return Some(Pending::Migration { left });
    }
    if matches!(action, Action::Finish(_)) {
        return rollback
            .filter(|_| !verified)
            .map(|reason| Pending::RollBack { reason });
    }
    if let Some(reason) = rollback {
        return Some(Pending::RollBack { reason });
    }
    if state
        .timeline
        .iter()
        .any(|event| matches!(event.kind, EventKind::Promoted { .. }))
    {
        return Some(Pending::Retire {
            version: engine.stable_version.clone(),
        });
    }
    match action {
        Action::SetWeight(weight) => Some(Pending::Weight {
            weight: weight.percent(),
        }),
        _ => None,
    }
}

/// Records where the rollout stands; a failure to save is a warning, not a
/// reason to stop moving traffic safely.
async fn save(
    journal: &Journal<'_>,
    engine: &Engine,
    state: &State,
    now: SystemTime,
    pending: Option<Pending>,
    left: Option<Weight>,
) {
    let verified = state
        .timeline
        .iter()
        .rev()
        .find_map(|event| match event.kind {
            EventKind::WeightSet { weight, .. } => Some(weight),
            EventKind::RollbackCompleted { weight } => Some(weight),
            _ => None,
        })
        .unwrap_or(journal.verified);
    let weight = left.unwrap_or(verified);
    let phase = match (engine.plan.mode, state.outcome) {
        (_, None) => RecordPhase::InProgress,
        // The earlier release now serves everything: it is the stable one.
        (Mode::Return, Some(Outcome::RolledBack)) => RecordPhase::Promoted,
        (Mode::Abort, Some(Outcome::RolledBack)) => RecordPhase::Aborted,
        (_, Some(Outcome::Promoted)) => RecordPhase::Promoted,
        (_, Some(Outcome::RolledBack)) => RecordPhase::RolledBack,
        (_, Some(Outcome::Halted)) => RecordPhase::Halted,
        (_, Some(Outcome::Failed | Outcome::Planned)) => RecordPhase::Failed,
    };
    let record = Record::of(
        &engine.release(),
        phase,
        weight.percent(),
        Some(journal.holder.clone()),
        now,
    )
    .in_pools(journal.stable_pool, journal.pool_names.as_ref());
    // Why it did not promote, in full (where a failed rollback left traffic).
    let reason = state
        .reason
        .clone()
        .filter(|_| !matches!(state.outcome, None | Some(Outcome::Promoted)));
    let record = Record {
        pending,
        reason,
        ..record
    };
    save_or_warn(journal.store, &record).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_trait::async_trait;

    /// A router whose writes never finish (a hung API server).
    struct Hung;

    #[async_trait]
    impl Router for Hung {
        fn describe(&self) -> String {
            "a hung router".into()
        }
        fn plan(&self, _: Weight) -> Vec<String> {
            Vec::new()
        }
        async fn weight(&self) -> Result<Weight, ProviderError> {
            std::future::pending().await
        }
        async fn set_weight(&self, _: Weight) -> Result<(), ProviderError> {
            std::future::pending().await
        }
    }

    /// A router whose writes never finish but whose reads answer.
    struct StuckAt(Weight);

    #[async_trait]
    impl Router for StuckAt {
        fn describe(&self) -> String {
            "a stuck router".into()
        }
        fn plan(&self, _: Weight) -> Vec<String> {
            Vec::new()
        }
        async fn weight(&self) -> Result<Weight, ProviderError> {
            Ok(self.0)
        }
        async fn set_weight(&self, _: Weight) -> Result<(), ProviderError> {
            std::future::pending().await
        }
    }

    #[tokio::test]
    async fn the_rollbacks_write_after_a_cancel_gives_up_at_its_budget_on_the_clock() {
        let start = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_800_000_000);
        let clock = crate::clock::ManualClock::starting_at(start);
        let budget = std::time::Duration::from_secs(3);
        let (Input::WeightApplied(Err(error)), left) =
            rollback_write(&Hung, Weight::ZERO, &clock, budget).await
        else {
            panic!("a hung write is an error");
        };
        // The write's budget, then the read-back's.
        assert_eq!(clock.now(), start + budget * 2);
        assert_eq!(left, None);
        assert!(
            error
                .message
                .contains("did not finish within the cancel budget of 3s; reading it back did not finish either"),
            "{}",
            error.message
        );

        let sixty = Weight::new(60).unwrap();
        let (Input::WeightApplied(Err(error)), left) =
            rollback_write(&StuckAt(sixty), Weight::ZERO, &clock, budget).await
        else {
            panic!("a hung write is an error");
        };
        assert_eq!(left, Some(sixty));
        assert!(
            error
                .message
                .contains("it reads 60% on the new version now"),
            "{}",
            error.message
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_cancellation_cuts_a_call_short_only_while_it_can_cancel() {
        let (cancel, cancellation) = Cancellation::new();
        let _ = cancel.send(Some("SIGINT".into()));
        let hung = || -> Call<'static> { Box::pin(std::future::pending()) };
        assert_eq!(
            cut_short(hung(), Some(cancellation.clone()), true).await,
            None
        );
        let quick: Call<'static> = Box::pin(async { Input::Woke });
        assert_eq!(
            cut_short(quick, Some(cancellation), false).await,
            Some(Input::Woke)
        );
    }
}
