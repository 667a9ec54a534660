//! `target: kubernetes` in the spec: which manifests, where, how long to wait
//! and how the old version goes.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::deploy::{Target, TargetSettings};
use crate::duration::Span;
use crate::field::{FieldPath, Problem, problem, require_text};
use crate::kubernetes::ClusterSpec;
use crate::provider::{ProviderContext, ProviderError};

#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct KubernetesTarget {
    /// Manifest files or folders (every `.yaml`/`.yml`/`.json` inside), relative to
    /// the spec's folder. Each file is a minijinja template rendered with the
    /// rollout context, `version` being the version deployed.
    pub manifests: Vec<String>,
    /// The kubeconfig context (default: the current one).
    pub context: Option<String>,
    /// The namespace of objects that name none (default: the context's).
    pub namespace: Option<String>,
    /// How long the Deployments may take to be ready before the rollout is rolled back.
    #[serde(default = "crate::kubernetes::rollout::default_timeout")]
    pub timeout: Span,
    /// How often readiness is checked.
    #[serde(default = "crate::kubernetes::rollout::default_poll_interval")]
    pub poll_interval: Span,
    /// What happens to the old version's objects after promotion.
    #[serde(default)]
    pub retire: RetireMode,
    /// Restarts of a crash-looping container before its Deployment is judged
    /// broken at once (otherwise the progress deadline or `timeout` decides).
    #[serde(default = "crate::kubernetes::rollout::default_crash_loop_restarts")]
    pub crash_loop_restarts: u32,
    /// Take over fields another field manager owns when applying (server-side
    /// apply `force`). Off by default: a conflict fails the deploy, naming the
    /// other manager.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub force: bool,
}

impl KubernetesTarget {
    pub fn cluster(&self) -> ClusterSpec {
        ClusterSpec {
            context: self.context.clone(),
            namespace: self.namespace.clone(),
        }
    }
}

impl TargetSettings for KubernetesTarget {
    fn kind(&self) -> &'static str {
        "kubernetes"
    }

    /// At least one manifest, and no empty entry.
    fn check(&self, path: FieldPath, problems: &mut Vec<Problem>) {
        let path = path.key("manifests");
        if self.manifests.is_empty() {
            problems.push(problem(
                path.clone(),
                "list at least one manifest file or folder",
            ));
        }
        for (index, entry) in self.manifests.iter().enumerate() {
            require_text(entry, path.index(index), problems);
        }
    }

    fn cluster(&self) -> Option<ClusterSpec> {
        Some(KubernetesTarget::cluster(self))
    }

    fn build(&self, context: &ProviderContext) -> Result<Box<dyn Target>, ProviderError> {
        Ok(Box::new(super::KubernetesTargetProvider::new(
            self.clone(),
            context.release.clone(),
            context.template.clone(),
            context.base_dir.clone(),
            context.clock.clone(),
        )))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum RetireMode {
    /// Scale the old Deployments to 0 replicas (a later rollback is quick).
    #[default]
    ScaleDown,
    /// Delete the old version's own objects (those whose name contains the version).
    Delete,
}
