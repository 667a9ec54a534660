//! A small given/when/then DSL over in-memory providers and a virtual clock,
//! so every strategy and failure path of the engine runs in milliseconds; and
//! real HAProxy and Prometheus processes for the provider tests. Everything
//! started here stops when its handle drops, also when a test panics; a
//! missing program fails the test with the command that installs it.

pub mod admin_router;
pub mod binary;
pub mod ci;
pub mod edgelb;
pub mod haproxy;
pub mod http_server;
pub mod junit_schema;
pub mod kube_api;
pub mod marathon;
pub mod memory;
pub mod net;
pub mod pool_app;
pub mod process;
pub mod prometheus;
pub mod reference;
pub mod rollout;
pub mod snapshot;
pub mod wait;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use greenlight::clock::ManualClock;
use greenlight::engine::plan::{Mode, Waiting};
use greenlight::engine::{Engine, EventKind, Outcome, Plan};
use greenlight::report::{Report, Reporter};
use greenlight::runner::{self, Providers};
use greenlight::spec::{LoadOptions, RolloutSpec, load};

pub use memory::{MemoryChecks, MemoryRouter, MemoryTarget, ScriptedMetric, data, error, no_data};

/// 2026-01-01T00:00:00Z: reports are byte-for-byte stable on the virtual clock.
pub fn epoch() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_767_225_600)
}

/// A rollout spec around the given `strategy:`/`analysis:`/`smoke:` YAML.
pub fn spec_yaml(body: &str) -> String {
    format!(
        "apiVersion: greenlight.dev/v1alpha1\nkind: Rollout\nmetadata:\n  name: checkout\ntarget:\n  command:\n    deploy: 'true'\nrouter:\n  command:\n    set: 'true'\n    get: echo 0\n{body}"
    )
}

/// The `strategy:`/`analysis:` of the canary most engine tests run: 10% then
/// 50%, 30 s holds, one `error-rate` gate (at most 5%) measured every
/// `interval`, with `analysis_extra` (indented lines) added to the analysis.
pub fn two_step_canary(interval: &str, analysis_extra: &str) -> String {
    format!(
        "
strategy:
  canary:
    steps:
      - {{weight: 10, hold: 30s}}
      - {{weight: 50, hold: 30s}}
analysis:
  interval: {interval}
{analysis_extra}  metrics:
    - name: error-rate
      query: {{command: 'true'}}
      max: 0.05
"
    )
}

pub struct Given {
    spec: RolloutSpec,
    plan: Plan,
    metrics: Vec<(String, ScriptedMetric)>,
    waits: Vec<(String, ScriptedMetric)>,
    router: MemoryRouter,
    target: MemoryTarget,
    checks: MemoryChecks,
    cancel_at_step: Option<usize>,
}

/// Starts a scenario from the YAML of a spec's strategy and analysis.
pub fn given(body: &str) -> Given {
    let loaded = load(
        "test.yaml",
        &spec_yaml(body),
        &LoadOptions {
            version: "v2".into(),
            stable_version: "v1".into(),
            ..LoadOptions::default()
        },
    )
    .unwrap_or_else(|error| panic!("test spec does not load: {error}"));
    let plan = Plan::from_spec(&loaded.spec, &loaded.spec.router.capabilities());
    let metrics = plan
        .analysis
        .iter()
        .flat_map(|analysis| &analysis.gates)
        .map(|gate| (gate.metric.clone(), ScriptedMetric::new(vec![data(0.0)])))
        .collect();
    let waits = plan
        .before_retire
        .iter()
        .map(|gate| (gate.metric.clone(), ScriptedMetric::new(vec![data(0.0)])))
        .collect();
    Given {
        spec: loaded.spec,
        plan,
        metrics,
        waits,
        router: MemoryRouter::default(),
        target: MemoryTarget::default(),
        checks: MemoryChecks::default(),
        cancel_at_step: None,
    }
}

impl Given {
    /// The plan, for reporters that need it up front.
    pub fn plan(&self) -> Plan {
        self.plan.clone()
    }

    /// What `metric` answers, measurement by measurement; the last answer repeats.
    pub fn metric(mut self, metric: &str, answers: Vec<memory::Answer>) -> Self {
        let slot = self.metrics.iter_mut().find(|(name, _)| name == metric);
        let Some((_, source)) = slot else {
            panic!("no gate named {metric}")
        };
        *source = ScriptedMetric::new(answers);
        self
    }

    /// What the wait-until gate `metric` answers, measurement by measurement.
    pub fn wait_gate(mut self, metric: &str, answers: Vec<memory::Answer>) -> Self {
        let slot = self.waits.iter_mut().find(|(name, _)| name == metric);
        let Some((_, source)) = slot else {
            panic!("no wait-until gate named {metric}")
        };
        *source = ScriptedMetric::new(answers);
        self
    }

    /// The short plan of a manual command (`promote`, `rollback`, `abort`)
    /// instead of the whole rollout.
    pub fn by_hand(mut self, mode: Mode) -> Self {
        let router = self.spec.router.capabilities();
        self.plan = Plan::by_hand(&self.spec, &router, mode);
        self
    }

    /// Drain before removing a version, as `router.haproxy.drain` asks.
    pub fn drain(mut self, timeout: Duration, interval: Duration) -> Self {
        self.plan.drain = Some(Waiting { timeout, interval });
        self
    }

    pub fn router(mut self, router: MemoryRouter) -> Self {
        self.router = router;
        self
    }

    pub fn target(mut self, target: MemoryTarget) -> Self {
        self.target = target;
        self
    }

    /// Cancels the rollout (as a signal would) once step `step`'s weight is set.
    pub fn cancelled_at_step(mut self, step: usize) -> Self {
        self.cancel_at_step = Some(step);
        self
    }

    pub fn checks(mut self, checks: MemoryChecks) -> Self {
        self.checks = checks;
        self
    }

    pub async fn when_run(self) -> Then {
        self.when_run_with(Vec::new()).await
    }

    /// Runs with `reporters` listening, as `greenlight run` does.
    pub async fn when_run_with(self, reporters: Vec<Box<dyn Reporter>>) -> Then {
        self.when_run_on(&ManualClock::starting_at(epoch()), reporters)
            .await
    }

    /// Runs on `clock` with `reporters` listening.
    pub async fn when_run_on(
        self,
        clock: &dyn greenlight::clock::Clock,
        mut reporters: Vec<Box<dyn Reporter>>,
    ) -> Then {
        let engine = Engine {
            plan: self.plan,
            name: "checkout".into(),
            stable_version: "v1".into(),
            new_version: "v2".into(),
        };
        let metrics: Vec<ScriptedMetric> =
            self.metrics.into_iter().map(|(_, metric)| metric).collect();
        let waits: Vec<ScriptedMetric> = self.waits.into_iter().map(|(_, wait)| wait).collect();
        let providers = Providers {
            target: Box::new(self.target.clone()),
            router: Box::new(self.router.clone()),
            metrics: metrics
                .iter()
                .map(|metric| Box::new(metric.clone()) as _)
                .collect(),
            checks: Box::new(self.checks.clone()),
            waits: waits
                .iter()
                .map(|wait| Box::new(wait.clone()) as _)
                .collect(),
            task_gate: None,
        };
        let cancellation = self.cancel_at_step.map(|step| {
            let (cancel, cancellation) = runner::Cancellation::new();
            reporters.push(Box::new(CancelAtStep { step, cancel }));
            cancellation
        });
        let report = runner::run(
            &engine,
            &providers,
            clock,
            &mut reporters,
            None,
            cancellation,
        )
        .await;
        Then {
            report,
            router: self.router,
            target: self.target,
            checks: self.checks,
            metrics,
            waits,
        }
    }
}

/// Sends a cancellation when a given step's weight is set.
struct CancelAtStep {
    step: usize,
    cancel: tokio::sync::watch::Sender<Option<String>>,
}

#[async_trait::async_trait]
impl Reporter for CancelAtStep {
    async fn event(&mut self, event: &greenlight::engine::Event) {
        if matches!(event.kind, EventKind::WeightSet { step: Some(step), .. } if step == self.step)
        {
            let _ = self
                .cancel
                .send(Some("the rollout was cancelled (SIGTERM)".into()));
        }
    }

    async fn finish(&mut self, _report: &Report) -> Result<(), String> {
        Ok(())
    }
}

/// tokio's clock, paused in a test: whatever really waits (a timeout on a
/// socket that never answers) moves it, so a stall shows in the timeline.
pub struct TokioClock {
    start: SystemTime,
    origin: tokio::time::Instant,
}

impl TokioClock {
    pub fn starting_at(start: SystemTime) -> Self {
        Self {
            start,
            origin: tokio::time::Instant::now(),
        }
    }
}

#[async_trait::async_trait]
impl greenlight::clock::Clock for TokioClock {
    fn now(&self) -> SystemTime {
        self.start + self.origin.elapsed()
    }

    async fn sleep_until(&self, deadline: SystemTime) {
        let wait = deadline.duration_since(self.start).unwrap_or_default();
        tokio::time::sleep_until(self.origin + wait).await;
    }
}

pub struct Then {
    pub report: Report,
    pub router: MemoryRouter,
    pub target: MemoryTarget,
    pub checks: MemoryChecks,
    pub metrics: Vec<ScriptedMetric>,
    pub waits: Vec<ScriptedMetric>,
}

impl Then {
    pub fn outcome(&self) -> Outcome {
        self.report.outcome
    }

    /// Every weight the router was asked to set, in order.
    pub fn weights_set(&self) -> Vec<u8> {
        self.router.history()
    }

    pub fn events(&self) -> impl Iterator<Item = &EventKind> {
        self.report.timeline.iter().map(|event| &event.kind)
    }

    pub fn promoted(&self) -> bool {
        self.events()
            .any(|kind| matches!(kind, EventKind::Promoted { .. }))
    }

    /// Seconds from the first event to the first event matching `find`.
    pub fn seconds_until(&self, find: impl Fn(&EventKind) -> bool) -> Option<f64> {
        let start = self.report.timeline.first()?.at;
        let event = self
            .report
            .timeline
            .iter()
            .find(|event| find(&event.kind))?;
        Some(event.at.duration_since(start).ok()?.as_secs_f64())
    }
}

/// A spec whose router and metric are files in `dir`, so a test can steer them.
pub fn file_driven_spec(dir: &std::path::Path) -> std::path::PathBuf {
    file_driven_spec_holding(dir, "200ms")
}

/// `file_driven_spec` with each of its two steps held for `hold`.
pub fn file_driven_spec_holding(dir: &std::path::Path, hold: &str) -> std::path::PathBuf {
    let spec = format!(
        "apiVersion: greenlight.dev/v1alpha1
kind: Rollout
metadata:
  name: checkout
target:
  command:
    deploy: echo deploy $GREENLIGHT_VERSION >> {dir}/log
    retire: echo retire $GREENLIGHT_VERSION >> {dir}/log
router:
  command:
    set: echo $GREENLIGHT_WEIGHT > {dir}/weight
    get: cat {dir}/weight
strategy:
  canary:
    steps:
      - {{weight: 20, hold: {hold}}}
      - {{weight: 60, hold: {hold}}}
analysis:
  interval: 100ms
  metrics:
    - name: error-rate
      query: {{command: cat {dir}/error-rate}}
      max: 0.05
state:
  file: {dir}/state.json
",
        dir = dir.display()
    );
    let path = dir.join("greenlight.yaml");
    std::fs::write(&path, spec).unwrap();
    path
}
