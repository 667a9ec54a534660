//! Spec types of the Kubernetes target and routers (each defined beside its
//! provider) and of the ConfigMap state store. Every one of them names its
//! cluster the same way: an optional kubeconfig `context` and `namespace`
//! (serde cannot flatten them under `deny_unknown_fields`, so each repeats them).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use crate::deploy::kubernetes::settings::{KubernetesTarget, RetireMode};
pub use crate::kubernetes::ClusterSpec;
pub use crate::router::contour::{ContourRouter, StablePair};
pub use crate::router::gateway_api::GatewayApiRouter;
pub use crate::router::openshift::OpenshiftRouter;
pub use crate::router::service::{RedBlack, ServiceRouter};

/// `state: configMap`: the record in ConfigMap `greenlight-<name>`.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ConfigMapState {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

impl ConfigMapState {
    pub fn cluster(&self) -> ClusterSpec {
        ClusterSpec {
            context: self.context.clone(),
            namespace: self.namespace.clone(),
        }
    }
}
