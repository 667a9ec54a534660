//! Talking to a Kubernetes API server: connecting from a kubeconfig or from
//! inside a pod, requests on untyped objects, and read-modify-write.
//!
//! Objects stay `serde_json::Value` on purpose: a typed round trip drops every
//! field the types do not know (newer API fields, other controllers' fields),
//! and greenlight must write back exactly what it read, plus its own change.

pub mod cluster;
pub mod error;
pub mod json;
pub mod objects;
pub mod resource;
pub mod rollout;
pub mod rollout_status;
pub mod update;

pub use cluster::{Cluster, LazyCluster};
pub use resource::Resource;

/// The field manager of every write greenlight makes.
pub const FIELD_MANAGER: &str = "greenlight";
