//! In-memory providers: they keep what was asked of them and answer from a script.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use std::time::Duration;

use greenlight::checks::CheckRunner;
use greenlight::deploy::Target;
use greenlight::engine::plan::CheckStage;
use greenlight::engine::{CheckKind, CheckResult};
use greenlight::metrics::{Measurement, MetricSource};
use greenlight::provider::ProviderError;
use greenlight::router::Router;
use greenlight::traffic::{Side, Weight};

pub type Answer = Result<Measurement, ProviderError>;

pub fn data(value: f64) -> Answer {
    Ok(Measurement::Value(value))
}

pub fn no_data() -> Answer {
    Ok(Measurement::NoData)
}

pub fn error(message: &str) -> Answer {
    Err(ProviderError::new(message))
}

#[derive(Clone, Default)]
pub struct MemoryRouter {
    inner: Arc<Mutex<RouterState>>,
}

#[derive(Default)]
struct RouterState {
    weight: u8,
    history: Vec<u8>,
    /// When set, reads back this instead of what was set.
    stuck_at: Option<u8>,
    fail_sets_from: Option<usize>,
    /// Open sessions each drain reports, the last repeating; none: nothing to drain.
    sessions: VecDeque<Result<u64, ProviderError>>,
    drained: Vec<Side>,
}

impl MemoryRouter {
    /// A router whose reads always return `weight`, whatever was set.
    pub fn stuck_at(weight: u8) -> Self {
        let router = Self::default();
        router.inner.lock().unwrap().stuck_at = Some(weight);
        router
    }

    /// A router that refuses the `n`-th set (0-based) and every one after.
    pub fn failing_from(n: usize) -> Self {
        let router = Self::default();
        router.inner.lock().unwrap().fail_sets_from = Some(n);
        router
    }

    /// A router whose drains report these open sessions in turn (the last repeats).
    pub fn draining(sessions: Vec<Result<u64, ProviderError>>) -> Self {
        let router = Self::default();
        router.inner.lock().unwrap().sessions = sessions.into();
        router
    }

    /// The side of every drain call, in order.
    pub fn drains(&self) -> Vec<Side> {
        self.inner.lock().unwrap().drained.clone()
    }

    pub fn history(&self) -> Vec<u8> {
        self.inner.lock().unwrap().history.clone()
    }

    pub fn current(&self) -> u8 {
        self.inner.lock().unwrap().weight
    }
}

#[async_trait]
impl Router for MemoryRouter {
    fn describe(&self) -> String {
        "memory router".into()
    }

    fn plan(&self, weight: Weight) -> Vec<String> {
        vec![format!("set memory weight to {weight}")]
    }

    async fn weight(&self) -> Result<Weight, ProviderError> {
        let state = self.inner.lock().unwrap();
        Ok(Weight::new(state.stuck_at.unwrap_or(state.weight)).unwrap())
    }

    async fn set_weight(&self, weight: Weight) -> Result<(), ProviderError> {
        let mut state = self.inner.lock().unwrap();
        state.history.push(weight.percent());
        if state
            .fail_sets_from
            .is_some_and(|n| state.history.len() > n)
        {
            return Err(ProviderError::new("router refused the change"));
        }
        state.weight = weight.percent();
        Ok(())
    }

    async fn drain(&self, side: Side) -> Result<Option<u64>, ProviderError> {
        let mut state = self.inner.lock().unwrap();
        state.drained.push(side);
        let sessions = &mut state.sessions;
        let answer = if sessions.len() > 1 {
            sessions.pop_front()
        } else {
            sessions.front().cloned()
        };
        answer.transpose()
    }
}

#[derive(Clone, Default)]
pub struct MemoryTarget {
    inner: Arc<Mutex<TargetState>>,
}

#[derive(Default)]
struct TargetState {
    deploy_error: Option<String>,
    log: Vec<String>,
}

impl MemoryTarget {
    pub fn failing_deploy(reason: &str) -> Self {
        let target = Self::default();
        target.inner.lock().unwrap().deploy_error = Some(reason.into());
        target
    }

    /// `deploy v2`, `retire v1`, … in order.
    pub fn log(&self) -> Vec<String> {
        self.inner.lock().unwrap().log.clone()
    }
}

#[async_trait]
impl Target for MemoryTarget {
    fn describe(&self) -> String {
        "memory target".into()
    }

    fn plan_deploy(&self, version: &str) -> Vec<String> {
        vec![format!("deploy {version}")]
    }

    fn plan_retire(&self, version: &str) -> Vec<String> {
        vec![format!("retire {version}")]
    }

    async fn deploy(&self, version: &str) -> Result<(), ProviderError> {
        let mut state = self.inner.lock().unwrap();
        state.log.push(format!("deploy {version}"));
        match &state.deploy_error {
            Some(reason) => Err(ProviderError::new(reason.clone())),
            None => Ok(()),
        }
    }

    async fn retire(&self, version: &str) -> Result<(), ProviderError> {
        self.inner
            .lock()
            .unwrap()
            .log
            .push(format!("retire {version}"));
        Ok(())
    }
}

/// Answers from a script, then repeats its last answer; counts the calls.
#[derive(Clone)]
pub struct ScriptedMetric {
    inner: Arc<Mutex<(VecDeque<Answer>, usize)>>,
}

impl ScriptedMetric {
    pub fn new(answers: Vec<Answer>) -> Self {
        Self {
            inner: Arc::new(Mutex::new((answers.into(), 0))),
        }
    }

    pub fn calls(&self) -> usize {
        self.inner.lock().unwrap().1
    }
}

#[async_trait]
impl MetricSource for ScriptedMetric {
    fn describe(&self) -> String {
        "scripted metric".into()
    }

    async fn measure(&self) -> Result<Measurement, ProviderError> {
        let mut inner = self.inner.lock().unwrap();
        inner.1 += 1;
        let answers = &mut inner.0;
        if answers.len() > 1 {
            answers.pop_front().unwrap()
        } else {
            answers.front().cloned().unwrap_or(Ok(Measurement::NoData))
        }
    }
}

/// A stage that ran, and the step it followed.
pub type StageRun = (CheckStage, Option<usize>);

/// Answers every check of a stage as scripted: passing unless named as failing.
#[derive(Clone, Default)]
pub struct MemoryChecks {
    failing: Vec<(CheckStage, String)>,
    log: Arc<Mutex<Vec<StageRun>>>,
}

impl MemoryChecks {
    /// The check `name` of `stage` fails; every other check passes.
    pub fn failing(stage: CheckStage, name: &str) -> Self {
        Self {
            failing: vec![(stage, name.into())],
            ..Self::default()
        }
    }

    /// Which stages ran, with the step they followed.
    pub fn log(&self) -> Vec<StageRun> {
        self.log.lock().unwrap().clone()
    }
}

#[async_trait]
impl CheckRunner for MemoryChecks {
    async fn run(&self, stage: CheckStage, step: Option<usize>) -> Vec<CheckResult> {
        self.log.lock().unwrap().push((stage, step));
        let name = self
            .failing
            .iter()
            .find(|(failing, _)| *failing == stage)
            .map(|(_, name)| name.clone());
        vec![CheckResult {
            kind: if stage == CheckStage::BeforeTraffic {
                CheckKind::Smoke
            } else {
                CheckKind::Hook
            },
            check: name.clone().unwrap_or_else(|| "healthz".into()),
            passed: name.is_none(),
            detail: if name.is_some() {
                "answered 503".into()
            } else {
                "answered 200".into()
            },
            attempts: 1,
            elapsed: Duration::from_millis(12),
            output: None,
        }]
    }
}
