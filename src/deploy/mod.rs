//! Targets deploy a version, say when it is ready, and remove old ones.

pub mod command;
pub mod kubernetes;
pub mod marathon;
pub mod sandbox;

use async_trait::async_trait;

use crate::field::{FieldPath, Problem};
use crate::kubernetes::ClusterSpec;
use crate::provider::{ProviderContext, ProviderError};
use crate::traffic::Task;

/// What a target says when asked to do a migration step it cannot do.
fn cannot_migrate(target: String) -> ProviderError {
    ProviderError::new(format!("{target} cannot take a version apart task by task"))
        .with_hint("`strategy.migrate` needs `target: marathon`")
}

#[async_trait]
pub trait Target: Send + Sync {
    fn describe(&self) -> String;
    /// The exact changes `deploy(version)` would make, for `plan`; no I/O.
    fn plan_deploy(&self, version: &str) -> Vec<String>;
    /// The exact changes `retire(version)` would make, for `plan`; no I/O.
    fn plan_retire(&self, version: &str) -> Vec<String>;
    /// Deploys `version` beside the running one and returns once it is ready.
    async fn deploy(&self, version: &str) -> Result<(), ProviderError>;
    /// Scales down or removes `version`.
    async fn retire(&self, version: &str) -> Result<(), ProviderError>;

    /// The exact changes `launch(version)` would make, for `plan`; no I/O.
    fn plan_launch(&self, version: &str) -> Vec<String> {
        self.plan_deploy(version)
    }
    /// Deploys `version` for a migration: from no instance, then scaled up, and
    /// returns once every instance is ready.
    async fn launch(&self, version: &str) -> Result<(), ProviderError> {
        self.deploy(version).await
    }
    /// How many tasks `version` runs by its definition, for `plan`; no I/O.
    fn planned_tasks(&self, _version: &str) -> Option<u64> {
        None
    }
    /// The exact changes `tasks` and `kill_tasks` make, for `plan`; no I/O.
    fn plan_kill(&self, _version: &str) -> Vec<String> {
        Vec::new()
    }
    /// The exact changes `restore(version)` would make, for `plan`; no I/O.
    fn plan_restore(&self, _version: &str) -> Vec<String> {
        Vec::new()
    }
    /// Brings `version` back to its definition's instance count (tasks a
    /// migration killed) before traffic returns to it, and returns once every
    /// instance is ready. A target that never kills single tasks has nothing
    /// to bring back.
    async fn restore(&self, _version: &str) -> Result<(), ProviderError> {
        Ok(())
    }
    /// The running tasks of `version`.
    async fn tasks(&self, _version: &str) -> Result<Vec<Task>, ProviderError> {
        Err(cannot_migrate(self.describe()))
    }
    /// Kills tasks of `version` by id, scales it down by as many, and returns
    /// once the version runs the rest.
    async fn kill_tasks(&self, _version: &str, _ids: &[String]) -> Result<(), ProviderError> {
        Err(cannot_migrate(self.describe()))
    }
}

/// How long a deploy may take when the spec does not say (10m).
fn default_deploy_timeout() -> crate::duration::Span {
    crate::duration::Span::from_secs(600)
}

/// What a target's settings in the spec know about it. Each target's spec
/// struct implements this beside the target; `TargetSpec` only picks one.
pub trait TargetSettings {
    /// Its key under `target:` (`kubernetes`, `marathon`, …).
    fn kind(&self) -> &'static str;
    /// Rules its settings must follow that the types cannot express, at
    /// `path` (`target.<kind>`).
    fn check(&self, _path: FieldPath, _problems: &mut Vec<Problem>) {}
    /// Whether it knows a version's single tasks and can kill a batch of
    /// them (what `strategy.migrate` needs).
    fn kills_single_tasks(&self) -> bool {
        false
    }
    /// The Kubernetes cluster it deploys to, if any: the state record is kept
    /// there by default.
    fn cluster(&self) -> Option<ClusterSpec> {
        None
    }
    /// The target itself; file paths are relative to the context's `base_dir`.
    fn build(&self, context: &ProviderContext) -> Result<Box<dyn Target>, ProviderError>;
}
