//! `(state, input, now) -> (state, action)`: the whole rollout as one pure step
//! function, so every strategy and failure path is tested in milliseconds.

use std::time::{Duration, SystemTime};

use crate::judge::Verdict;
use crate::metrics::Measurement;
use crate::provider::ProviderError;
use crate::spec::types::NoDataPolicy;
use crate::traffic::{Side, Weight};

use super::analysis::{Decision, Tally, judge};
use super::checkpoint::Checkpoint;
use super::event::{CheckRecord, Event, EventKind, Outcome, StepNumber};
use super::plan::{CheckStage, Plan};
use super::retirement::{Retirement, Stage};

/// What the runner must do next.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    Deploy {
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

/// What happened since the last action.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    Start,
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
}

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Phase {
    Idle,
    Deploying,
    Checking(Checkpoint),
    Shifting { step: usize },
    Holding(Hold),
    Measuring(Hold),
    Promoting,
    WaitingToRetire { until: SystemTime },
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
    pub fn new() -> Self {
        Self {
            phase: Phase::Idle,
            timeline: Vec::new(),
            reason: None,
            outcome: None,
            tallies: Vec::new(),
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
            (Phase::Idle, Input::Start) => {
                emit(
                    state,
                    EventKind::Started {
                        name: self.name.clone(),
                        stable_version: self.stable_version.clone(),
                        new_version: self.new_version.clone(),
                    },
                );
                state.tallies = vec![Tally::default(); self.gate_count()];
                self.checkpoint(state, now, Checkpoint::PreRollout)
            }
            (Phase::Deploying, Input::Deployed(Ok(()))) => {
                emit(
                    state,
                    EventKind::Deployed {
                        version: self.new_version.clone(),
                    },
                );
                self.checkpoint(state, now, Checkpoint::BeforeTraffic)
            }
            (Phase::Deploying, Input::Deployed(Err(error))) => {
                emit(
                    state,
                    EventKind::DeployFailed {
                        version: self.new_version.clone(),
                        error: error.to_string(),
                    },
                );
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
                match retirement.cause {
                    Some(cause) => self.finish(state, now, cause.outcome, cause.reason),
                    None => self.finish(
                        state,
                        now,
                        Outcome::Promoted,
                        format!("{} passed every gate", self.new_version),
                    ),
                }
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
        for (index, (gate, measured)) in analysis.gates.iter().zip(&results).enumerate() {
            let judged = judge(analysis, gate, &mut state.tallies[index], measured);
            if judged.is_sample {
                hold.samples[index] += 1;
            }
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
        self.keep_holding(state, now, hold)
    }

    pub(super) fn complete_step(&self, state: &mut State, now: SystemTime, hold: Hold) -> Action {
        let step = &self.plan.steps[hold.step];
        if let Some(analysis) = self.plan.analysis.as_ref().filter(|_| step.analyse) {
            for (gate, samples) in analysis.gates.iter().zip(&hold.samples) {
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
        state.timeline.push(Event {
            at: now,
            kind: EventKind::RollbackStarted {
                reason: reason.clone(),
            },
        });
        state.phase = Phase::RollingBack(Cause { outcome, reason });
        Action::SetWeight(Weight::ZERO)
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
