//! A strategy compiled into the steps the engine walks through.
//!
//! Canary and blue/green differ only in their steps: blue/green is a preview
//! at 0% followed by a switch to 100%, each with its own hold and analysis.

use std::time::Duration;

use serde::Serialize;

use crate::judge::Threshold;
use crate::spec::types::{AnalysisSpec, NoDataPolicy, RolloutSpec, RouterSpec, StrategySpec};
use crate::traffic::Weight;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Plan {
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
}

/// How long to wait for a condition, and how often to look.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Waiting {
    pub timeout: Duration,
    pub interval: Duration,
}

/// Wait until `metric` is at or below `max` (seed 003: the old version's pending work).
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
}

impl Plan {
    /// Compiles a validated spec.
    pub fn from_spec(spec: &RolloutSpec) -> Self {
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
        };
        let drain = match &spec.router {
            RouterSpec::Haproxy(haproxy) if haproxy.drain.enabled => Some(Waiting {
                timeout: haproxy.drain.timeout.get(),
                interval: haproxy.drain.interval.get(),
            }),
            _ => None,
        };
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
            strategy,
            steps,
            check_stages: check_stages(spec),
            analysis: spec.analysis.as_ref().map(AnalysisPolicy::from_spec),
            scale_down_delay,
            drain,
            before_retire,
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
            gates: spec
                .metrics
                .iter()
                .map(|metric| Gate {
                    metric: metric.name.clone(),
                    threshold: Threshold {
                        min: metric.min,
                        max: metric.max,
                    },
                })
                .collect(),
        }
    }
}
