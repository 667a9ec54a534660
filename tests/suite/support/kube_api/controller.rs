//! A stand-in for the Deployment controller and kubelet: what a Deployment's
//! status (and its pods) look like after a write, per test-chosen behaviour.

use serde_json::{Value, json};

use super::store::{Key, Store};

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Behaviour {
    /// Every replica is updated and available at once.
    #[default]
    Ready,
    /// Available only after this many more reads.
    ReadyAfter(u32),
    /// Its pods' container waits with this reason (CrashLoopBackOff…) forever.
    Stuck { reason: String, message: String },
}

fn replicas(object: &Value) -> i64 {
    object
        .pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .unwrap_or(1)
}

fn status(object: &Value, available: bool) -> Value {
    let wanted = replicas(object);
    let generation = object
        .pointer("/metadata/generation")
        .cloned()
        .unwrap_or(json!(1));
    let up = if available { wanted } else { 0 };
    json!({"observedGeneration": generation, "replicas": wanted, "updatedReplicas": wanted,
           "readyReplicas": up, "availableReplicas": up, "unavailableReplicas": wanted - up})
}

/// After a write: the new status, and for a stuck Deployment a failing pod.
pub fn reconcile(store: &mut Store, key: &Key, object: &mut Value, behaviour: &Behaviour) {
    object["status"] = status(object, *behaviour == Behaviour::Ready);
    if let Behaviour::Stuck { reason, message } = behaviour {
        let labels = object
            .pointer("/spec/template/metadata/labels")
            .cloned()
            .unwrap_or_default();
        let namespace = object
            .pointer("/metadata/namespace")
            .cloned()
            .unwrap_or_default();
        let pods = key
            .collection
            .replace("/apis/apps/v1/", "/api/v1/")
            .replace("/deployments", "/pods");
        let name = format!("{}-7d9f8-x2x4q", key.name);
        let pod = json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": namespace, "labels": labels, "resourceVersion": "1"},
            "status": {"phase": "Pending", "containerStatuses": [
                {"name": "app", "ready": false, "restartCount": 4,
                 "state": {"waiting": {"reason": reason, "message": message}}}]}});
        store.objects.insert(
            Key {
                collection: pods,
                name,
            },
            pod,
        );
    }
}

/// On a read: a Deployment that becomes ready after some polls moves on.
pub fn observe(store: &mut Store, key: &Key, object: &mut Value) {
    if let Some(Behaviour::ReadyAfter(polls)) = store.deployments.get_mut(&key.name) {
        if *polls == 0 {
            object["status"] = status(object, true);
        } else {
            *polls -= 1;
        }
    }
}
