//! A small given/when/then DSL over in-memory providers and a virtual clock,
//! so every strategy and failure path of the engine runs in milliseconds; and
//! real HAProxy and Prometheus processes for the provider tests. Everything
//! started here stops when its handle drops, also when a test panics; a
//! missing program fails the test with the command that installs it.

pub mod haproxy;
pub mod http_server;
pub mod memory;
pub mod net;
pub mod process;
pub mod prometheus;
pub mod reference;
pub mod rollout;
pub mod wait;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use greenlight::clock::ManualClock;
use greenlight::engine::plan::Waiting;
use greenlight::engine::{Engine, EventKind, Outcome, Plan};
use greenlight::report::Report;
use greenlight::runner::{self, Providers};
use greenlight::spec::{LoadOptions, load};

pub use memory::{MemoryRouter, MemorySmoke, MemoryTarget, ScriptedMetric, data, error, no_data};

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

pub struct Given {
    plan: Plan,
    metrics: Vec<(String, ScriptedMetric)>,
    waits: Vec<(String, ScriptedMetric)>,
    router: MemoryRouter,
    target: MemoryTarget,
    smoke: MemorySmoke,
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
    let plan = Plan::from_spec(&loaded.spec);
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
        plan,
        metrics,
        waits,
        router: MemoryRouter::default(),
        target: MemoryTarget::default(),
        smoke: MemorySmoke::default(),
    }
}

impl Given {
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

    pub fn smoke(mut self, smoke: MemorySmoke) -> Self {
        self.smoke = smoke;
        self
    }

    pub async fn when_run(self) -> Then {
        let clock = ManualClock::starting_at(epoch());
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
            smoke: Box::new(self.smoke.clone()),
            waits: waits
                .iter()
                .map(|wait| Box::new(wait.clone()) as _)
                .collect(),
        };
        let report = runner::run(&engine, &providers, &clock, &mut [], None).await;
        Then {
            report,
            router: self.router,
            target: self.target,
            metrics,
            waits,
        }
    }
}

pub struct Then {
    pub report: Report,
    pub router: MemoryRouter,
    pub target: MemoryTarget,
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
