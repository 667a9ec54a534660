//! Targets deploy a version, say when it is ready, and remove old ones.

pub mod command;
pub mod kubernetes;
pub mod sandbox;

use async_trait::async_trait;

use crate::provider::ProviderError;

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
            std::sync::Arc::new(crate::clock::SystemClock),
        )),
    })
}
