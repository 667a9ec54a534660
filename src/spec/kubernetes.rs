//! Spec types of the Kubernetes target and routers. Every one of them names
//! its cluster the same way: an optional kubeconfig `context` and `namespace`
//! (serde cannot flatten them under `deny_unknown_fields`, so each repeats them).

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::duration::Span;

pub use crate::kubernetes::ClusterSpec;

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
    #[serde(default = "default_rollout_timeout")]
    pub timeout: Span,
    /// How often readiness is checked.
    #[serde(default = "default_poll_interval")]
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

fn default_rollout_timeout() -> Span {
    Span::from_secs(600)
}

fn default_poll_interval() -> Span {
    Span::from_secs(2)
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

/// `router: service`: blue/green by switching a Service's `spec.selector`, or
/// red/black by moving a label the Service selects between two Deployments'
/// pod templates (all at once either way).
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ServiceRouter {
    /// The Service's name.
    pub name: String,
    /// Blue/green: the whole selector that picks the stable version's pods.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub stable_selector: BTreeMap<String, String>,
    /// Blue/green: the whole selector that picks the new version's pods.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub new_selector: BTreeMap<String, String>,
    /// Red/black: the Service keeps its selector, and the serving label moves
    /// from the stable Deployment's pod template to the new one's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub red_black: Option<RedBlack>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// `router.service.redBlack`: which label serves, and the two Deployments that take turns.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RedBlack {
    /// The label (or labels) the Service's selector requires, e.g. `{serving: "true"}`.
    /// It must not be part of the Deployments' own `spec.selector`.
    pub label: BTreeMap<String, String>,
    /// The stable version's Deployment, e.g. `web-{{ stable_version }}`.
    pub stable_deployment: String,
    /// The new version's Deployment, e.g. `web-{{ version }}`.
    pub new_deployment: String,
    /// How long a Deployment may take to roll out its labelled pods, and the
    /// other one to lose the label, before the switch fails.
    #[serde(default = "default_rollout_timeout")]
    pub timeout: Span,
    /// How often the rollout is checked.
    #[serde(default = "default_poll_interval")]
    pub poll_interval: Span,
}

/// `router: gatewayApi`: weights of an HTTPRoute's `backendRefs`.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct GatewayApiRouter {
    /// The HTTPRoute's name.
    pub route: String,
    /// Names (`rules[].name`) of the rules greenlight owns. Default: every rule
    /// with a backendRef to the stable or the new Service. Other rules are never touched.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<String>,
    /// The stable version's Service.
    pub stable_service: String,
    /// The new version's Service (added beside the stable one when missing).
    pub new_service: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// `router: contour`: an HTTPProxy (or a legacy IngressRoute), by weights or by delegation.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ContourRouter {
    /// The HTTPProxy (or IngressRoute) greenlight edits.
    pub proxy: String,
    /// Edit a legacy `IngressRoute` (contour.heptio.com/v1beta1) instead of an HTTPProxy.
    #[serde(default)]
    pub legacy: bool,
    /// Canary: `routes[].services[].weight` of these two Services.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weights: Option<StablePair>,
    /// Blue/green: the root proxy includes (`includes[].name`; `delegate.name` on an
    /// IngressRoute) the stable or the new child proxy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delegation: Option<StablePair>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// Two object names: the stable version's and the new version's.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct StablePair {
    pub stable: String,
    pub new: String,
}

/// `router: openshift`: a Route's `spec.to` and `alternateBackends`.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct OpenshiftRouter {
    /// The Route's name.
    pub route: String,
    pub stable_service: String,
    pub new_service: String,
    /// Blue/green: switch `spec.to.name` instead of splitting by weights.
    #[serde(default)]
    pub switch: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
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
cluster_of!(
    ServiceRouter,
    GatewayApiRouter,
    ContourRouter,
    OpenshiftRouter,
    ConfigMapState
);
