//! The instance-by-instance migration (`strategy.migrate`): once the new version
//! is up, it joins the load balancer beside the old version's tasks; then the old
//! tasks leave it a batch at a time, each waits for its drain gate, and the batch
//! is killed, until none is left. The steps that follow are the watch.
//!
//! Failures here halt (exit 3): old tasks are already out of the balancer or dead,
//! and putting traffic back on a shrinking version is for a person to decide. A
//! re-run lists the tasks that are left and goes on with them.

use std::time::SystemTime;

use crate::duration::display;
use crate::metrics::Measurement;
use crate::provider::ProviderError;
use crate::traffic::Task;

use super::event::{Event, EventKind};
use super::machine::{Action, Engine, Input, Phase, State, millis};
use super::plan::WaitGate;

/// Where a migration stands.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Migration {
    /// The old version's tasks still running, in the order they leave.
    pub(super) left: Vec<Task>,
    pub(super) stage: Stage,
    /// When the current stage (one task's drain) began: its timeout counts from here.
    pub(super) since: SystemTime,
    /// Provider errors in a row while draining.
    pub(super) errors: u32,
    /// What the last drain measurement found, for the timeout message.
    pub(super) last: String,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Stage {
    Listing,
    /// The new version joins the balancer beside every old task.
    Admitting,
    /// The first `batch` tasks of `left` leave the balancer.
    Excluding {
        batch: usize,
    },
    /// Waiting for the drain gate of task `index` of the batch.
    Draining {
        batch: usize,
        index: usize,
    },
    Killing {
        batch: usize,
    },
}

const NO_PLAN: &str = "internal error: a migration step in a plan without `strategy.migrate`";

fn ids(tasks: &[Task]) -> Vec<String> {
    tasks.iter().map(|task| task.id.clone()).collect()
}

impl Engine {
    fn drain_gate(&self) -> Option<&WaitGate> {
        self.plan.migration.as_ref()?.drain.as_ref()
    }

    /// Lists the old version's tasks: the migration starts (or resumes) from them.
    pub(super) fn begin_migration(&self, state: &mut State, now: SystemTime) -> Action {
        if self.plan.migration.is_none() {
            return self.fail(state, now, NO_PLAN.to_owned());
        }
        state.phase = Phase::Migrating(Migration {
            left: Vec::new(),
            stage: Stage::Listing,
            since: SystemTime::UNIX_EPOCH,
            errors: 0,
            last: String::new(),
        });
        Action::ListTasks {
            version: self.stable_version.clone(),
        }
    }

    pub(super) fn migrate(
        &self,
        state: &mut State,
        now: SystemTime,
        mut migration: Migration,
        input: Input,
    ) -> Action {
        match (migration.stage, input) {
            (Stage::Listing, Input::Tasks(Ok(mut tasks))) => {
                // A stable order, so a re-run takes out the same batch first.
                tasks.sort_by(|a, b| a.id.cmp(&b.id));
                state.timeline.push(Event {
                    at: now,
                    kind: EventKind::MigrationStarted {
                        version: self.stable_version.clone(),
                        tasks: tasks.len(),
                    },
                });
                migration.left = tasks;
                migration.stage = Stage::Admitting;
                let keep = ids(&migration.left);
                state.migration_left = Some(keep.clone());
                state.phase = Phase::Migrating(migration);
                Action::RouteTasks { keep }
            }
            (Stage::Listing, Input::Tasks(Err(error))) => self.halt(
                state,
                now,
                format!(
                    "the migration could not list the tasks of {}: {error}",
                    self.stable_version
                ),
            ),
            (Stage::Admitting, Input::Routed(Ok(()))) => self.next_batch(state, now, migration),
            (Stage::Excluding { batch }, Input::Routed(Ok(()))) => {
                self.drain_task(state, now, migration, batch, 0)
            }
            (Stage::Admitting | Stage::Excluding { .. }, Input::Routed(Err(error))) => self.halt(
                state,
                now,
                format!(
                    "the migration could not change the load balancer: {error}; no task of {} was killed in this step",
                    self.stable_version
                ),
            ),
            (Stage::Draining { batch, index }, Input::TaskMeasured(result)) => {
                self.task_measured(state, now, migration, batch, index, result)
            }
            (Stage::Draining { .. }, Input::Woke) => self.measure_current(state, now, migration),
            (Stage::Killing { batch }, Input::Killed(Ok(()))) => {
                state.old_tasks_killed = true;
                let killed: Vec<Task> = migration.left.drain(..batch).collect();
                state.migration_left = Some(ids(&migration.left));
                state.timeline.push(Event {
                    at: now,
                    kind: EventKind::TasksKilled {
                        version: self.stable_version.clone(),
                        tasks: ids(&killed),
                        left: migration.left.len(),
                    },
                });
                self.next_batch(state, now, migration)
            }
            (Stage::Killing { batch }, Input::Killed(Err(error))) => self.halt(
                state,
                now,
                format!(
                    "killing {} of {}: {error}",
                    ids(&migration.left[..batch]).join(", "),
                    self.stable_version
                ),
            ),
            (_, Input::Cancelled { reason }) => self.halt(
                state,
                now,
                format!(
                    "{reason} during the migration; run again to go on with the {} task(s) of {} left",
                    migration.left.len(),
                    self.stable_version
                ),
            ),
            (stage, input) => self.fail(
                state,
                now,
                format!("internal error: unexpected {input:?} while migrating ({stage:?})"),
            ),
        }
    }

    /// Takes the next batch out of the balancer; with no old task left, the
    /// watch begins (its first step sends 100% and reads it back).
    fn next_batch(&self, state: &mut State, now: SystemTime, mut migration: Migration) -> Action {
        let Some(plan) = &self.plan.migration else {
            return self.fail(state, now, NO_PLAN.to_owned());
        };
        if migration.left.is_empty() {
            state.phase = Phase::Migrating(migration);
            return self.end_migration(state);
        }
        let batch = plan.batch_size.min(migration.left.len());
        migration.stage = Stage::Excluding { batch };
        let keep = ids(&migration.left[batch..]);
        state.phase = Phase::Migrating(migration);
        Action::RouteTasks { keep }
    }

    fn end_migration(&self, state: &mut State) -> Action {
        state.migration_left = None;
        state.phase = Phase::Shifting { step: 0 };
        match self.plan.steps.first() {
            Some(step) => Action::SetWeight(step.weight),
            None => Action::SetWeight(crate::traffic::Weight::FULL),
        }
    }

    /// Starts waiting for task `index` of the batch, or kills the batch once
    /// every task in it passed (at once, without a drain gate).
    fn drain_task(
        &self,
        state: &mut State,
        now: SystemTime,
        mut migration: Migration,
        batch: usize,
        index: usize,
    ) -> Action {
        if self.drain_gate().is_none() || index >= batch {
            migration.stage = Stage::Killing { batch };
            let ids = ids(&migration.left[..batch]);
            state.phase = Phase::Migrating(migration);
            return Action::KillTasks {
                version: self.stable_version.clone(),
                ids,
            };
        }
        migration.stage = Stage::Draining { batch, index };
        migration.since = now;
        migration.errors = 0;
        migration.last.clear();
        self.measure_current(state, now, migration)
    }

    fn measure_current(&self, state: &mut State, now: SystemTime, migration: Migration) -> Action {
        let task = match migration.stage {
            Stage::Draining { index, .. } => migration.left.get(index).cloned(),
            _ => None,
        };
        match task {
            Some(task) => {
                state.phase = Phase::Migrating(migration);
                Action::MeasureTask(task)
            }
            None => self.fail(state, now, "internal error: no task to measure".to_owned()),
        }
    }

    fn task_measured(
        &self,
        state: &mut State,
        now: SystemTime,
        mut migration: Migration,
        batch: usize,
        index: usize,
        result: Result<Measurement, ProviderError>,
    ) -> Action {
        let Some(gate) = self.drain_gate() else {
            return self.drain_task(state, now, migration, batch, batch);
        };
        let task = migration
            .left
            .get(index)
            .map_or_else(String::new, |task| task.id.clone());
        match result.map(Measurement::as_number) {
            Ok(Measurement::Value(value)) if value <= gate.max => {
                state.timeline.push(Event {
                    at: now,
                    kind: EventKind::TaskDrained {
                        task,
                        metric: gate.metric.clone(),
                        value,
                        max: gate.max,
                        waited_ms: millis(now, migration.since),
                    },
                });
                self.drain_task(state, now, migration, batch, index + 1)
            }
            Ok(Measurement::Value(value)) => {
                migration.errors = 0;
                migration.last = format!(
                    "`{}` was {}, above {}",
                    gate.metric,
                    crate::judge::format_value(value),
                    crate::judge::format_value(gate.max)
                );
                self.wait_for_task(state, now, migration, &task)
            }
            // No data is not zero: the work may be pending where nobody counts it.
            Ok(Measurement::NoData | Measurement::Counts(_)) => {
                migration.errors = 0;
                migration.last = format!("`{}` had no data", gate.metric);
                self.wait_for_task(state, now, migration, &task)
            }
            Err(error) => {
                migration.errors += 1;
                let limit = self
                    .plan
                    .analysis
                    .as_ref()
                    .map_or(3, |analysis| analysis.consecutive_error_limit);
                migration.last = format!("the provider failed: {error}");
                if migration.errors >= limit {
                    return self.halt(
                        state,
                        now,
                        format!(
                            "the drain gate `{}` of task {task} failed {} time(s) in a row: {error}; the task is out of the load balancer and still running",
                            gate.metric, migration.errors
                        ),
                    );
                }
                self.wait_for_task(state, now, migration, &task)
            }
        }
    }

    /// Sleeps until the next measurement, or halts once the task's timeout has
    /// passed; the last measurement happens at the deadline itself.
    fn wait_for_task(
        &self,
        state: &mut State,
        now: SystemTime,
        migration: Migration,
        task: &str,
    ) -> Action {
        let Some(gate) = self.drain_gate() else {
            return self.fail(state, now, NO_PLAN.to_owned());
        };
        let deadline = migration.since + gate.waiting.timeout;
        if now >= deadline {
            let reason = format!(
                "task {task} of {} did not drain in {}: {}; it is out of the load balancer and still running. Find out what holds its work, then run again to go on (or `greenlight rollback`)",
                self.stable_version,
                display(gate.waiting.timeout),
                migration.last
            );
            return self.halt(state, now, reason);
        }
        let next = (now + gate.waiting.interval).min(deadline);
        state.phase = Phase::Migrating(migration);
        Action::SleepUntil(next)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::engine::plan::Mode;
    use crate::engine::{Outcome, Plan};
    use crate::traffic::Weight;

    fn engine(batch: u32) -> Engine {
        engine_for(batch, Mode::Rollout)
    }

    fn engine_for(batch: u32, mode: Mode) -> Engine {
        let text = format!(
            "apiVersion: greenlight.dev/v1alpha1\nkind: Rollout\nmetadata: {{name: svc}}\n\
             target: {{marathon: {{url: 'http://m', app: svc.json}}}}\n\
             router: {{edgelb: {{url: 'http://e', pool: p, backend: b, stableService: /svc-v1, newService: /svc-v2}}}}\n\
             strategy: {{migrate: {{batchSize: {batch}, watch: 1m, drain: {{name: jobs, query: {{command: 'echo {{{{ task.id }}}}'}}, timeout: 30s, interval: 5s}}}}}}\n\
             analysis: {{interval: 30s, metrics: [{{name: errors, query: {{command: 'echo 0'}}, max: 0}}]}}\n"
        );
        let loaded = crate::spec::load(
            "t.yaml",
            &text,
            &crate::spec::LoadOptions {
                version: "v2".into(),
                stable_version: "v1".into(),
                ..Default::default()
            },
        )
        .unwrap_or_else(|error| panic!("{error}"));
        Engine {
            plan: Plan::by_hand(&loaded.spec, &loaded.spec.router.capabilities(), mode),
            name: "svc".into(),
            stable_version: "v1".into(),
            new_version: "v2".into(),
        }
    }

    fn task(n: u8) -> Task {
        Task {
            id: format!("svc-v1.{n}"),
            host: "10.0.0.1".into(),
            port: Some(31000),
        }
    }

    fn at(seconds: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000 + seconds)
    }

    /// Runs from the start to the migration's first action.
    fn to_migration(engine: &Engine) -> State {
        let (state, action) = engine.step(State::new(), at(0), Input::Start);
        assert_eq!(
            action,
            Action::Launch {
                version: "v2".into()
            }
        );
        let (state, action) = engine.step(state, at(0), Input::Deployed(Ok(())));
        assert_eq!(
            action,
            Action::ListTasks {
                version: "v1".into()
            }
        );
        state
    }

    fn keep(tasks: &[u8]) -> Action {
        Action::RouteTasks {
            keep: tasks.iter().map(|n| task(*n).id).collect(),
        }
    }

    #[test]
    fn batches_leave_the_balancer_drain_task_by_task_then_die_together() {
        let engine = engine(2);
        let state = to_migration(&engine);
        let tasks = vec![task(3), task(1), task(4), task(2)];
        let (state, action) = engine.step(state, at(0), Input::Tasks(Ok(tasks)));
        assert_eq!(action, keep(&[1, 2, 3, 4]));
        assert_eq!(state.migration_left().map(|left| left.len()), Some(4));
        let (state, action) = engine.step(state, at(0), Input::Routed(Ok(())));
        assert_eq!(action, keep(&[3, 4]));
        let (state, action) = engine.step(state, at(0), Input::Routed(Ok(())));
        assert_eq!(action, Action::MeasureTask(task(1)));
        let value = |v: f64| Input::TaskMeasured(Ok(Measurement::Value(v)));
        // Task 1 still has work, then none; task 2 had no data first: not zero.
        let (state, action) = engine.step(state, at(1), value(2.0));
        assert_eq!(action, Action::SleepUntil(at(6)));
        let (state, action) = engine.step(state, at(6), Input::Woke);
        assert_eq!(action, Action::MeasureTask(task(1)));
        let (state, action) = engine.step(state, at(6), value(0.0));
        assert_eq!(action, Action::MeasureTask(task(2)));
        let (state, action) =
            engine.step(state, at(6), Input::TaskMeasured(Ok(Measurement::NoData)));
        assert_eq!(action, Action::SleepUntil(at(11)));
        let (state, action) = engine.step(state, at(11), Input::Woke);
        let (state, action) = {
            assert_eq!(action, Action::MeasureTask(task(2)));
            engine.step(state, at(11), value(0.0))
        };
        assert_eq!(
            action,
            Action::KillTasks {
                version: "v1".into(),
                ids: vec![task(1).id, task(2).id]
            }
        );
        let (state, action) = engine.step(state, at(12), Input::Killed(Ok(())));
        assert_eq!(state.migration_left(), Some(vec![task(3).id, task(4).id]));
        assert_eq!(action, keep(&[]));
        let (state, action) = engine.step(state, at(12), Input::Routed(Ok(())));
        assert_eq!(action, Action::MeasureTask(task(3)));
        let (state, action) = engine.step(state, at(12), value(0.0));
        let (state, action) = {
            assert_eq!(action, Action::MeasureTask(task(4)));
            engine.step(state, at(12), value(0.0))
        };
        assert!(matches!(action, Action::KillTasks { .. }));
        // No old task left: the watch starts with 100% read back.
        let (state, action) = engine.step(state, at(13), Input::Killed(Ok(())));
        assert_eq!(action, Action::SetWeight(Weight::FULL));
        assert_eq!(state.migration_left(), None);
        let drained = state
            .timeline
            .iter()
            .filter(|event| matches!(event.kind, EventKind::TaskDrained { .. }))
            .count();
        assert_eq!(drained, 4);
    }

    #[test]
    fn a_task_that_does_not_drain_halts_at_its_timeout_naming_it() {
        let engine = engine(1);
        let state = to_migration(&engine);
        let (state, _) = engine.step(state, at(0), Input::Tasks(Ok(vec![task(1), task(2)])));
        let (state, _) = engine.step(state, at(0), Input::Routed(Ok(())));
        let (mut state, mut action) = engine.step(state, at(0), Input::Routed(Ok(())));
        let mut now = 0;
        while let Action::MeasureTask(_) = action {
            let (next, sleep) = engine.step(
                state,
                at(now),
                Input::TaskMeasured(Ok(Measurement::Value(1.0))),
            );
            match sleep {
                Action::SleepUntil(until) => {
                    now = until
                        .duration_since(at(0))
                        .map_or(0, |elapsed| elapsed.as_secs());
                    (state, action) = engine.step(next, until, Input::Woke);
                }
                other => {
                    (state, action) = (next, other);
                }
            }
        }
        assert_eq!(action, Action::Finish(Outcome::Halted));
        assert_eq!(now, 30, "the last look is at the deadline");
        let reason = state.reason.clone().unwrap_or_default();
        assert!(
            reason.contains("task svc-v1.1 of v1 did not drain in 30s: `jobs` was 1, above 0"),
            "{reason}"
        );
        // Halted with both tasks still running: the record keeps them for a re-run.
        assert_eq!(state.migration_left(), Some(vec![task(1).id, task(2).id]));
    }

    #[test]
    fn once_old_tasks_are_killed_a_failing_watch_halts_instead_of_rolling_back() {
        let engine = engine(1);
        let state = to_migration(&engine);
        let (state, _) = engine.step(state, at(0), Input::Tasks(Ok(vec![task(1)])));
        let (state, _) = engine.step(state, at(0), Input::Routed(Ok(())));
        let (state, _) = engine.step(state, at(0), Input::Routed(Ok(())));
        let (state, _) = engine.step(
            state,
            at(0),
            Input::TaskMeasured(Ok(Measurement::Value(0.0))),
        );
        let (state, action) = engine.step(state, at(1), Input::Killed(Ok(())));
        assert_eq!(action, Action::SetWeight(Weight::FULL));
        let (state, action) = engine.step(state, at(1), Input::WeightApplied(Ok(Weight::FULL)));
        assert_eq!(action, Action::SleepUntil(at(31)));
        let (state, action) = engine.step(state, at(31), Input::Woke);
        assert_eq!(action, Action::Measure);
        let (state, action) = engine.step(
            state,
            at(31),
            Input::Measured(vec![Ok(Measurement::Value(5.0))]),
        );
        assert_eq!(action, Action::Finish(Outcome::Halted));
        let reason = state.reason.unwrap_or_default();
        assert!(
            reason.contains("the migration has already killed tasks of v1"),
            "{reason}"
        );
    }

    #[test]
    fn a_cancelled_migration_halts_keeping_the_tasks_left() {
        let engine = engine(1);
        let state = to_migration(&engine);
        let (state, _) = engine.step(state, at(0), Input::Tasks(Ok(vec![task(1), task(2)])));
        assert!(state.can_cancel());
        let (state, action) = engine.step(
            state,
            at(1),
            Input::Cancelled {
                reason: "the rollout was cancelled (SIGTERM)".into(),
            },
        );
        assert_eq!(action, Action::Finish(Outcome::Halted));
        assert!(
            state.reason.as_deref().is_some_and(
                |reason| reason.contains("run again to go on with the 2 task(s) of v1 left")
            ),
            "{:?}",
            state.reason
        );
        assert_eq!(state.migration_left(), Some(vec![task(1).id, task(2).id]));
    }

    #[test]
    fn a_green_that_fails_to_launch_rolls_back_with_blue_untouched() {
        let engine = engine(1);
        let (state, _) = engine.step(State::new(), at(0), Input::Start);
        let (state, action) = engine.step(
            state,
            at(0),
            Input::Deployed(Err(ProviderError::new("task x fails its health check"))),
        );
        // Blue is whole (nothing was killed): the target finds nothing to bring back.
        assert_eq!(
            action,
            Action::Restore {
                version: "v1".into()
            }
        );
        let (_, action) = engine.step(state, at(0), Input::Restored(Ok(())));
        assert_eq!(action, Action::SetWeight(Weight::ZERO));
    }

    #[test]
    fn a_rollback_by_hand_brings_the_old_version_back_before_traffic_returns_to_it() {
        let engine = engine_for(1, Mode::RollBack);
        let (state, action) = engine.step(State::new(), at(0), Input::Start);
        let restore = Action::Restore {
            version: "v1".into(),
        };
        assert_eq!(action, restore);
        let (state, action) = engine.step(state.clone(), at(0), Input::Restored(Ok(())));
        assert_eq!(action, Action::SetWeight(Weight::ZERO));
        let (_, action) = engine.step(state, at(1), Input::WeightApplied(Ok(Weight::ZERO)));
        assert_eq!(
            action,
            Action::Retire {
                version: "v2".into()
            }
        );

        // The old version cannot be scaled up: traffic stays where it is.
        let (state, _) = engine.step(State::new(), at(0), Input::Start);
        let (state, action) = engine.step(
            state,
            at(0),
            Input::Restored(Err(ProviderError::new("App is locked"))),
        );
        assert_eq!(action, Action::Finish(Outcome::Halted));
        let reason = state.reason.unwrap_or_default();
        assert!(
            reason.contains("v1 could not be brought back to its task count: App is locked. Traffic was not moved"),
            "{reason}"
        );
    }
}
