//! Smoke checks and hooks: one HTTP request or one command, retried with
//! backoff until a deadline, at the points of the rollout the engine names.

pub mod command;
pub mod http;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::clock::Clock;
use crate::engine::event::StepNumber;
use crate::engine::plan::CheckStage;
use crate::engine::{CheckKind, CheckResult};
use crate::provider::ProviderError;
use crate::release::Release;
use crate::secrets::Masker;
use crate::spec::types::{Check, RolloutSpec};

/// First wait between attempts; it doubles up to `MAX_BACKOFF`.
const FIRST_BACKOFF: Duration = Duration::from_millis(200);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

#[async_trait]
pub trait CheckRunner: Send + Sync {
    /// Runs every check of `stage`, in spec order.
    async fn run(&self, stage: CheckStage, step: Option<StepNumber>) -> Vec<CheckResult>;
}

/// One attempt's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    pub passed: bool,
    pub detail: String,
    pub output: Option<String>,
}

/// What a check does once.
enum Probe {
    Http(Box<http::HttpProbe>),
    Command(command::CommandProbe),
}

struct Prepared {
    kind: CheckKind,
    spec: Check,
    probe: Probe,
}

/// The checks of a spec, ready to run.
pub struct CheckSuite {
    stages: Vec<(CheckStage, Vec<Prepared>)>,
    clock: Arc<dyn Clock>,
    masker: Masker,
}

impl CheckSuite {
    pub fn from_spec(
        spec: &RolloutSpec,
        release: &Release,
        http: &reqwest::Client,
        clock: Arc<dyn Clock>,
        masker: Masker,
    ) -> Result<Self, ProviderError> {
        let hooks = &spec.hooks;
        let smoke = |check: &&Check| check.after_each_step;
        let groups: [(CheckStage, Vec<(CheckKind, &Check)>); 6] = [
            (
                CheckStage::PreRollout,
                tag(CheckKind::Hook, hooks.pre_rollout.iter()),
            ),
            (
                CheckStage::BeforeTraffic,
                [
                    tag(CheckKind::Smoke, spec.smoke.iter()),
                    tag(CheckKind::Hook, hooks.before_traffic.iter()),
                ]
                .concat(),
            ),
            (
                CheckStage::AfterStep,
                [
                    tag(CheckKind::Smoke, spec.smoke.iter().filter(smoke)),
                    tag(CheckKind::Hook, hooks.after_step.iter()),
                ]
                .concat(),
            ),
            (
                CheckStage::BeforePromotion,
                tag(CheckKind::Hook, hooks.before_promotion.iter()),
            ),
            (
                CheckStage::PostRollout,
                tag(CheckKind::Hook, hooks.post_rollout.iter()),
            ),
            (
                CheckStage::OnRollback,
                tag(CheckKind::Hook, hooks.on_rollback.iter()),
            ),
        ];
        let mut masker = masker;
        let mut stages = Vec::new();
        for (stage, checks) in groups {
            let mut prepared = Vec::with_capacity(checks.len());
            for (kind, check) in checks {
                let probe = match (&check.http, &check.command) {
                    (Some(request), _) => {
                        Probe::Http(Box::new(http::HttpProbe::new(request, http, &mut masker)?))
                    }
                    (None, Some(script)) => {
                        Probe::Command(command::CommandProbe::new(script, release))
                    }
                    (None, None) => {
                        return Err(ProviderError::new(format!(
                            "check `{}` has neither `http` nor `command`",
                            check.name
                        )));
                    }
                };
                prepared.push(Prepared {
                    kind,
                    spec: check.clone(),
                    probe,
                });
            }
            stages.push((stage, prepared));
        }
        Ok(Self {
            stages,
            clock,
            masker,
        })
    }

    async fn run_one(
        &self,
        check: &Prepared,
        stage: CheckStage,
        step: Option<StepNumber>,
    ) -> CheckResult {
        let started = self.clock.now();
        let deadline = started + check.spec.timeout.get();
        let max_attempts = check.spec.attempts.unwrap_or(u32::MAX).max(1);
        let mut backoff = FIRST_BACKOFF;
        let mut attempts = 0;
        let last = loop {
            attempts += 1;
            let remaining = deadline
                .duration_since(self.clock.now())
                .unwrap_or(Duration::ZERO);
            // Every attempt gets a little time, even one started at the deadline.
            let budget = remaining.max(Duration::from_millis(100));
            let attempt = match &check.probe {
                Probe::Http(probe) => probe.attempt(budget).await,
                Probe::Command(probe) => probe.attempt(budget, stage, step).await,
            };
            let retry_at = self.clock.now() + backoff;
            if attempt.passed || attempts >= max_attempts || retry_at >= deadline {
                break attempt;
            }
            self.clock.sleep_until(retry_at).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        };
        let elapsed = self
            .clock
            .now()
            .duration_since(started)
            .unwrap_or(Duration::ZERO);
        let detail = if last.passed || attempts == 1 {
            last.detail
        } else {
            format!("{} (after {attempts} attempts)", last.detail)
        };
        CheckResult {
            kind: check.kind,
            check: check.spec.name.clone(),
            passed: last.passed,
            detail: self.masker.mask(&detail),
            attempts,
            elapsed,
            output: last.output.map(|output| self.masker.mask(&output)),
        }
    }
}

fn tag<'a>(
    kind: CheckKind,
    checks: impl Iterator<Item = &'a Check>,
) -> Vec<(CheckKind, &'a Check)> {
    checks.map(|check| (kind, check)).collect()
}

#[async_trait]
impl CheckRunner for CheckSuite {
    async fn run(&self, stage: CheckStage, step: Option<StepNumber>) -> Vec<CheckResult> {
        let mut results = Vec::new();
        if let Some((_, checks)) = self
            .stages
            .iter()
            .find(|(candidate, _)| *candidate == stage)
        {
            for check in checks {
                results.push(self.run_one(check, stage, step).await);
            }
        }
        results
    }
}
