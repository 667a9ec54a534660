//! The timeline: every decision the engine takes, with the numbers behind it.
//! Reports are rendered from these events; they never decide anything.

use std::time::SystemTime;

use serde::{Serialize, Serializer};

use crate::engine::plan::CheckStage;
use crate::judge::Verdict;
use crate::judge::evidence::{BlastRadius, Evidence};
use crate::traffic::Weight;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Event {
    #[serde(serialize_with = "rfc3339")]
    pub at: SystemTime,
    #[serde(flatten)]
    pub kind: EventKind,
}

fn rfc3339<S: Serializer>(at: &SystemTime, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_str(&crate::clock::rfc3339_millis(*at))
}

/// Steps are numbered from 1, as people count them.
pub type StepNumber = usize;

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EventKind {
    Started {
        name: String,
        stable_version: String,
        new_version: String,
    },
    Deployed {
        version: String,
    },
    DeployFailed {
        version: String,
        error: String,
    },
    /// A smoke check ran (before traffic, or after a step).
    Smoke(CheckRecord),
    /// A hook ran.
    Hook(CheckRecord),
    /// A weight was set and read back from the router.
    WeightSet {
        weight: Weight,
        #[serde(skip_serializing_if = "Option::is_none")]
        step: Option<StepNumber>,
    },
    /// One measurement of one metric.
    Gate {
        step: StepNumber,
        metric: String,
        value: Option<f64>,
        #[serde(skip_serializing_if = "Option::is_none")]
        min: Option<f64>,
        #[serde(skip_serializing_if = "Option::is_none")]
        max: Option<f64>,
        verdict: Verdict,
        #[serde(skip_serializing_if = "Option::is_none")]
        error: Option<String>,
        /// Requests behind the value, when the source counts them.
        #[serde(skip_serializing_if = "Option::is_none")]
        requests: Option<u64>,
        /// A comparison gate's estimates, interval and sentence.
        #[serde(skip_serializing_if = "Option::is_none")]
        evidence: Option<Evidence>,
    },
    StepCompleted {
        step: StepNumber,
        weight: Weight,
        held_ms: u64,
    },
    RollbackStarted {
        reason: String,
        /// What the new version served before traffic left it, when a comparison gate counted it.
        #[serde(skip_serializing_if = "Option::is_none")]
        blast_radius: Option<BlastRadius>,
    },
    RollbackCompleted {
        weight: Weight,
    },
    Promoted {
        version: String,
    },
    /// A version's servers hold no session any more (HAProxy drain).
    Drained {
        version: String,
        waited_ms: u64,
    },
    /// A wait-until gate was met before the old version was removed.
    WaitGate {
        metric: String,
        value: f64,
        max: f64,
        waited_ms: u64,
    },
    /// A migration put the new version in the load balancer beside the old
    /// version's `tasks` tasks.
    MigrationStarted {
        version: String,
        tasks: usize,
    },
    /// A task out of the load balancer passed the drain gate.
    TaskDrained {
        task: String,
        metric: String,
        value: f64,
        max: f64,
        waited_ms: u64,
    },
    /// A batch of the old version's tasks was killed; `left` still run.
    TasksKilled {
        version: String,
        tasks: Vec<String>,
        left: usize,
    },
    Retired {
        version: String,
    },
    Halted {
        reason: String,
    },
    Failed {
        error: String,
    },
    /// Something went wrong that does not change the outcome.
    Warning {
        message: String,
    },
}

/// One smoke check or hook, as it ended.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CheckRecord {
    pub stage: CheckStage,
    /// The step it followed, for checks after a step.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step: Option<StepNumber>,
    pub check: String,
    pub verdict: Verdict,
    pub detail: String,
    pub attempts: u32,
    pub elapsed_ms: u64,
    /// What a command printed (size-capped, secrets masked).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
}

/// How a rollout ended; the JSON report's `outcome`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Promoted,
    RolledBack,
    Halted,
    Failed,
    Planned,
}

impl Outcome {
    /// The process exit code of each outcome: 0 promoted (or planned), 2 rolled
    /// back, 3 halted for a person, 1 failed (see the README).
    pub fn exit_code(self) -> u8 {
        match self {
            Outcome::Promoted | Outcome::Planned => 0,
            Outcome::Failed => 1,
            Outcome::RolledBack => 2,
            Outcome::Halted => 3,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Promoted => "promoted",
            Outcome::RolledBack => "rolled back",
            Outcome::Halted => "halted",
            Outcome::Failed => "failed",
            Outcome::Planned => "planned",
        }
    }
}
