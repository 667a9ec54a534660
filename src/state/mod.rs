//! Where the record of a rollout lives, and who holds its lock. It belongs with
//! the system being changed, so a re-run resumes and a manual job can roll back.

pub mod config_map;
pub mod file;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::provider::ProviderError;

/// The last known state of a service's rollouts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Record {
    pub name: String,
    /// The version that serves users when no rollout is in progress.
    pub stable_version: String,
    /// The version being rolled out, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_version: Option<String>,
    pub phase: RecordPhase,
    /// Percent of traffic on the new version, as last verified.
    pub weight: u8,
    /// Who runs the rollout now (a CI run URL, or host and process).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub holder: Option<String>,
    pub updated_at: String,
}

impl Record {
    /// Where a rollout of `release` stands: after a promotion the new version
    /// is the stable one and nothing is pending.
    pub fn of(
        release: &crate::release::Release,
        phase: RecordPhase,
        weight: u8,
        holder: Option<String>,
        at: std::time::SystemTime,
    ) -> Self {
        let promoted = phase == RecordPhase::Promoted;
        Self {
            name: release.name.clone(),
            stable_version: if promoted {
                &release.new_version
            } else {
                &release.stable_version
            }
            .clone(),
            new_version: (!promoted).then(|| release.new_version.clone()),
            phase,
            weight: if promoted { 0 } else { weight },
            holder: holder.filter(|_| phase == RecordPhase::InProgress),
            updated_at: crate::clock::rfc3339_millis(at),
        }
    }
}

/// The record of a rollout still in progress under another job's name: the
/// lock every command that moves traffic respects (`holder` is this job).
pub fn held_elsewhere<'r>(record: Option<&'r Record>, holder: &str) -> Option<&'r Record> {
    record.filter(|record| {
        record.phase == RecordPhase::InProgress && record.holder.as_deref() != Some(holder)
    })
}

/// Saves a record; a failure is a warning, never a reason to stop moving
/// traffic safely.
pub async fn save_or_warn(store: &dyn StateStore, record: &Record) {
    if let Err(error) = store.save(record).await {
        tracing::warn!(
            "could not save the rollout state to {}: {error}",
            store.describe()
        );
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordPhase {
    InProgress,
    Promoted,
    RolledBack,
    Halted,
    Failed,
    /// Stopped by `greenlight abort`: traffic on stable, the new version left running.
    Aborted,
}

#[async_trait]
pub trait StateStore: Send + Sync {
    fn describe(&self) -> String;
    async fn load(&self) -> Result<Option<Record>, ProviderError>;
    async fn save(&self, record: &Record) -> Result<(), ProviderError>;
}
