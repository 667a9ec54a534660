//! The report: the timeline plus a per-step digest of it, derived once so every
//! format shows the same numbers.

use std::time::SystemTime;

use serde::{Serialize, Serializer};

use super::links::Links;
use crate::engine::event::CheckRecord;
use crate::engine::plan::{Plan, StrategyKind};
use crate::engine::{Event, EventKind, Outcome};
use crate::judge::evidence::BlastRadius;
use crate::judge::{Threshold, Verdict};
use crate::release::Release;
use crate::traffic::Weight;

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub outcome: Outcome,
    /// Why, in one sentence.
    pub reason: String,
    pub name: String,
    pub stable_version: String,
    pub new_version: String,
    pub strategy: StrategyKind,
    #[serde(serialize_with = "optional_rfc3339")]
    pub started_at: Option<SystemTime>,
    #[serde(serialize_with = "optional_rfc3339")]
    pub finished_at: Option<SystemTime>,
    pub steps: Vec<StepDigest>,
    /// Smoke checks and hooks, in the order they ran.
    pub checks: Vec<CheckDigest>,
    /// On a rollback: what the new version served and how much of it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub blast_radius: Option<BlastRadius>,
    /// The CI run, the gates' queries and the commands to finish by hand;
    /// filled in by the command that knows them (`with_links`).
    #[serde(skip_serializing_if = "Links::is_empty")]
    pub links: Links,
    pub timeline: Vec<Event>,
}

#[derive(Debug, Clone, Serialize)]
pub struct StepDigest {
    pub step: usize,
    pub weight: Weight,
    pub planned_hold_ms: u64,
    /// How long the weight was actually held: until the step passed, failed
    /// or halted (so far, for the step in progress); `None` when never reached.
    pub held_ms: Option<u64>,
    pub gates: Vec<GateDigest>,
    pub status: StepStatus,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    Passed,
    Failed,
    Halted,
    NotReached,
}

#[derive(Debug, Clone, Serialize)]
pub struct GateDigest {
    pub metric: String,
    pub threshold: Threshold,
    /// The last value measured in this step.
    pub value: Option<f64>,
    pub measurements: u32,
    /// The worst verdict seen in this step (a comparison's latest: its evidence
    /// only grows); `None` when never measured.
    pub verdict: Option<Verdict>,
    /// A comparison gate's latest evidence in this step, in one sentence.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub evidence: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CheckDigest {
    /// `smoke` or `hook`.
    pub kind: &'static str,
    #[serde(flatten)]
    pub record: CheckRecord,
}

fn optional_rfc3339<S: Serializer>(
    at: &Option<SystemTime>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match at {
        Some(at) => serializer.collect_str(&crate::clock::rfc3339_millis(*at)),
        None => serializer.serialize_none(),
    }
}

fn severity(verdict: Verdict) -> u8 {
    match verdict {
        Verdict::Pass => 0,
        Verdict::NoData => 1,
        Verdict::ProviderError => 2,
        Verdict::Inconclusive => 3,
        Verdict::Fail => 4,
    }
}

impl Report {
    pub fn build(
        release: &Release,
        plan: &Plan,
        outcome: Outcome,
        reason: String,
        timeline: Vec<Event>,
    ) -> Self {
        let gates = plan
            .analysis
            .as_ref()
            .map(|analysis| analysis.gates.as_slice())
            .unwrap_or_default();
        let mut steps: Vec<StepDigest> = plan
            .steps
            .iter()
            .enumerate()
            .map(|(index, step)| StepDigest {
                step: index + 1,
                weight: step.weight,
                planned_hold_ms: step.hold.as_millis().try_into().unwrap_or(u64::MAX),
                held_ms: None,
                gates: if step.analyse {
                    gates
                        .iter()
                        .map(|gate| GateDigest {
                            metric: gate.metric.clone(),
                            threshold: gate.threshold,
                            value: None,
                            measurements: 0,
                            verdict: None,
                            evidence: None,
                        })
                        .collect()
                } else {
                    Vec::new()
                },
                status: StepStatus::NotReached,
            })
            .collect();
        let mut checks = Vec::new();
        // The step holding now, and since when.
        let mut current: Option<(usize, SystemTime)> = None;
        let held = |since: SystemTime, at: SystemTime| {
            at.duration_since(since)
                .map_or(0, |held| held.as_millis().try_into().unwrap_or(u64::MAX))
        };
        for event in &timeline {
            match &event.kind {
                EventKind::WeightSet {
                    step: Some(step), ..
                } => current = Some((step - 1, event.at)),
                EventKind::Gate {
                    step,
                    metric,
                    value,
                    verdict,
                    evidence,
                    ..
                } => {
                    let digest = steps
                        .get_mut(step - 1)
                        .and_then(|step| step.gates.iter_mut().find(|gate| &gate.metric == metric));
                    if let Some(gate) = digest {
                        if value.is_some() {
                            gate.value = *value;
                        }
                        gate.measurements += u32::from(*verdict != Verdict::Inconclusive);
                        if let Some(evidence) = evidence {
                            gate.evidence = Some(evidence.text.clone());
                            gate.verdict = Some(*verdict);
                        } else if gate
                            .verdict
                            .is_none_or(|worst| severity(*verdict) > severity(worst))
                        {
                            gate.verdict = Some(*verdict);
                        }
                    }
                }
                EventKind::StepCompleted { step, held_ms, .. } => {
                    if let Some(digest) = steps.get_mut(step - 1) {
                        digest.held_ms = Some(*held_ms);
                        digest.status = StepStatus::Passed;
                    }
                    current = None;
                }
                EventKind::RollbackStarted { .. }
                | EventKind::Halted { .. }
                | EventKind::Failed { .. } => {
                    if let Some((index, since)) = current
                        && let Some(digest) = steps.get_mut(index)
                    {
                        digest.status = match event.kind {
                            EventKind::Halted { .. } => StepStatus::Halted,
                            _ => StepStatus::Failed,
                        };
                        digest.held_ms = Some(held(since, event.at));
                    }
                    current = None;
                }
                EventKind::Smoke(record) => checks.push(CheckDigest {
                    kind: "smoke",
                    record: record.clone(),
                }),
                EventKind::Hook(record) => checks.push(CheckDigest {
                    kind: "hook",
                    record: record.clone(),
                }),
                _ => {}
            }
        }
        // A live report: the step in progress has held until the latest event.
        if let (Some((index, since)), Some(last)) = (current, timeline.last())
            && let Some(digest) = steps.get_mut(index)
        {
            digest.held_ms = Some(held(since, last.at));
        }
        Self {
            outcome,
            reason,
            name: release.name.clone(),
            stable_version: release.stable_version.clone(),
            new_version: release.new_version.clone(),
            strategy: plan.strategy,
            started_at: timeline.first().map(|event| event.at),
            finished_at: timeline.last().map(|event| event.at),
            steps,
            checks,
            blast_radius: timeline.iter().find_map(|event| match &event.kind {
                EventKind::RollbackStarted { blast_radius, .. } => *blast_radius,
                _ => None,
            }),
            links: Links::default(),
            timeline,
        }
    }

    /// The report with what a person follows from it.
    pub fn with_links(mut self, links: Links) -> Self {
        self.links = links;
        self
    }

    /// The gates' metric names, in plan order (the summary's columns).
    pub fn metrics(&self) -> Vec<&str> {
        let mut names: Vec<&str> = Vec::new();
        for gate in self.steps.iter().flat_map(|step| &step.gates) {
            if !names.contains(&gate.metric.as_str()) {
                names.push(&gate.metric);
            }
        }
        names
    }
}
