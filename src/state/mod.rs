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
