//! Where the record of a rollout lives, and who holds its lock. It belongs with
//! the system being changed, so a re-run resumes and a manual job can roll back.

pub mod config_map;
pub mod file;
mod file_lock;
pub mod guard;
mod lease;
pub mod live;
pub mod lock;

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
    /// For specs with fixed pools: the pool the stable version runs in
    /// (`crate::pool`); the next release deploys to the other one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stable_pool: Option<crate::pool::Pool>,
    /// The name `pools:` gave that pool when the record was written: a spec
    /// whose `pools:` were reordered or renamed since is refused instead of
    /// swapping the sides silently (`resolve::Source::live_pool`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stable_pool_name: Option<String>,
    /// A change started and not yet verified: written before the change,
    /// cleared once it is read back, so a crash in between is recognised.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending: Option<Pending>,
    /// Why a rollout that did not promote ended as it did, in full: for a
    /// rollback that could not finish, where it left traffic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// What was under way when the record was written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "change")]
pub enum Pending {
    /// Moving traffic to `weight`% on the new version.
    #[serde(rename = "weight")]
    Weight { weight: u8 },
    /// Putting all traffic back on the stable version, because of `reason`;
    /// the new version must never get traffic again.
    #[serde(rename = "rollback")]
    RollBack { reason: String },
    /// The new version serves 100% (verified) and `version`, the old one, is
    /// being removed.
    #[serde(rename = "retire")]
    Retire { version: String },
    /// A migration (`strategy.migrate`) is taking the stable version's tasks
    /// out; `left` are the ids of those still running. A re-run lists them
    /// again and goes on.
    #[serde(rename = "migration")]
    Migration { left: Vec<String> },
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
            stable_pool: None,
            stable_pool_name: None,
            pending: None,
            reason: None,
        }
    }

    /// Records the pools of a release that started with the stable version
    /// in `stable`, the pools named `names` (`None`: the spec has no fixed
    /// pools); once promoted, the new version's pool is the stable one.
    pub fn in_pools(
        mut self,
        stable: Option<crate::pool::Pool>,
        names: Option<&crate::pool::Sides>,
    ) -> Self {
        let promoted = self.phase == RecordPhase::Promoted;
        self.stable_pool = stable.map(|pool| if promoted { pool.other() } else { pool });
        self.stable_pool_name = names
            .filter(|_| stable.is_some())
            .map(|names| if promoted { &names.new } else { &names.stable }.clone());
        self
    }
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

/// A state store's settings under `state:`. The spec's `StateSpec` only picks
/// one; the store says what its settings mean.
pub trait StoreSettings {
    /// The store keeping the record (and the lock) of `service`.
    fn build(&self, service: &str) -> Box<dyn StateStore>;
}

#[async_trait]
pub trait StateStore: Send + Sync {
    fn describe(&self) -> String;
    async fn load(&self) -> Result<Option<Record>, ProviderError>;
    async fn save(&self, record: &Record) -> Result<(), ProviderError>;
    /// Takes the rollout's lock unless another holder has it and it has not
    /// expired; a compare-and-swap, so of two jobs asking at once one wins.
    async fn acquire(&self, request: &lock::Request) -> Result<lock::Acquired, ProviderError>;
    /// Extends a lock this process holds; fails once another holder took it.
    async fn renew(
        &self,
        held: &lock::Held,
        now: std::time::SystemTime,
    ) -> Result<lock::Held, ProviderError>;
    /// Gives the lock up; one that another holder took meanwhile is left alone.
    async fn release(&self, held: &lock::Held) -> Result<(), ProviderError>;
}
