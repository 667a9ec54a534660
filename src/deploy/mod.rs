//! Targets deploy a version, say when it is ready, and remove old ones.

pub mod command;
pub mod kubernetes;
pub mod marathon;
pub mod sandbox;

use async_trait::async_trait;

use crate::provider::ProviderError;
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

/// The target a spec asks for; manifest paths are relative to `base`.
pub fn from_spec(
    spec: &crate::spec::types::TargetSpec,
    context: &crate::provider::ProviderContext,
) -> Result<Box<dyn Target>, ProviderError> {
    use crate::spec::types::TargetSpec;
    Ok(match spec {
        TargetSpec::Command(command) => Box::new(command::CommandTargetProvider::new(
            command.clone(),
            context.release.clone(),
        )),
        TargetSpec::Sandbox(_) => Box::new(sandbox::SandboxTarget::new(
            context.sandbox()?,
            context.http.clone(),
        )),
        TargetSpec::Kubernetes(kubernetes) => Box::new(kubernetes::KubernetesTargetProvider::new(
            kubernetes.clone(),
            context.release.clone(),
            context.template.clone(),
            context.base_dir.clone(),
            context.clock.clone(),
        )),
        TargetSpec::Marathon(marathon) => Box::new(marathon::MarathonTarget::new(
            marathon.clone(),
            context.template.clone(),
            context.base_dir.clone(),
            context.clock.clone(),
        )?),
    })
}
