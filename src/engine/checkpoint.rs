//! Points where smoke checks and hooks run, and where the rollout goes after
//! them: on, back to stable, halted, or on with a warning.

use std::time::{Duration, SystemTime};

use crate::traffic::Side;

use super::event::{Event, EventKind, Outcome, StepNumber};
use super::machine::{Action, Cause, Engine, Phase, State};
use super::plan::{CheckStage, Mode};

/// A point where checks run, and what comes after it.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Checkpoint {
    PreRollout,
    BeforeTraffic,
    AfterStep { step: usize, held: Duration },
    BeforePromotion,
    PostRollout,
    OnRollback(Cause),
}

impl Checkpoint {
    pub(super) fn stage(&self) -> CheckStage {
        match self {
            Checkpoint::PreRollout => CheckStage::PreRollout,
            Checkpoint::BeforeTraffic => CheckStage::BeforeTraffic,
            Checkpoint::AfterStep { .. } => CheckStage::AfterStep,
            Checkpoint::BeforePromotion => CheckStage::BeforePromotion,
            Checkpoint::PostRollout => CheckStage::PostRollout,
            Checkpoint::OnRollback(_) => CheckStage::OnRollback,
        }
    }

    pub(super) fn step(&self) -> Option<StepNumber> {
        match self {
            Checkpoint::AfterStep { step, .. } => Some(step + 1),
            _ => None,
        }
    }
}

impl Engine {
    /// Runs the checks of `checkpoint` if the spec has any, else moves past it.
    pub(super) fn checkpoint(
        &self,
        state: &mut State,
        now: SystemTime,
        checkpoint: Checkpoint,
    ) -> Action {
        let stage = checkpoint.stage();
        if self.plan.check_stages.contains(&stage) {
            let step = checkpoint.step();
            state.phase = Phase::Checking(checkpoint);
            Action::RunChecks { stage, step }
        } else {
            self.after_checks(state, now, checkpoint, None)
        }
    }

    /// Where the rollout goes once a checkpoint's checks passed, or one failed.
    pub(super) fn after_checks(
        &self,
        state: &mut State,
        now: SystemTime,
        checkpoint: Checkpoint,
        failure: Option<String>,
    ) -> Action {
        match (checkpoint, failure) {
            (Checkpoint::PreRollout, None) => self.deploy(state),
            (Checkpoint::PreRollout, Some(failure)) => {
                self.halt(state, now, format!("{failure}; nothing was changed"))
            }
            (Checkpoint::BeforeTraffic, None) if self.plan.migration.is_some() => {
                self.begin_migration(state, now)
            }
            (Checkpoint::BeforeTraffic, None) => self.begin_step(state, now, 0),
            (Checkpoint::AfterStep { step, held }, None) => {
                state.timeline.push(Event {
                    at: now,
                    kind: EventKind::StepCompleted {
                        step: step + 1,
                        weight: self.plan.steps[step].weight,
                        held_ms: held.as_millis().try_into().unwrap_or(u64::MAX),
                    },
                });
                self.begin_step(state, now, step + 1)
            }
            (Checkpoint::BeforeTraffic | Checkpoint::AfterStep { .. }, Some(failure)) => {
                self.roll_back(state, now, Outcome::RolledBack, failure)
            }
            (Checkpoint::BeforePromotion, None) => self.promote(state, now),
            (Checkpoint::BeforePromotion, Some(failure)) => self.halt(
                state,
                now,
                format!("{failure}; promotion was not confirmed"),
            ),
            (Checkpoint::PostRollout, failure) => {
                self.warn(state, now, failure);
                self.scale_down(state, now)
            }
            (Checkpoint::OnRollback(cause), failure) => {
                self.warn(state, now, failure);
                if self.plan.mode == Mode::Abort {
                    let (outcome, reason) = self.ending(Some(cause));
                    self.finish(state, now, outcome, reason)
                } else {
                    self.retire(state, now, Side::New, Some(cause))
                }
            }
        }
    }

    pub(super) fn warn(&self, state: &mut State, now: SystemTime, failure: Option<String>) {
        if let Some(message) = failure {
            state.timeline.push(Event {
                at: now,
                kind: EventKind::Warning { message },
            });
        }
    }
}
