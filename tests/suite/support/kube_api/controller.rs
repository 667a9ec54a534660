//! A stand-in for the Deployment controller and kubelet: what a Deployment's
//! status and its pods look like after a write, per test-chosen behaviour.
//! Like a rolling update, the previous pods stay until the new ones are ready.

use serde_json::{Value, json};

use super::store::{Key, Store};

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Behaviour {
    /// Every replica is updated and available at once.
    #[default]
    Ready,
    /// After each write, available only after this many more reads.
    ReadyAfter(u32),
    /// Its pods' container waits with this reason (CrashLoopBackOff…) forever.
    Stuck { reason: String, message: String },
    /// Ready until its spec reaches `generation`, then stuck like `Stuck`.
    StuckFrom {
        generation: i64,
        reason: String,
        message: String,
    },
}

/// The pods of one Deployment: those of earlier templates still running, and
/// those of the current one.
#[derive(Debug, Default)]
pub struct Pods {
    old: Vec<Key>,
    current: Vec<Key>,
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

fn pods_collection(key: &Key) -> String {
    key.collection
        .replace("/apis/apps/v1/", "/api/v1/")
        .replace("/deployments", "/pods")
}

/// A pod of `deployment`'s current template: ready, starting, or stuck.
fn pod(deployment: &Value, name: &str, ready: bool, stuck: Option<(&str, &str)>) -> Value {
    let labels = deployment
        .pointer("/spec/template/metadata/labels")
        .cloned()
        .unwrap_or_default();
    let namespace = deployment
        .pointer("/metadata/namespace")
        .cloned()
        .unwrap_or_default();
    let spec = deployment
        .pointer("/spec/template/spec")
        .cloned()
        .unwrap_or_default();
    let flag = if ready { "True" } else { "False" };
    let mut status = json!({"phase": if ready { "Running" } else { "Pending" },
                            "conditions": [{"type": "Ready", "status": flag}]});
    if let Some((reason, message)) = stuck {
        status["containerStatuses"] = json!([
            {"name": "app", "ready": false, "restartCount": 4, "image": "", "imageID": "",
             "state": {"waiting": {"reason": reason, "message": message}}}]);
    }
    json!({"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": name, "namespace": namespace, "labels": labels, "resourceVersion": "1"},
           "spec": spec, "status": status})
}

fn remove_all(store: &mut Store, keys: &[Key]) {
    for key in keys {
        store.objects.remove(key);
    }
}

/// After a write: the new status, and pods of the new template.
pub fn reconcile(store: &mut Store, key: &Key, object: &mut Value, behaviour: &Behaviour) {
    let generation = object
        .pointer("/metadata/generation")
        .and_then(Value::as_i64)
        .unwrap_or(1);
    let stuck = match behaviour {
        Behaviour::Stuck { reason, message } => Some((reason.as_str(), message.as_str())),
        Behaviour::StuckFrom {
            generation: from,
            reason,
            message,
        } if generation >= *from => Some((reason.as_str(), message.as_str())),
        _ => None,
    };
    let available = stuck.is_none() && !matches!(behaviour, Behaviour::ReadyAfter(_));
    if let Behaviour::ReadyAfter(reads) = behaviour {
        store.countdowns.insert(key.name.clone(), *reads);
    }
    object["status"] = status(object, available);

    let collection = pods_collection(key);
    let new: Vec<(Key, Value)> = match stuck {
        Some(reason) => {
            let name = format!("{}-7d9f8-x2x4q", key.name);
            vec![(name.clone(), pod(object, &name, false, Some(reason)))]
        }
        None => (0..replicas(object))
            .map(|index| {
                let name = format!("{}-{generation}-{index}", key.name);
                (name.clone(), pod(object, &name, available, None))
            })
            .collect(),
    }
    .into_iter()
    .map(|(name, pod)| {
        (
            Key {
                collection: collection.clone(),
                name,
            },
            pod,
        )
    })
    .collect();
    let previous = store.pods.remove(key).unwrap_or_default();
    let mut old: Vec<Key> = previous.old.into_iter().chain(previous.current).collect();
    if available {
        remove_all(store, &old);
        old.clear();
    }
    old.retain(|stale| new.iter().all(|(fresh, _)| fresh != stale));
    let current = new.iter().map(|(pod_key, _)| pod_key.clone()).collect();
    for (pod_key, pod) in new {
        store.objects.insert(pod_key, pod);
    }
    store.pods.insert(key.clone(), Pods { old, current });
}

/// On a read: a Deployment that becomes ready after some polls moves on, its
/// new pods turn ready and the old ones go.
pub fn observe(store: &mut Store, key: &Key, object: &mut Value) {
    let Some(reads) = store.countdowns.get_mut(&key.name) else {
        return;
    };
    if *reads > 0 {
        *reads -= 1;
        return;
    }
    store.countdowns.remove(&key.name);
    object["status"] = status(object, true);
    if let Some(pods) = store.pods.get_mut(key) {
        let old = std::mem::take(&mut pods.old);
        let current = pods.current.clone();
        remove_all(store, &old);
        for pod_key in current {
            if let Some(pod) = store.objects.get_mut(&pod_key) {
                pod["status"] = json!({"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]});
            }
        }
    }
}

/// A deleted Deployment takes its pods with it.
pub fn forget(store: &mut Store, key: &Key) {
    if let Some(pods) = store.pods.remove(key) {
        remove_all(store, &pods.old);
        remove_all(store, &pods.current);
    }
    store.countdowns.remove(&key.name);
}
