//! Spec types of the Kubernetes target and routers. Every one of them names
//! its cluster the same way: an optional kubeconfig `context` and `namespace`
//! (serde cannot flatten them under `deny_unknown_fields`, so each repeats them).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::duration::Span;

pub use crate::kubernetes::ClusterSpec;
pub use crate::router::contour::{ContourRouter, StablePair};
pub use crate::router::gateway_api::GatewayApiRouter;
pub use crate::router::openshift::OpenshiftRouter;
pub use crate::router::service::{RedBlack, ServiceRouter};

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct KubernetesTarget {
    /// Manifest files or folders (every `.yaml`/`.yml`/`.json` inside), relative to
    /// the spec's folder. Each file is a minijinja template rendered with the
    /// rollout context, `version` being the version deployed.
    pub manifests: Vec<String>,
    /// The kubeconfig context (default: the current one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
    /// The namespace of objects that name none (default: the context's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
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
}

impl KubernetesTarget {
    pub fn cluster(&self) -> ClusterSpec {
        ClusterSpec {
            context: self.context.clone(),
            namespace: self.namespace.clone(),
        }
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

/// `state: configMap`: the record in ConfigMap `greenlight-<name>`.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ConfigMapState {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

macro_rules! cluster_of {
    ($($type:ty),*) => {$(
        impl $type {
            pub fn cluster(&self) -> ClusterSpec {
                ClusterSpec { context: self.context.clone(), namespace: self.namespace.clone() }
            }
        }
    )*};
}
cluster_of!(ConfigMapState);
