//! A stand-in for the controllers that write route status: a Gateway API
//! implementation (`status.parents[].conditions[]` with `observedGeneration`),
//! Contour (`status.currentStatus` and a `Valid` condition) and the OpenShift
//! router (`status.ingress[].conditions[]`, no generation). Like the real ones
//! they answer a write some time later, on their own loop, through the status
//! subresource (a new resourceVersion, the same generation), and they resolve
//! backends against the Services that exist. The OpenShift router rewrites
//! `Admitted` only when its verdict changes, as openshift/router does.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::store::{Key, Store};

/// How the controllers behave; off until a test turns them on.
#[derive(Debug, Clone, Default)]
pub struct RouteStatus {
    /// Time from a write to the status that answers it.
    pub delay: Duration,
    /// Refuse every route with this message (Accepted=False, invalid, Admitted=False).
    pub reject: Option<String>,
}

/// What the controllers have done so far.
#[derive(Debug, Default)]
pub struct Controllers {
    pub behaviour: Option<RouteStatus>,
    /// When each route was last written.
    pub written: BTreeMap<Key, Instant>,
    /// The generation each route's status answers.
    pub observed: BTreeMap<Key, i64>,
}

pub const GATEWAY_CONTROLLER: &str = "example.net/gateway-controller";
const TIMESTAMP: &str = "2026-01-01T00:00:00Z";

fn kind(object: &Value) -> &str {
    object
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or_default()
}

/// Whether a controller answers writes to objects of this kind.
pub fn watched(object: &Value) -> bool {
    matches!(kind(object), "HTTPRoute" | "HTTPProxy" | "Route")
}

fn generation(object: &Value) -> i64 {
    object
        .pointer("/metadata/generation")
        .and_then(Value::as_i64)
        .unwrap_or(1)
}

/// The Services a route sends to that do not exist, in order.
fn missing_services(store: &Store, key: &Key, object: &Value) -> Vec<String> {
    let namespace = key
        .collection
        .split("/namespaces/")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .unwrap_or_default();
    let services = format!("/api/v1/namespaces/{namespace}/services");
    let spec = object.get("spec").cloned().unwrap_or_default();
    let rules = spec
        .get("rules")
        .or_else(|| spec.get("routes"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut wanted: Vec<String> = Vec::new();
    for rule in &rules {
        let refs = rule.get("backendRefs").or_else(|| rule.get("services"));
        for entry in refs.and_then(Value::as_array).into_iter().flatten() {
            let service = entry
                .get("kind")
                .and_then(Value::as_str)
                .is_none_or(|kind| kind == "Service");
            if let (true, Some(name)) = (service, entry.get("name").and_then(Value::as_str)) {
                wanted.push(name.to_owned());
            }
        }
    }
    let mut missing = Vec::new();
    for name in wanted {
        let exists = store.objects.contains_key(&Key {
            collection: services.clone(),
            name: name.clone(),
        });
        if !exists && !missing.contains(&name) {
            missing.push(name);
        }
    }
    missing
}

fn condition(kind: &str, good: bool, reason: &str, message: &str, generation: i64) -> Value {
    json!({"type": kind, "status": if good { "True" } else { "False" }, "reason": reason,
           "message": message, "observedGeneration": generation, "lastTransitionTime": TIMESTAMP})
}

fn http_route_status(object: &Value, missing: &[String], reject: Option<&str>) -> Value {
    let generation = generation(object);
    let accepted = match reject {
        Some(message) => condition(
            "Accepted",
            false,
            "NotAllowedByListeners",
            message,
            generation,
        ),
        None => condition(
            "Accepted",
            true,
            "Accepted",
            "Route is accepted",
            generation,
        ),
    };
    let resolved = match missing.first() {
        Some(name) => condition(
            "ResolvedRefs",
            false,
            "BackendNotFound",
            &format!("backendRef {name}: service \"{name}\" not found"),
            generation,
        ),
        None => condition(
            "ResolvedRefs",
            true,
            "ResolvedRefs",
            "Resolved all the Object references for the Route",
            generation,
        ),
    };
    let parents: Vec<Value> = object
        .pointer("/spec/parentRefs")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|parent| {
            json!({"parentRef": parent, "controllerName": GATEWAY_CONTROLLER,
                   "conditions": [accepted, resolved]})
        })
        .collect();
    json!({"parents": parents})
}

fn http_proxy_status(object: &Value, missing: &[String], reject: Option<&str>) -> Value {
    let problem = reject.map(str::to_owned).or_else(|| {
        missing.first().map(|name| {
            format!("Spec.Routes unresolved service reference: service \"{name}\" not found")
        })
    });
    let generation = generation(object);
    match problem {
        Some(message) => json!({"currentStatus": "invalid", "description": message,
            "conditions": [{"type": "Valid", "status": "False", "reason": "ErrorPresent",
                            "message": "At least one error present, see Errors for details",
                            "observedGeneration": generation, "lastTransitionTime": TIMESTAMP,
                            "errors": [{"type": "ServiceError", "reason": "ServiceUnresolvedReference", "message": message}]}]}),
        None => json!({"currentStatus": "valid", "description": "Valid HTTPProxy",
            "conditions": [{"type": "Valid", "status": "True", "reason": "Valid",
                            "message": "Valid HTTPProxy", "observedGeneration": generation,
                            "lastTransitionTime": TIMESTAMP}]}),
    }
}

/// The Route's status, or `None` when the router would leave it as it is.
fn route_status(object: &Value, reject: Option<&str>) -> Option<Value> {
    let admitted = match reject {
        Some(message) => {
            json!({"type": "Admitted", "status": "False", "reason": "RouteNotAdmitted",
                                "message": message, "lastTransitionTime": TIMESTAMP})
        }
        None => json!({"type": "Admitted", "status": "True", "lastTransitionTime": TIMESTAMP}),
    };
    let current = object.pointer("/status/ingress/0/conditions/0");
    if current.is_some_and(|current| {
        current.get("status") == admitted.get("status")
            && current.get("message") == admitted.get("message")
    }) {
        return None;
    }
    let host = object
        .pointer("/spec/host")
        .cloned()
        .unwrap_or(json!("web.apps.example"));
    Some(
        json!({"ingress": [{"host": host, "routerName": "default", "wildcardPolicy": "None",
                              "conditions": [admitted]}]}),
    )
}

/// One pass of every controller: routes written at least `delay` ago whose
/// generation has no status yet get one.
pub fn tick(store: &mut Store, now: Instant) {
    let Some(behaviour) = store.controllers.behaviour.clone() else {
        return;
    };
    let due: Vec<Key> = store
        .controllers
        .written
        .iter()
        .filter(|(_, at)| now.duration_since(**at) >= behaviour.delay)
        .map(|(key, _)| key.clone())
        .collect();
    for key in due {
        store.controllers.written.remove(&key);
        let Some(object) = store.objects.get(&key).cloned() else {
            continue;
        };
        let generation = generation(&object);
        if store.controllers.observed.get(&key) == Some(&generation) {
            continue;
        }
        let missing = missing_services(store, &key, &object);
        let reject = behaviour.reject.as_deref();
        let status = match kind(&object) {
            "HTTPRoute" => Some(http_route_status(&object, &missing, reject)),
            "HTTPProxy" => Some(http_proxy_status(&object, &missing, reject)),
            "Route" => route_status(&object, reject),
            _ => None,
        };
        store.controllers.observed.insert(key.clone(), generation);
        if let Some(status) = status {
            store.write_status(&key, status);
        }
    }
}
