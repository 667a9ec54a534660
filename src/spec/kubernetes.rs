//! Spec types of the Kubernetes target, routers and ConfigMap state store
//! (each defined beside its provider). Every one of them names its
//! cluster the same way: an optional kubeconfig `context` and `namespace`
//! (serde cannot flatten them under `deny_unknown_fields`, so each repeats them).

pub use crate::deploy::kubernetes::settings::{KubernetesTarget, RetireMode};
pub use crate::kubernetes::ClusterSpec;
pub use crate::router::contour::{ContourRouter, StablePair};
pub use crate::router::gateway_api::GatewayApiRouter;
pub use crate::router::openshift::OpenshiftRouter;
pub use crate::router::service::{RedBlack, ServiceRouter};
pub use crate::state::config_map::ConfigMapState;
