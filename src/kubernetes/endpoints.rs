//! A Service's endpoints, from its EndpointSlices (`discovery.k8s.io/v1`):
//! which pods it sends to and whether each is ready. Routers use them to see
//! what a Service really serves (the OpenShift router weighs endpoints, the
//! red/black router proves a switch by them).

use serde_json::Value;

use super::objects::Objects;
use super::{Cluster, Resource};
use crate::provider::ProviderError;

/// The label the EndpointSlice controller puts on a Service's slices.
pub const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";

/// One endpoint of a Service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// The pod behind it, when it is one.
    pub pod: Option<String>,
    /// `conditions.ready`; absent means ready (the API's rule).
    pub ready: bool,
}

/// The endpoints listed in `slices`.
pub fn from_slices(slices: &[Value]) -> Vec<Endpoint> {
    slices
        .iter()
        .filter_map(|slice| slice.get("endpoints").and_then(Value::as_array))
        .flatten()
        .map(|endpoint| Endpoint {
            pod: endpoint
                .pointer("/targetRef/name")
                .and_then(Value::as_str)
                .map(str::to_owned),
            ready: endpoint
                .pointer("/conditions/ready")
                .and_then(Value::as_bool)
                .unwrap_or(true),
        })
        .collect()
}

/// The endpoints of Service `service`.
pub async fn of_service(
    cluster: &Cluster,
    namespace: Option<&str>,
    service: &str,
) -> Result<Vec<Endpoint>, ProviderError> {
    let slices = Objects::new(cluster, Resource::endpoint_slice(), namespace);
    let listed = slices
        .list(&format!("{SERVICE_NAME_LABEL}={service}"))
        .await?;
    Ok(from_slices(&listed))
}

/// How many endpoints of Service `service` are ready.
pub async fn ready(
    cluster: &Cluster,
    namespace: Option<&str>,
    service: &str,
) -> Result<usize, ProviderError> {
    Ok(of_service(cluster, namespace, service)
        .await?
        .iter()
        .filter(|endpoint| endpoint.ready)
        .count())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_endpoint_without_a_ready_condition_is_ready() {
        let slices = [serde_json::json!({"endpoints": [
            {"targetRef": {"name": "a"}, "conditions": {"ready": true}},
            {"targetRef": {"name": "b"}, "conditions": {"ready": false}},
            {"conditions": {}}]})];
        let endpoints = from_slices(&slices);
        assert_eq!(
            endpoints,
            vec![
                Endpoint {
                    pod: Some("a".into()),
                    ready: true
                },
                Endpoint {
                    pod: Some("b".into()),
                    ready: false
                },
                Endpoint {
                    pod: None,
                    ready: true
                },
            ]
        );
    }
}
