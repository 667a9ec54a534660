//! EndpointSlices, as the EndpointSlice controller keeps them: one slice per
//! Service, listing the pods its selector matches and whether each is ready.
//! They are computed when listed, so they always follow the pods.

use serde_json::{Value, json};

use super::store::Store;

pub const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";

fn ready(pod: &Value) -> bool {
    pod.pointer("/status/conditions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .any(|condition| condition["type"] == "Ready" && condition["status"] == "True")
}

fn selected(pod: &Value, selector: &serde_json::Map<String, Value>) -> bool {
    !selector.is_empty()
        && selector
            .iter()
            .all(|(key, value)| pod.pointer(&format!("/metadata/labels/{key}")) == Some(value))
}

/// The slice of Service `service` under namespace path `namespace_path`
/// (`/api/v1/namespaces/shop`), or `None` when there is no such Service.
fn slice(store: &Store, namespace_path: &str, service: &Value) -> Option<Value> {
    let name = service.pointer("/metadata/name")?.as_str()?;
    let selector = service.pointer("/spec/selector")?.as_object()?;
    let pods = format!("{namespace_path}/pods");
    let endpoints: Vec<Value> = store
        .objects
        .iter()
        .filter(|(key, pod)| key.collection == pods && selected(pod, selector))
        .enumerate()
        .map(|(index, (key, pod))| {
            json!({"addresses": [format!("10.0.{}.{}", index / 250, index % 250 + 1)],
                   "conditions": {"ready": ready(pod), "serving": ready(pod), "terminating": false},
                   "targetRef": {"kind": "Pod", "name": key.name, "namespace": pod.pointer("/metadata/namespace")}})
        })
        .collect();
    let ports: Vec<Value> = service
        .pointer("/spec/ports")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|port| json!({"port": port.get("targetPort").or(port.get("port")), "protocol": "TCP"}))
        .collect();
    Some(
        json!({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                "metadata": {"name": format!("{name}-abcde"), "namespace": service.pointer("/metadata/namespace"),
                             "labels": {SERVICE_NAME_LABEL: name}},
                "addressType": "IPv4", "endpoints": endpoints, "ports": ports}),
    )
}

/// Whether `collection` is where EndpointSlices are listed.
pub fn is_slices(collection: &str) -> bool {
    collection.starts_with("/apis/discovery.k8s.io/v1/namespaces/")
        && collection.ends_with("/endpointslices")
}

/// The slices `selector` (`kubernetes.io/service-name=web`, or empty) picks.
pub fn list(store: &Store, collection: &str, selector: &str) -> Value {
    let namespace = collection
        .trim_start_matches("/apis/discovery.k8s.io/v1/namespaces/")
        .trim_end_matches("/endpointslices");
    let namespace_path = format!("/api/v1/namespaces/{namespace}");
    let services = format!("{namespace_path}/services");
    let wanted = selector
        .split(',')
        .find_map(|term| term.strip_prefix(&format!("{SERVICE_NAME_LABEL}=")));
    let items: Vec<Value> = store
        .objects
        .iter()
        .filter(|(key, _)| key.collection == services)
        .filter(|(key, _)| wanted.is_none_or(|wanted| wanted == key.name))
        .filter_map(|(_, service)| slice(store, &namespace_path, service))
        .collect();
    json!({"kind": "EndpointSliceList", "apiVersion": "discovery.k8s.io/v1",
           "metadata": {"resourceVersion": store.version.to_string()}, "items": items})
}
