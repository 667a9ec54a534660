//! `(state, input, now) -> (state, action)`: the whole rollout as one pure step
//! function, so every strategy and failure path is tested in milliseconds.

use std::time::{Duration, SystemTime};

use crate::judge::evidence::{BlastRadius, Evidence};
use crate::judge::{Call, Verdict};
use crate::metrics::Measurement;
use crate::provider::ProviderError;
use crate::spec::types::{InconclusivePolicy, NoDataPolicy};
use crate::traffic::{Side, Task, Weight};

use super::analysis::{Decision, Tally, judge};
use super::checkpoint::Checkpoint;
use super::event::{CheckRecord, Event, EventKind, Outcome, StepNumber};
use super::migration::Migration;
use super::plan::{CheckStage, Counted, Mode, Plan};
use super::retirement::{Retirement, Stage};

/// What the runner must do next.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    Deploy {
        version: String,
    },
    /// Deploy for a migration: start `version` with no instance, then scale it
    /// to its definition's count and wait until every task is healthy.
    Launch {
        version: String,
    },
    /// List the running tasks of `version`.
    ListTasks {
        version: String,
    },
    /// Put the new version in the load balancer beside the old version's tasks
    /// `keep` (by id); the old version's other tasks leave it. Read back.
    RouteTasks {
        keep: Vec<String>,
    },
    /// Measure the migration's drain gate for one task.
    MeasureTask(Task),
    /// Kill these tasks of `version` and scale it down by as many.
    KillTasks {
        version: String,
        ids: Vec<String>,
    },
    /// Bring `version` back to its definition's task count (a migration's
    /// rollback, before traffic returns to it) and wait until they are ready.
    Restore {
        version: String,
    },
    /// Run the checks of a stage and report each result.
    RunChecks {
        stage: CheckStage,
        /// The step they follow, for after-step checks.
        step: Option<StepNumber>,
    },
    /// Set the weight, then read it back and report what the router says.
    SetWeight(Weight),
    /// Measure every gate, in plan order.
    Measure,
    SleepUntil(SystemTime),
    /// Take a version's servers out of rotation and count their open sessions.
    Drain(Side),
    /// Measure the wait-until gate with this index in `Plan::before_retire`.
    MeasureWait(usize),
    Retire {
        version: String,
    },
    Finish(Outcome),
}

/// Where a rollout interrupted by a crash picks up again (the runner decides
/// it from the state record and the router before the run starts).
#[derive(Debug, Clone, PartialEq)]
pub enum Resume {
    /// Re-apply the verified weight of this step (0-based) and hold it again:
    /// no step above it is repeated, nor the checks before traffic.
    Step(usize),
    /// Finish a rollback that had started: traffic to stable, remove the new version.
    RollBack { reason: String },
    /// Every gate had passed and 100% was verified: retire the old version.
    Retire,
    /// The migration was under way: list the old version's tasks that are
    /// left and go on with them (the new version is up and in the balancer).
    Migrate,
}

/// What happened since the last action.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    Start,
    /// Instead of `Start`: continue an interrupted rollout.
    Resume(Resume),
    Deployed(Result<(), ProviderError>),
    Checked(Vec<CheckResult>),
    /// The weight read back after setting it.
    WeightApplied(Result<Weight, ProviderError>),
    Measured(Vec<Result<Measurement, ProviderError>>),
    Woke,
    /// Sessions still open after draining; `None` when the router has none to wait for.
    Drained(Result<Option<u64>, ProviderError>),
    WaitMeasured(Result<Measurement, ProviderError>),
    Retired(Result<(), ProviderError>),
    Tasks(Result<Vec<Task>, ProviderError>),
    Routed(Result<(), ProviderError>),
    TaskMeasured(Result<Measurement, ProviderError>),
    Killed(Result<(), ProviderError>),
    Restored(Result<(), ProviderError>),
    /// The job is being cancelled (a signal); sent instead of the pending action.
    Cancelled {
        reason: String,
    },
}

/// How one smoke check or hook ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckResult {
    pub kind: CheckKind,
    pub check: String,
    pub passed: bool,
    pub detail: String,
    pub attempts: u32,
    pub elapsed: Duration,
    pub output: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckKind {
    Smoke,
    Hook,
}

#[derive(Debug, Clone, PartialEq)]
pub struct State {
    pub(super) phase: Phase,
    pub timeline: Vec<Event>,
    /// Why the rollout ended, once it has.
    pub reason: Option<String>,
    pub outcome: Option<Outcome>,
    pub(super) tallies: Vec<Tally>,
    /// A migration has killed some of the old version's tasks (in this run or
    /// the one it resumes): a rollback would send users to a shrunken version.
    pub(super) old_tasks_killed: bool,
    /// While a migration has old tasks to take out (also once it halted
    /// there): their ids, for the state record.
    pub(super) migration_left: Option<Vec<String>>,
}

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Phase {
    Idle,
    Deploying,
    Checking(Checkpoint),
    Shifting {
        step: usize,
    },
    Holding(Hold),
    Measuring(Hold),
    Migrating(Migration),
    Promoting,
    WaitingToRetire {
        until: SystemTime,
    },
    /// A migration's rollback scales the old version back up first.
    Restoring(Cause),
    RollingBack(Cause),
    Retiring(Retirement),
    Done,
}

impl Phase {
    fn cancellable(&self) -> bool {
        match self {
            Phase::Deploying
            | Phase::Shifting { .. }
            | Phase::Holding(_)
            | Phase::Measuring(_)
            // A migration halts (`migration.rs`): a re-run goes on from the tasks left.
            | Phase::Migrating(_)
            | Phase::Promoting => true,
            Phase::Checking(checkpoint) => !matches!(
                checkpoint,
                Checkpoint::PostRollout | Checkpoint::OnRollback(_)
            ),
            _ => false,
        }
    }
}

/// A step whose weight is verified and whose clock is running.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Hold {
    pub(super) step: usize,
    pub(super) since: SystemTime,
    /// Measurements taken so far in this step.
    pub(super) rounds: u32,
    /// Per gate: measurements with data in this step.
    pub(super) samples: Vec<u32>,
}

/// Why traffic is going back to stable, and how the rollout will end.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Cause {
    pub(super) outcome: Outcome,
    pub(super) reason: String,
}

impl State {
    /// The old version's tasks still running while a migration is under way,
    /// for the state record; `None` outside one.
    pub fn migration_left(&self) -> Option<Vec<String>> {
        self.migration_left.clone()
    }

    pub fn new() -> Self {
        Self {
            phase: Phase::Idle,
            timeline: Vec::new(),
            reason: None,
            outcome: None,
            tallies: Vec::new(),
            old_tasks_killed: false,
            migration_left: None,
        }
    }

    /// Whether cancelling now should put traffic back: true until promotion,
    /// false while unwinding or once promoted.
    pub fn can_cancel(&self) -> bool {
        self.phase.cancellable()
    }
}

impl Default for State {
    fn default() -> Self {
        Self::new()
    }
}

/// The rules of one rollout: its plan and the two versions.
#[derive(Debug, Clone)]
pub struct Engine {
    pub plan: Plan,
    pub name: String,
    pub stable_version: String,
    pub new_version: String,
}

impl Engine {
    /// The service and the two versions this rollout moves between.
    pub fn release(&self) -> crate::release::Release {
        crate::release::Release {
            name: self.name.clone(),
            stable_version: self.stable_version.clone(),
            new_version: self.new_version.clone(),
        }
    }

    pub fn step(&self, mut state: State, now: SystemTime, input: Input) -> (State, Action) {
        let phase = std::mem::replace(&mut state.phase, Phase::Done);
        let action = self.advance(&mut state, phase, now, input);
        (state, action)
    }

    pub(super) fn advance(
        &self,
        state: &mut State,
        phase: Phase,
        now: SystemTime,
        input: Input,
    ) -> Action {
        let emit = |state: &mut State, kind| state.timeline.push(Event { at: now, kind });
        match (phase, input) {
            (Phase::Idle, Input::Start) if self.plan.mode.by_hand() => {
                self.start_by_hand(state, now)
            }
            (Phase::Idle, Input::Start) => {
                self.start(state, now);
                self.checkpoint(state, now, Checkpoint::PreRollout)
            }
            (Phase::Idle, Input::Resume(point)) => {
                self.start(state, now);
                let from = match &point {
                    Resume::Step(step) => format!(
                        "step {} ({})",
                        step + 1,
                        self.plan
                            .steps
                            .get(*step)
                            .map_or(Weight::ZERO, |s| s.weight)
                    ),
                    Resume::RollBack { .. } => "its rollback".to_owned(),
                    Resume::Retire => "the removal of the old version".to_owned(),
                    Resume::Migrate => "the migration of the old version's tasks".to_owned(),
                };
                emit(
                    state,
                    EventKind::Warning {
                        message: format!(
                            "resumed an interrupted rollout at {from}; earlier steps and checks are not repeated"
                        ),
                    },
                );
                match point {
                    Resume::Step(step) => self.begin_step(state, now, step),
                    Resume::RollBack { reason } => {
                        self.roll_back(state, now, Outcome::RolledBack, reason)
                    }
                    Resume::Retire => self.promoted(state, now),
                    Resume::Migrate => {
                        state.old_tasks_killed = true;
                        self.begin_migration(state, now)
                    }
                }
            }
            (Phase::Deploying, Input::Deployed(Ok(()))) => {
                emit(
                    state,
                    EventKind::Deployed {
                        version: self.new_version.clone(),
                    },
                );
                if self.plan.mode == Mode::Return {
                    self.promote(state, now)
                } else {
                    self.checkpoint(state, now, Checkpoint::BeforeTraffic)
                }
            }
            (Phase::Deploying, Input::Deployed(Err(error))) if self.plan.mode.by_hand() => self
                .fail(
                    state,
                    now,
                    format!("deploying {}: {error}", self.new_version),
                ),
            (Phase::Deploying, Input::Deployed(Err(error))) => {
                emit(
                    state,
                    EventKind::DeployFailed {
                        version: self.new_version.clone(),
                        error: error.to_string(),
                    },
                );
                if error.halt {
                    return self.halt(
                        state,
                        now,
                        format!("the new version did not finish deploying: {error}"),
                    );
                }
                self.roll_back(
                    state,
                    now,
                    Outcome::RolledBack,
                    format!("the new version did not deploy: {error}"),
                )
            }
            (Phase::Checking(checkpoint), Input::Checked(results)) => {
                for result in results.iter() {
                    let record = CheckRecord {
                        stage: checkpoint.stage(),
                        step: checkpoint.step(),
                        check: result.check.clone(),
                        verdict: if result.passed {
                            Verdict::Pass
                        } else {
                            Verdict::Fail
                        },
                        detail: result.detail.clone(),
                        attempts: result.attempts,
                        elapsed_ms: result.elapsed.as_millis().try_into().unwrap_or(u64::MAX),
                        output: result.output.clone(),
                    };
                    emit(
                        state,
                        match result.kind {
                            CheckKind::Smoke => EventKind::Smoke(record),
                            CheckKind::Hook => EventKind::Hook(record),
                        },
                    );
                }
                let failure = results.iter().find(|result| !result.passed).map(|failed| {
                    let what = match failed.kind {
                        CheckKind::Smoke => "smoke check".to_owned(),
                        CheckKind::Hook => format!("{} hook", checkpoint.stage().as_str()),
                    };
                    format!("{what} `{}` failed: {}", failed.check, failed.detail)
                });
                self.after_checks(state, now, checkpoint, failure)
            }
            (Phase::Shifting { step }, Input::WeightApplied(read_back)) => {
                let wanted = self.plan.steps[step].weight;
                match verify(wanted, read_back) {
                    Ok(()) => {
                        emit(
                            state,
                            EventKind::WeightSet {
                                weight: wanted,
                                step: Some(step + 1),
                            },
                        );
                        let hold = Hold {
                            step,
                            since: now,
                            rounds: 0,
                            samples: vec![0; self.gate_count()],
                        };
                        self.keep_holding(state, now, hold)
                    }
                    Err(problem) => self.roll_back(state, now, Outcome::Failed, problem),
                }
            }
            (Phase::Holding(hold), Input::Woke) => self.keep_holding(state, now, hold),
            (Phase::Migrating(migration), input) => self.migrate(state, now, migration, input),
            (Phase::Measuring(hold), Input::Measured(results)) => {
                self.record_measurements(state, now, hold, results)
            }
            (Phase::Promoting, Input::WeightApplied(read_back)) => {
                match verify(Weight::FULL, read_back) {
                    Ok(()) => {
                        emit(
                            state,
                            EventKind::WeightSet {
                                weight: Weight::FULL,
                                step: None,
                            },
                        );
                        self.promoted(state, now)
                    }
                    // Asked for by hand, a change that did not happen is a failure.
                    Err(problem) if self.plan.mode.by_hand() => self.fail(state, now, problem),
                    Err(problem) => self.halt(
                        state,
                        now,
                        format!("every gate passed but the final switch to 100% failed: {problem}"),
                    ),
                }
            }
            (Phase::WaitingToRetire { until }, Input::Woke) => {
                if now >= until {
                    self.retire(state, now, Side::Stable, None)
                } else {
                    state.phase = Phase::WaitingToRetire { until };
                    Action::SleepUntil(until)
                }
            }
            (Phase::Retiring(retirement), Input::Drained(result))
                if retirement.stage == Stage::Draining =>
            {
                self.drained(state, now, retirement, result)
            }
            (Phase::Retiring(retirement), Input::WaitMeasured(result))
                if matches!(retirement.stage, Stage::Waiting(_)) =>
            {
                self.wait_measured(state, now, retirement, result)
            }
            (Phase::Retiring(retirement), Input::Woke) if retirement.stage != Stage::Removing => {
                let action = self.look(&retirement);
                state.phase = Phase::Retiring(retirement);
                action
            }
            (Phase::Retiring(retirement), Input::Retired(result))
                if retirement.stage == Stage::Removing =>
            {
                let version = self.version_of(retirement.side).to_owned();
                self.record_retired(state, now, &version, result);
                let (outcome, reason) = self.ending(retirement.cause);
                self.finish(state, now, outcome, reason)
            }
            (Phase::Restoring(cause), Input::Restored(Ok(()))) => {
                state.phase = Phase::RollingBack(cause);
                Action::SetWeight(Weight::ZERO)
            }
            (Phase::Restoring(cause), Input::Restored(Err(error))) => {
                let reason = format!(
                    "{}; then {} could not be brought back to its task count: {error}. Traffic was not moved: scale {1} up and run `greenlight rollback` again",
                    cause.reason, self.stable_version
                );
                self.halt(state, now, reason)
            }
            (Phase::RollingBack(cause), Input::WeightApplied(read_back)) => {
                match verify(Weight::ZERO, read_back) {
                    Ok(()) => {
                        emit(
                            state,
                            EventKind::RollbackCompleted {
                                weight: Weight::ZERO,
                            },
                        );
                        self.checkpoint(state, now, Checkpoint::OnRollback(cause))
                    }
                    Err(problem) => {
                        let error = format!(
                            "{}; then the rollback could not be verified: {problem}. Traffic may still reach {}: run `greenlight rollback` or fix the router by hand",
                            cause.reason, self.new_version
                        );
                        emit(
                            state,
                            EventKind::Failed {
                                error: error.clone(),
                            },
                        );
                        self.finish(state, now, Outcome::Failed, error)
                    }
                }
            }
            (Phase::Done, _) => Action::Finish(state.outcome.unwrap_or(Outcome::Failed)),
            (phase, Input::Cancelled { reason }) if phase.cancellable() => {
                self.roll_back(state, now, Outcome::RolledBack, reason)
            }
            (phase, input) => {
                // Only the runner calls this; reaching here is a bug in it, so
                // stop safely rather than guess.
                let error = format!("internal error: unexpected {input:?} while {phase:?}");
                emit(
                    state,
                    EventKind::Failed {
                        error: error.clone(),
                    },
                );
                self.finish(state, now, Outcome::Failed, error)
            }
        }
    }

    /// The first event of every run, fresh or resumed.
    fn start(&self, state: &mut State, now: SystemTime) {
        state.timeline.push(Event {
            at: now,
            kind: EventKind::Started {
                name: self.name.clone(),
                stable_version: self.stable_version.clone(),
                new_version: self.new_version.clone(),
            },
        });
        state.tallies = vec![Tally::default(); self.gate_count()];
    }

    /// The first action of a manual command's plan.
    fn start_by_hand(&self, state: &mut State, now: SystemTime) -> Action {
        match self.plan.mode {
            Mode::Promote => self.promote(state, now),
            Mode::Return => self.deploy(state),
            Mode::RollBack => self.roll_back(
                state,
                now,
                Outcome::RolledBack,
                "rolled back by hand".to_owned(),
            ),
            Mode::Abort => self.roll_back(
                state,
                now,
                Outcome::RolledBack,
                "aborted by hand".to_owned(),
            ),
            Mode::Rollout => self.fail(
                state,
                now,
                "internal error: a rollout started as a manual command".to_owned(),
            ),
        }
    }

    /// Deploys the new version: a migration launches it from no instance.
    pub(super) fn deploy(&self, state: &mut State) -> Action {
        state.phase = Phase::Deploying;
        let version = self.new_version.clone();
        if self.plan.migration.is_some() && self.plan.mode == Mode::Rollout {
            Action::Launch { version }
        } else {
            Action::Deploy { version }
        }
    }

    /// How the plan ends once the version it removes is gone: after a
    /// rollback (`cause`) with its outcome, else as its mode promised.
    pub(super) fn ending(&self, cause: Option<Cause>) -> (Outcome, String) {
        let (stable, new) = (&self.stable_version, &self.new_version);
        match (self.plan.mode, cause) {
            (Mode::RollBack, Some(cause)) => (
                cause.outcome,
                format!(
                    "{}: all traffic is on {stable}; {new} removed",
                    cause.reason
                ),
            ),
            (Mode::Abort, Some(cause)) => (
                cause.outcome,
                format!(
                    "{}: all traffic is on {stable}; {new} is left running",
                    cause.reason
                ),
            ),
            (_, Some(cause)) => (cause.outcome, cause.reason),
            (Mode::Promote, None) => (
                Outcome::Promoted,
                format!("{new} promoted by hand; {stable} retired"),
            ),
            (Mode::Return, None) => (
                Outcome::RolledBack,
                format!("rolled back by hand from {stable} to {new}"),
            ),
            (Mode::Rollout | Mode::RollBack | Mode::Abort, None) => {
                (Outcome::Promoted, format!("{new} passed every gate"))
            }
        }
    }

    pub(super) fn gate_count(&self) -> usize {
        self.plan
            .analysis
            .as_ref()
            .map_or(0, |analysis| analysis.gates.len())
    }

    pub(super) fn begin_step(&self, state: &mut State, now: SystemTime, step: usize) -> Action {
        match self.plan.steps.get(step) {
            Some(next) => {
                state.phase = Phase::Shifting { step };
                Action::SetWeight(next.weight)
            }
            None => self.checkpoint(state, now, Checkpoint::BeforePromotion),
        }
    }

    pub(super) fn promote(&self, state: &mut State, now: SystemTime) -> Action {
        // The last step may already have sent everything to the new version.
        if self
            .plan
            .steps
            .last()
            .is_some_and(|last| last.weight == Weight::FULL)
        {
            self.promoted(state, now)
        } else {
            state.phase = Phase::Promoting;
            Action::SetWeight(Weight::FULL)
        }
    }

    /// When the step's next measurement is due; `None` once none is left.
    pub(super) fn next_measurement(&self, hold: &Hold) -> Option<SystemTime> {
        let step = &self.plan.steps[hold.step];
        let analysis = self.plan.analysis.as_ref().filter(|_| step.analyse)?;
        let elapsed_at_last = analysis.interval * hold.rounds;
        if hold.rounds > 0 && elapsed_at_last >= step.hold {
            return None;
        }
        Some(hold.since + (analysis.interval * (hold.rounds + 1)).min(step.hold))
    }

    pub(super) fn keep_holding(&self, state: &mut State, now: SystemTime, hold: Hold) -> Action {
        let step = &self.plan.steps[hold.step];
        let ends = hold.since + step.hold;
        match self.next_measurement(&hold) {
            Some(due) if now >= due => {
                state.phase = Phase::Measuring(hold);
                Action::Measure
            }
            Some(due) => {
                state.phase = Phase::Holding(hold);
                Action::SleepUntil(due)
            }
            None if now >= ends => self.complete_step(state, now, hold),
            None => {
                state.phase = Phase::Holding(hold);
                Action::SleepUntil(ends)
            }
        }
    }

    pub(super) fn record_measurements(
        &self,
        state: &mut State,
        now: SystemTime,
        mut hold: Hold,
        results: Vec<Result<Measurement, ProviderError>>,
    ) -> Action {
        let Some(analysis) = &self.plan.analysis else {
            return self.keep_holding(state, now, hold);
        };
        hold.rounds += 1;
        let mut roll_back = None;
        let mut halt = None;
        // A step can end early once every gate is a comparison that passed.
        let mut all_proven = !analysis.gates.is_empty();
        for (index, (gate, measured)) in analysis.gates.iter().zip(&results).enumerate() {
            let judged = judge(analysis, gate, &mut state.tallies[index], measured);
            if judged.is_sample {
                hold.samples[index] += 1;
            }
            all_proven &= gate.compare.is_some()
                && judged.verdict == Verdict::Pass
                && hold.samples[index] >= analysis.min_samples;
            state.timeline.push(Event {
                at: now,
                kind: EventKind::Gate {
                    step: hold.step + 1,
                    metric: gate.metric.clone(),
                    value: judged.value,
                    min: gate.threshold.min,
                    max: gate.threshold.max,
                    verdict: judged.verdict,
                    error: judged.error,
                    requests: judged.requests,
                    evidence: judged.evidence,
                },
            });
            match judged.decision {
                Decision::Continue => {}
                Decision::RollBack(reason) => roll_back = roll_back.or(Some(reason)),
                Decision::Halt(reason) => halt = halt.or(Some(reason)),
            }
        }
        if results.len() != analysis.gates.len() {
            let error = format!(
                "expected {} measurement(s), got {}",
                analysis.gates.len(),
                results.len()
            );
            return self.roll_back(state, now, Outcome::Failed, error);
        }
        // A failed gate outranks a halt: traffic goes back to safety first.
        if let Some(reason) = roll_back {
            return self.roll_back(state, now, Outcome::RolledBack, reason);
        }
        if let Some(reason) = halt {
            return self.halt(state, now, reason);
        }
        if all_proven {
            return self.complete_step(state, now, hold);
        }
        self.keep_holding(state, now, hold)
    }

    pub(super) fn complete_step(&self, state: &mut State, now: SystemTime, hold: Hold) -> Action {
        let step = &self.plan.steps[hold.step];
        if let Some(analysis) = self.plan.analysis.as_ref().filter(|_| step.analyse) {
            for (index, (gate, samples)) in analysis.gates.iter().zip(&hold.samples).enumerate() {
                if let Some(action) = self.undecided(state, now, &hold, index) {
                    return action;
                }
                if *samples >= analysis.min_samples || analysis.no_data == NoDataPolicy::Ignore {
                    continue;
                }
                state.timeline.push(Event {
                    at: now,
                    kind: EventKind::Gate {
                        step: hold.step + 1,
                        metric: gate.metric.clone(),
                        value: None,
                        min: gate.threshold.min,
                        max: gate.threshold.max,
                        verdict: Verdict::Inconclusive,
                        error: None,
                        requests: None,
                        evidence: None,
                    },
                });
                let reason = format!(
                    "too few samples: `{}` had {samples} measurement(s) with data in step {}, {} needed",
                    gate.metric,
                    hold.step + 1,
                    analysis.min_samples
                );
                return self.halt(state, now, reason);
            }
        }
        let held = now.duration_since(hold.since).unwrap_or(Duration::ZERO);
        self.checkpoint(
            state,
            now,
            Checkpoint::AfterStep {
                step: hold.step,
                held,
            },
        )
    }

    /// A comparison gate still undecided when its step ends, under its
    /// `inconclusive` policy: `None` to go on.
    fn undecided(
        &self,
        state: &mut State,
        now: SystemTime,
        hold: &Hold,
        index: usize,
    ) -> Option<Action> {
        let gate = self.plan.analysis.as_ref()?.gates.get(index)?;
        let compare = gate.compare?;
        let tally = state.tallies.get(index)?;
        let call = tally.comparison.as_ref().map(|test| test.call());
        if call == Some(Call::NotWorse) || compare.inconclusive == InconclusivePolicy::Continue {
            return None;
        }
        let evidence = tally.comparison.as_ref().map_or_else(
            || "no measurement with traffic".to_owned(),
            |test| Evidence::of(test, "rate").text,
        );
        let reason = format!(
            "`{}` was not shown within its margin by the end of step {}: {evidence}",
            gate.metric,
            hold.step + 1
        );
        Some(match compare.inconclusive {
            InconclusivePolicy::Fail => self.roll_back(state, now, Outcome::RolledBack, reason),
            _ => self.halt(state, now, format!("inconclusive: {reason}")),
        })
    }

    pub(super) fn promoted(&self, state: &mut State, now: SystemTime) -> Action {
        state.timeline.push(Event {
            at: now,
            kind: EventKind::Promoted {
                version: self.new_version.clone(),
            },
        });
        self.checkpoint(state, now, Checkpoint::PostRollout)
    }

    pub(super) fn scale_down(&self, state: &mut State, now: SystemTime) -> Action {
        if self.plan.scale_down_delay.is_zero() {
            self.retire(state, now, Side::Stable, None)
        } else {
            let until = now + self.plan.scale_down_delay;
            state.phase = Phase::WaitingToRetire { until };
            Action::SleepUntil(until)
        }
    }

    pub(super) fn roll_back(
        &self,
        state: &mut State,
        now: SystemTime,
        outcome: Outcome,
        reason: String,
    ) -> Action {
        if state.old_tasks_killed {
            return self.halt(
                state,
                now,
                format!(
                    "{reason}; the migration has already killed tasks of {}, so greenlight will not send traffic back to it on its own: `greenlight rollback` scales {0} back up first, then moves traffic back; or fix {} and run again",
                    self.stable_version, self.new_version
                ),
            );
        }
        let blast_radius = self.blast_radius(state);
        state.timeline.push(Event {
            at: now,
            kind: EventKind::RollbackStarted {
                reason: reason.clone(),
                blast_radius,
            },
        });
        let cause = Cause { outcome, reason };
        // Traffic returns to the old version only once it is whole again.
        if self.plan.migration.is_some() {
            state.phase = Phase::Restoring(cause);
            return Action::Restore {
                version: self.stable_version.clone(),
            };
        }
        state.phase = Phase::RollingBack(cause);
        Action::SetWeight(Weight::ZERO)
    }

    /// Ends with a failure that changes nothing more: what was asked could not be done.
    pub(super) fn fail(&self, state: &mut State, now: SystemTime, error: String) -> Action {
        state.timeline.push(Event {
            at: now,
            kind: EventKind::Failed {
                error: error.clone(),
            },
        });
        self.finish(state, now, Outcome::Failed, error)
    }

    /// The new version's requests and failures so far, as the first comparison
    /// gate on errors counted them.
    fn blast_radius(&self, state: &State) -> Option<BlastRadius> {
        let analysis = self.plan.analysis.as_ref()?;
        analysis
            .gates
            .iter()
            .zip(&state.tallies)
            .find_map(|(gate, tally)| {
                let counts_errors = gate
                    .compare
                    .is_some_and(|compare| compare.counts == Counted::Errors);
                let (new, _) = tally
                    .comparison
                    .as_ref()
                    .filter(|_| counts_errors)?
                    .totals();
                Some(BlastRadius {
                    requests: new.requests,
                    failed: new.events,
                })
            })
    }

    pub(super) fn halt(&self, state: &mut State, now: SystemTime, reason: String) -> Action {
        state.timeline.push(Event {
            at: now,
            kind: EventKind::Halted {
                reason: reason.clone(),
            },
        });
        self.finish(state, now, Outcome::Halted, reason)
    }

    pub(super) fn record_retired(
        &self,
        state: &mut State,
        now: SystemTime,
        version: &str,
        result: Result<(), ProviderError>,
    ) {
        let kind = match result {
            Ok(()) => EventKind::Retired {
                version: version.to_owned(),
            },
            Err(error) => EventKind::Warning {
                message: format!("could not remove {version}: {error}"),
            },
        };
        state.timeline.push(Event { at: now, kind });
    }

    pub(super) fn finish(
        &self,
        state: &mut State,
        _now: SystemTime,
        outcome: Outcome,
        reason: String,
    ) -> Action {
        state.phase = Phase::Done;
        state.outcome = Some(outcome);
        state.reason = Some(reason);
        Action::Finish(outcome)
    }
}

pub(super) fn millis(now: SystemTime, since: SystemTime) -> u64 {
    now.duration_since(since)
        .unwrap_or(Duration::ZERO)
        .as_millis()
        .try_into()
        .unwrap_or(u64::MAX)
}

/// A traffic change counts only once the router reads back what was asked.
pub fn verify(wanted: Weight, read_back: Result<Weight, ProviderError>) -> Result<(), String> {
    match read_back {
        Ok(actual) if actual == wanted => Ok(()),
        Ok(actual) => Err(format!(
            "the router reads back {actual} after setting {wanted}"
        )),
        Err(error) => Err(format!("setting {wanted} failed: {error}")),
    }
}
