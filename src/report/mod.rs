//! Reports consume the engine's events and the final report; they never decide.

mod chart;
pub mod comment;
pub mod console;
mod gitlab_sections;
pub mod json;
pub mod junit;
pub mod links;
pub mod live;
pub mod markdown;
mod model;
pub mod sticky;

pub use model::{CheckDigest, GateDigest, Report, StepDigest, StepStatus};

use std::path::Path;

use async_trait::async_trait;

use crate::duration::display;
use crate::engine::{Event, EventKind};

/// A report the runner feeds inline: it must not wait on anything remote
/// (forge reports go through [`live::LiveReports`]).
#[async_trait]
pub trait Reporter: Send {
    /// Called as each event happens, for live progress.
    async fn event(&mut self, event: &Event);
    /// Called once with the final report. Failing to report never changes the
    /// outcome: the runner logs the error as a warning.
    async fn finish(&mut self, report: &Report) -> Result<(), String>;
}

/// One line of plain text per event, with the numbers; shared by every format.
pub fn describe_event(kind: &EventKind) -> String {
    match kind {
        EventKind::Started {
            name,
            stable_version,
            new_version,
        } => {
            format!("rollout of {name} started: {stable_version} → {new_version}")
        }
        EventKind::Deployed { version } => format!("{version} deployed and ready"),
        EventKind::DeployFailed { version, error } => {
            format!("{version} failed to deploy: {error}")
        }
        EventKind::Smoke(record) => format!("smoke `{}`: {}", record.check, describe_check(record)),
        EventKind::Hook(record) => {
            format!(
                "{} hook `{}`: {}",
                record.stage.as_str(),
                record.check,
                describe_check(record)
            )
        }
        EventKind::WeightSet {
            weight,
            step: Some(step),
        } => format!("step {step}: weight {weight} set and verified"),
        EventKind::WeightSet { weight, step: None } => format!("weight {weight} set and verified"),
        EventKind::Gate {
            step,
            metric,
            verdict,
            evidence: Some(evidence),
            ..
        } => format!(
            "step {step}: {metric}: {} → {}",
            evidence.text,
            verdict.as_str()
        ),
        EventKind::Gate {
            step,
            metric,
            value,
            min,
            max,
            verdict,
            error,
            requests,
            ..
        } => {
            let threshold = crate::judge::Threshold {
                min: *min,
                max: *max,
            };
            let measured = match (value, error) {
                (Some(value), _) => crate::judge::format_value(*value),
                (None, Some(error)) => format!("error: {error}"),
                (None, None) => "no value".to_owned(),
            };
            let sample = requests.map_or_else(String::new, |requests| {
                format!(
                    " after {} requests",
                    crate::judge::evidence::thousands(requests)
                )
            });
            // A comparison gate without evidence yet has no bounds to show.
            let bounds = if threshold == crate::judge::Threshold::ANY {
                String::new()
            } else {
                format!(" ({threshold})")
            };
            format!(
                "step {step}: {metric} = {measured}{bounds}{sample} → {}",
                verdict.as_str()
            )
        }
        EventKind::StepCompleted {
            step,
            weight,
            held_ms,
        } => format!(
            "step {step} passed at {weight} after {}",
            display(std::time::Duration::from_millis(*held_ms))
        ),
        EventKind::RollbackStarted {
            reason,
            blast_radius: None,
        } => format!("rolling back: {reason}"),
        EventKind::RollbackStarted {
            reason,
            blast_radius: Some(blast_radius),
        } => format!(
            "rolling back: {reason}; blast radius: {}",
            blast_radius.text()
        ),
        EventKind::RollbackCompleted { weight } => {
            format!("rollback verified: new version at {weight}")
        }
        EventKind::Promoted { version } => format!("{version} promoted"),
        EventKind::Drained { version, waited_ms } => format!(
            "{version}'s servers drained after {}",
            display(std::time::Duration::from_millis(*waited_ms))
        ),
        EventKind::WaitGate {
            metric,
            value,
            max,
            waited_ms,
        } => format!(
            "{metric} = {} (≤ {}) after {}: ready to remove",
            crate::judge::format_value(*value),
            crate::judge::format_value(*max),
            display(std::time::Duration::from_millis(*waited_ms))
        ),
        EventKind::Retired { version } => format!("{version} removed"),
        EventKind::Halted { reason } => format!("halted: {reason}"),
        EventKind::Failed { error } => format!("failed: {error}"),
        EventKind::Warning { message } => format!("warning: {message}"),
    }
}

fn describe_check(record: &crate::engine::event::CheckRecord) -> String {
    let step = record
        .step
        .map(|step| format!(" after step {step}"))
        .unwrap_or_default();
    format!("{}{step} ({})", record.verdict.as_str(), record.detail)
}

/// Writes a report file, creating its folder.
pub fn write_file(path: &Path, text: &str) -> Result<(), String> {
    if let Some(parent) = path
        .parent()
        .filter(|parent| !parent.as_os_str().is_empty())
    {
        std::fs::create_dir_all(parent)
            .map_err(|error| format!("cannot create {}: {error}", parent.display()))?;
    }
    std::fs::write(path, crate::secrets::mask(text))
        .map_err(|error| format!("cannot write {}: {error}", path.display()))
}
