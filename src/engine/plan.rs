//! A strategy compiled into the steps the engine walks through.
//!
//! Canary and blue/green differ only in their steps: blue/green is a preview
//! at 0% followed by a switch to 100%, each with its own hold and analysis.

use std::time::Duration;

use serde::Serialize;

use crate::judge::{CompareConfig, Margin, Threshold};
use crate::spec::types::{
    AnalysisSpec, InconclusivePolicy, MetricSpec, NoDataPolicy, QuerySpec, RolloutSpec,
    SandboxStat, StrategySpec,
};
use crate::traffic::{Capabilities, Weight};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Plan {
    /// A whole rollout, or one of the commands a person runs by hand.
    #[serde(skip)]
    pub mode: Mode,
    pub strategy: StrategyKind,
    pub steps: Vec<Step>,
    /// The points of the rollout that have checks to run.
    pub check_stages: Vec<CheckStage>,
    pub analysis: Option<AnalysisPolicy>,
    /// How long the old version keeps running after promotion.
    pub scale_down_delay: Duration,
    /// Drain a version's servers before it is removed, when the router can.
    pub drain: Option<Waiting>,
    /// Wait-until gates passed before the old version is removed after promotion.
    pub before_retire: Vec<WaitGate>,
    /// For `strategy.migrate`: how the old version's tasks are taken out.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub migration: Option<MigrationPlan>,
}

/// An instance-by-instance migration: after the new version is up and added to the
/// load balancer, the old version's tasks leave it `batch_size` at a time; each
/// task must pass the drain gate before its batch is killed. The steps that
/// follow are the watch of the new version alone.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MigrationPlan {
    pub batch_size: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub drain: Option<WaitGate>,
}

/// What the engine is asked to do. Every command that moves traffic is a plan
/// the same engine runs, so the manual commands verify, drain, wait for the
/// wait-until gates, run their hooks and report exactly like `run`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Mode {
    /// `run`: checks, deploy, the steps, promotion, then the old version retired.
    #[default]
    Rollout,
    /// `promote`: straight to 100%, then the stable version retired.
    Promote,
    /// `rollback` to an earlier release: deploy it, send it all traffic, then
    /// retire the version it replaces.
    Return,
    /// `rollback`: back to 0%, then the new version retired.
    RollBack,
    /// `abort`: back to 0%; the new version keeps running.
    Abort,
}

impl Mode {
    /// Whether a person asked for this now, rather than a rollout deciding it.
    pub fn by_hand(self) -> bool {
        self != Mode::Rollout
    }
}

/// How long to wait for a condition, and how often to look.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Waiting {
    pub timeout: Duration,
    pub interval: Duration,
}

/// Wait until `metric` is at or below `max`: the old version's pending work
/// (queued jobs, open transactions) must be done before it is removed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WaitGate {
    pub metric: String,
    pub max: f64,
    #[serde(flatten)]
    pub waiting: Waiting,
}

/// Where in the rollout a group of checks runs, and what its failure means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckStage {
    /// `hooks.preRollout`: a failure stops before anything changes (halt).
    PreRollout,
    /// `smoke` and `hooks.beforeTraffic`: a failure rolls back before any traffic.
    BeforeTraffic,
    /// Smoke checks with `afterEachStep` and `hooks.afterStep`: a failure rolls back.
    AfterStep,
    /// `hooks.beforePromotion`: a failure halts.
    BeforePromotion,
    /// `hooks.postRollout`: failures are warnings.
    PostRollout,
    /// `hooks.onRollback`: failures are warnings.
    OnRollback,
}

impl CheckStage {
    pub fn as_str(self) -> &'static str {
        match self {
            CheckStage::PreRollout => "pre-rollout",
            CheckStage::BeforeTraffic => "before traffic",
            CheckStage::AfterStep => "after step",
            CheckStage::BeforePromotion => "before promotion",
            CheckStage::PostRollout => "post-rollout",
            CheckStage::OnRollback => "on rollback",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StrategyKind {
    Canary,
    BlueGreen,
    Migrate,
}

impl StrategyKind {
    pub fn as_str(self) -> &'static str {
        match self {
            StrategyKind::Canary => "canary",
            StrategyKind::BlueGreen => "blue/green",
            StrategyKind::Migrate => "migration",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Step {
    pub weight: Weight,
    pub hold: Duration,
    pub analyse: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AnalysisPolicy {
    pub interval: Duration,
    pub failure_limit: u32,
    pub consecutive_error_limit: u32,
    pub min_samples: u32,
    pub no_data: NoDataPolicy,
    pub no_data_limit: u32,
    pub gates: Vec<Gate>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Gate {
    pub metric: String,
    #[serde(flatten)]
    pub threshold: Threshold,
    /// Fewer requests than this in a measurement (in all, for a comparison) decide nothing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_requests: Option<u64>,
    /// Set for a new-versus-stable comparison; the threshold is then unused.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compare: Option<Comparison>,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Comparison {
    #[serde(flatten)]
    pub test: CompareConfig,
    pub inconclusive: InconclusivePolicy,
    /// What the events are, for the evidence sentence.
    pub counts: Counted,
}

impl Comparison {
    /// "vs stable, ≤ +50%, alpha 0.01".
    pub fn describe(&self) -> String {
        let margin = match self.test.margin {
            Margin::Relative(share) => format!("+{}%", crate::judge::format_value(share * 100.0)),
            Margin::Absolute(rate) => format!("+{}", crate::judge::format_value(rate)),
        };
        format!(
            "vs stable, ≤ {margin}, alpha {}",
            crate::judge::format_value(self.test.alpha)
        )
    }
}

/// What a comparison counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Counted {
    Errors,
    SlowRequests,
}

/// `compare` gates decide nothing before this many requests unless the spec says.
const DEFAULT_COMPARE_MIN_REQUESTS: u64 = 100;
const DEFAULT_ALPHA: f64 = 0.01;
const DEFAULT_MAX_INCREASE: Margin = Margin::Relative(0.5);

impl Gate {
    fn from_spec(metric: &MetricSpec) -> Self {
        let compare = metric.compare.map(|_| Comparison {
            test: CompareConfig {
                alpha: metric.alpha.unwrap_or(DEFAULT_ALPHA),
                margin: metric
                    .max_increase
                    .map_or(DEFAULT_MAX_INCREASE, |margin| margin.0),
                min_requests: metric.min_requests.unwrap_or(DEFAULT_COMPARE_MIN_REQUESTS),
            },
            inconclusive: metric.inconclusive.unwrap_or_default(),
            counts: match &metric.query {
                QuerySpec::Sandbox(query) if query.stat == SandboxStat::SlowRequests => {
                    Counted::SlowRequests
                }
                _ => Counted::Errors,
            },
        });
        Self {
            metric: metric.name.clone(),
            threshold: Threshold {
                min: metric.min,
                max: metric.max,
            },
            min_requests: metric.min_requests,
            compare,
        }
    }
}

impl Plan {
    /// Compiles a validated spec for a router that can do what `router` says.
    pub fn from_spec(spec: &RolloutSpec, router: &Capabilities) -> Self {
        let analysis_on = spec.analysis.is_some();
        let step = |weight: i64, hold: Duration, analysis: Option<bool>| Step {
            weight: Weight::clamped(weight),
            hold,
            analyse: analysis.unwrap_or(analysis_on) && analysis_on,
        };
        let (strategy, steps, scale_down_delay) = match &spec.strategy {
            StrategySpec::Canary(canary) => {
                let steps = match (&canary.steps, canary.step, canary.every) {
                    (Some(steps), _, _) => steps
                        .iter()
                        .map(|s| step(s.weight, s.hold.get(), s.analysis))
                        .collect(),
                    (None, Some(increment), Some(every)) => {
                        let max = canary.max.unwrap_or(100);
                        (1..)
                            .map(|n| n * increment.max(1))
                            .take_while(|weight| *weight <= max)
                            .map(|weight| step(weight, every.get(), None))
                            .collect()
                    }
                    _ => Vec::new(),
                };
                (StrategyKind::Canary, steps, canary.scale_down_delay.get())
            }
            StrategySpec::BlueGreen(blue_green) => {
                let mut steps = Vec::new();
                if let Some(preview) = &blue_green.preview {
                    steps.push(step(0, preview.hold.get(), preview.analysis));
                }
                let (hold, analysis) = blue_green
                    .post_promotion
                    .as_ref()
                    .map_or((Duration::ZERO, Some(false)), |phase| {
                        (phase.hold.get(), phase.analysis)
                    });
                steps.push(step(100, hold, analysis));
                (
                    StrategyKind::BlueGreen,
                    steps,
                    blue_green.scale_down_delay.get(),
                )
            }
            // The watch: the new version alone, with the gates, before blue is removed.
            StrategySpec::Migrate(migrate) => (
                StrategyKind::Migrate,
                vec![step(100, migrate.watch.get(), None)],
                Duration::ZERO,
            ),
        };
        let migration = match &spec.strategy {
            StrategySpec::Migrate(migrate) => Some(MigrationPlan {
                batch_size: usize::try_from(migrate.batch_size.max(1)).unwrap_or(1),
                drain: migrate.drain.as_ref().map(|gate| WaitGate {
                    metric: gate.name.clone(),
                    max: gate.max,
                    waiting: Waiting {
                        timeout: gate.timeout.get(),
                        interval: gate.interval.get(),
                    },
                }),
            }),
            _ => None,
        };
        let drain = router.drain.map(|drain| Waiting {
            timeout: drain.timeout,
            interval: drain.interval,
        });
        let before_retire = spec
            .analysis
            .iter()
            .flat_map(|analysis| {
                analysis.before_retire.iter().map(|gate| WaitGate {
                    metric: gate.name.clone(),
                    max: gate.max,
                    waiting: Waiting {
                        timeout: gate.timeout.get(),
                        interval: gate.interval.unwrap_or(analysis.interval).get(),
                    },
                })
            })
            .collect();
        Self {
            mode: Mode::Rollout,
            strategy,
            steps,
            check_stages: check_stages(spec),
            analysis: spec.analysis.as_ref().map(AnalysisPolicy::from_spec),
            scale_down_delay,
            drain,
            before_retire,
            migration,
        }
    }

    /// The short plan of a manual command: no steps and no analysis, the hooks
    /// of the stage it ends in, and the same drain and wait-until gates before
    /// a version is removed. A person decided, so nothing waits for
    /// `scaleDownDelay`.
    pub fn by_hand(spec: &RolloutSpec, router: &Capabilities, mode: Mode) -> Self {
        let full = Self::from_spec(spec, router);
        let stage = match mode {
            Mode::Rollout => return full,
            Mode::Promote | Mode::Return => CheckStage::PostRollout,
            Mode::RollBack | Mode::Abort => CheckStage::OnRollback,
        };
        Self {
            mode,
            steps: Vec::new(),
            check_stages: full
                .check_stages
                .iter()
                .copied()
                .filter(|present| *present == stage)
                .collect(),
            analysis: None,
            scale_down_delay: Duration::ZERO,
            ..full
        }
    }
}

fn check_stages(spec: &RolloutSpec) -> Vec<CheckStage> {
    let hooks = &spec.hooks;
    [
        (CheckStage::PreRollout, !hooks.pre_rollout.is_empty()),
        (
            CheckStage::BeforeTraffic,
            !spec.smoke.is_empty() || !hooks.before_traffic.is_empty(),
        ),
        (
            CheckStage::AfterStep,
            spec.smoke.iter().any(|check| check.after_each_step) || !hooks.after_step.is_empty(),
        ),
        (
            CheckStage::BeforePromotion,
            !hooks.before_promotion.is_empty(),
        ),
        (CheckStage::PostRollout, !hooks.post_rollout.is_empty()),
        (CheckStage::OnRollback, !hooks.on_rollback.is_empty()),
    ]
    .into_iter()
    .filter_map(|(stage, present)| present.then_some(stage))
    .collect()
}

impl AnalysisPolicy {
    fn from_spec(spec: &AnalysisSpec) -> Self {
        Self {
            interval: spec.interval.get(),
            failure_limit: spec.failure_limit,
            consecutive_error_limit: spec.consecutive_error_limit,
            min_samples: spec.min_samples,
            no_data: spec.no_data,
            no_data_limit: spec.no_data_limit,
            gates: spec.metrics.iter().map(Gate::from_spec).collect(),
        }
    }
}
