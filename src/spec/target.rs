//! The target a spec names (`TargetSpec`), handed to the deploy module that
//! knows it (`TargetSettings`): its own checks, its cluster and its
//! constructor. Adding a target adds one arm to the `settings_enum!` list below;
//! everything else is in its own module under `deploy/`.

use crate::deploy::{Target, TargetSettings};
use crate::field::{FieldPath, Problem};
use crate::kubernetes::ClusterSpec;
use crate::provider::{ProviderContext, ProviderError};

use super::types::{CommandTarget, KubernetesTarget, MarathonTarget, SandboxProvider};

super::settings_enum! {
    TargetSpec: TargetSettings;
    /// Deploy with your own tooling (helm, kustomize, ansible, a script).
    Command(CommandTarget),
    /// The two local versions of `greenlight demo` (only there).
    Sandbox(SandboxProvider),
    /// Render manifests, server-side apply them, wait like `kubectl rollout status`.
    Kubernetes(KubernetesTarget),
    /// Create one Marathon app per version from an app definition, wait until its
    /// deployment is done and every task is healthy, remove the old app.
    Marathon(MarathonTarget),
}

impl TargetSpec {
    /// The target's own rules for its settings, under `path` (`target`).
    pub fn check(&self, path: FieldPath, problems: &mut Vec<Problem>) {
        let settings = self.settings();
        settings.check(path.key(settings.kind()), problems);
    }

    pub fn cluster(&self) -> Option<ClusterSpec> {
        self.settings().cluster()
    }

    pub fn build(&self, context: &ProviderContext) -> Result<Box<dyn Target>, ProviderError> {
        self.settings().build(context)
    }
}
