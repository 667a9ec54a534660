//! Removing a version (seed 003): drain its servers, then, for the old version
//! after a promotion, wait until every wait-until gate is met; then remove it.

use std::time::{Duration, SystemTime};

use crate::metrics::Measurement;
use crate::provider::ProviderError;
use crate::spec::duration::display;
use crate::traffic::Side;

use super::event::{Event, EventKind};
use super::machine::{Action, Cause, Engine, Phase, State, millis};
use super::plan::Waiting;

/// Removing one version (seed 003): drain its servers, then, for the old version
/// after a promotion, wait until every wait-until gate is met; then remove it.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Retirement {
    pub(super) side: Side,
    /// Why traffic went back to stable; `None` after a promotion.
    pub(super) cause: Option<Cause>,
    pub(super) stage: Stage,
    /// When the stage began: its timeout counts from here.
    pub(super) since: SystemTime,
    pub(super) waiting: Waiting,
    /// Provider errors in a row in this stage.
    pub(super) errors: u32,
    /// What the last look found, for the timeout message.
    pub(super) last: String,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Stage {
    Draining,
    Waiting(usize),
    Removing,
}

impl Engine {
    pub(super) fn version_of(&self, side: Side) -> &str {
        match side {
            Side::Stable => &self.stable_version,
            Side::New => &self.new_version,
        }
    }

    pub(super) fn retire(
        &self,
        state: &mut State,
        now: SystemTime,
        side: Side,
        cause: Option<Cause>,
    ) -> Action {
        let retirement = Retirement {
            side,
            cause,
            stage: Stage::Draining,
            since: now,
            waiting: Waiting {
                timeout: Duration::ZERO,
                interval: Duration::ZERO,
            },
            errors: 0,
            last: String::new(),
        };
        self.enter(state, now, retirement, Stage::Draining)
    }

    /// Starts `stage`, skipping what the plan does not ask for.
    pub(super) fn enter(
        &self,
        state: &mut State,
        now: SystemTime,
        mut retirement: Retirement,
        stage: Stage,
    ) -> Action {
        let (stage, waiting) = match stage {
            Stage::Draining => match self.plan.drain {
                Some(waiting) => (stage, waiting),
                None => return self.enter(state, now, retirement, Stage::Waiting(0)),
            },
            // Wait-until gates guard the old version's pending work only.
            Stage::Waiting(index) => match self
                .plan
                .before_retire
                .get(index)
                .filter(|_| retirement.side == Side::Stable)
            {
                Some(gate) => (stage, gate.waiting),
                None => (Stage::Removing, retirement.waiting),
            },
            Stage::Removing => (stage, retirement.waiting),
        };
        retirement.stage = stage;
        retirement.since = now;
        retirement.waiting = waiting;
        retirement.errors = 0;
        retirement.last.clear();
        let action = self.look(&retirement);
        state.phase = Phase::Retiring(retirement);
        action
    }

    /// The action that checks (or, at the end, does) the current stage.
    pub(super) fn look(&self, retirement: &Retirement) -> Action {
        match retirement.stage {
            Stage::Draining => Action::Drain(retirement.side),
            Stage::Waiting(index) => Action::MeasureWait(index),
            Stage::Removing => Action::Retire {
                version: self.version_of(retirement.side).to_owned(),
            },
        }
    }

    pub(super) fn drained(
        &self,
        state: &mut State,
        now: SystemTime,
        mut retirement: Retirement,
        result: Result<Option<u64>, ProviderError>,
    ) -> Action {
        match result {
            Ok(Some(0)) => {
                state.timeline.push(Event {
                    at: now,
                    kind: EventKind::Drained {
                        version: self.version_of(retirement.side).to_owned(),
                        waited_ms: millis(now, retirement.since),
                    },
                });
                self.enter(state, now, retirement, Stage::Waiting(0))
            }
            Ok(None) => self.enter(state, now, retirement, Stage::Waiting(0)),
            Ok(Some(open)) => {
                retirement.errors = 0;
                retirement.last = format!("{open} session(s) still open");
                self.poll_again(state, now, retirement)
            }
            Err(error) => self.provider_failed(state, now, retirement, error),
        }
    }

    pub(super) fn wait_measured(
        &self,
        state: &mut State,
        now: SystemTime,
        mut retirement: Retirement,
        result: Result<Measurement, ProviderError>,
    ) -> Action {
        let Stage::Waiting(index) = retirement.stage else {
            return self.poll_again(state, now, retirement);
        };
        let Some(gate) = self.plan.before_retire.get(index) else {
            return self.enter(state, now, retirement, Stage::Removing);
        };
        match result {
            Ok(Measurement::Value(value)) if value <= gate.max => {
                state.timeline.push(Event {
                    at: now,
                    kind: EventKind::WaitGate {
                        metric: gate.metric.clone(),
                        value,
                        max: gate.max,
                        waited_ms: millis(now, retirement.since),
                    },
                });
                self.enter(state, now, retirement, Stage::Waiting(index + 1))
            }
            Ok(Measurement::Value(value)) => {
                retirement.errors = 0;
                retirement.last = format!(
                    "`{}` was {}, above {}",
                    gate.metric,
                    crate::judge::format_value(value),
                    crate::judge::format_value(gate.max)
                );
                self.poll_again(state, now, retirement)
            }
            // No data is not zero: the work may be pending where nobody counts it.
            Ok(Measurement::NoData) => {
                retirement.errors = 0;
                retirement.last = format!("`{}` had no data", gate.metric);
                self.poll_again(state, now, retirement)
            }
            Err(error) => self.provider_failed(state, now, retirement, error),
        }
    }

    /// Provider errors count like analysis errors: `consecutiveErrorLimit` in a row gives up.
    pub(super) fn provider_failed(
        &self,
        state: &mut State,
        now: SystemTime,
        mut retirement: Retirement,
        error: ProviderError,
    ) -> Action {
        retirement.errors += 1;
        let limit = self
            .plan
            .analysis
            .as_ref()
            .map_or(3, |analysis| analysis.consecutive_error_limit);
        retirement.last = format!("the provider failed: {error}");
        if retirement.errors >= limit {
            let why = format!(
                "{}: the provider failed {} time(s) in a row: {error}",
                self.stage_name(&retirement),
                retirement.errors
            );
            return self.give_up(state, now, retirement, why);
        }
        self.poll_again(state, now, retirement)
    }

    /// Sleeps until the next look, or gives up once the stage's timeout has passed.
    /// The last look happens at the deadline itself.
    pub(super) fn poll_again(
        &self,
        state: &mut State,
        now: SystemTime,
        retirement: Retirement,
    ) -> Action {
        let deadline = retirement.since + retirement.waiting.timeout;
        if now >= deadline {
            let why = format!(
                "{} timed out after {}: {}",
                self.stage_name(&retirement),
                display(retirement.waiting.timeout),
                retirement.last
            );
            return self.give_up(state, now, retirement, why);
        }
        let next = (now + retirement.waiting.interval).min(deadline);
        state.phase = Phase::Retiring(retirement);
        Action::SleepUntil(next)
    }

    pub(super) fn stage_name(&self, retirement: &Retirement) -> String {
        match retirement.stage {
            Stage::Draining => format!(
                "draining the {} servers ({})",
                retirement.side,
                self.version_of(retirement.side)
            ),
            Stage::Waiting(index) => match self.plan.before_retire.get(index) {
                Some(gate) => format!(
                    "waiting until `{}` ≤ {}",
                    gate.metric,
                    crate::judge::format_value(gate.max)
                ),
                None => "waiting".to_owned(),
            },
            Stage::Removing => "removing".to_owned(),
        }
    }

    /// The version is never removed with work or sessions left: after a promotion
    /// the rollout halts for a person; after a rollback traffic is already safe, so
    /// the new version stays up with a warning and the rollback's outcome stands.
    pub(super) fn give_up(
        &self,
        state: &mut State,
        now: SystemTime,
        retirement: Retirement,
        why: String,
    ) -> Action {
        let message = format!(
            "{} was not removed: {why}",
            self.version_of(retirement.side)
        );
        match retirement.cause {
            None => self.halt(state, now, message),
            Some(cause) => {
                state.timeline.push(Event {
                    at: now,
                    kind: EventKind::Warning { message },
                });
                self.finish(state, now, cause.outcome, cause.reason)
            }
        }
    }
}
