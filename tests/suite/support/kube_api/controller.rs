//! A stand-in for the Deployment controller, the ReplicaSet controller and
//! kubelet: what a Deployment's status, ReplicaSets and pods look like after a
//! write, per test-chosen behaviour. Like the real controller it looks for a
//! ReplicaSet whose template is the Deployment's (ignoring
//! `pod-template-hash`): when one exists it is scaled, and its pods stay;
//! otherwise a new one gets new pods. Like a rolling update, the previous pods
//! stay until the new ones are ready. A paused Deployment is left alone.

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
    /// Its container crash-loops with `restarts` restarts, then is ready
    /// after `reads` more reads (a slow dependency, say).
    Restarting { restarts: u32, reads: u32 },
}

const TEMPLATE_HASH: &str = "pod-template-hash";

/// The pods of one Deployment: those of earlier templates still running, and
/// those of the current one.
#[derive(Debug, Default)]
pub struct Pods {
    old: Vec<Key>,
    current: Vec<Key>,
}

/// The template with the controller's label left out, to compare two.
fn without_hash(template: Option<&Value>) -> Value {
    let mut template = template.cloned().unwrap_or_default();
    if let Some(labels) = template
        .pointer_mut("/metadata/labels")
        .and_then(Value::as_object_mut)
    {
        labels.remove(TEMPLATE_HASH);
    }
    template
}

/// A stable hash of a template (FNV-1a), as the controller names ReplicaSets.
fn template_hash(template: &Value) -> String {
    let text = serde_json::to_string(template).unwrap_or_default();
    let hash = text.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    });
    format!("{:x}", hash % 0xff_ffff_ffff)
}

fn replica_sets_collection(key: &Key) -> String {
    key.collection.replace("/deployments", "/replicasets")
}

/// The ReplicaSets `deployment` owns.
/// The ReplicaSets `deployment` owns, oldest first (the controller's order).
fn owned_sets(store: &Store, key: &Key) -> Vec<Key> {
    let collection = replica_sets_collection(key);
    let mut sets: Vec<(u64, Key)> = store
        .objects
        .iter()
        .filter(|(set_key, set)| {
            set_key.collection == collection
                && set.pointer("/metadata/ownerReferences/0/name") == Some(&json!(key.name))
        })
        .map(|(set_key, set)| {
            let created = set
                .pointer(&format!("/metadata/annotations/{CREATED}"))
                .and_then(Value::as_str)
                .and_then(|created| created.parse().ok())
                .unwrap_or(0);
            (created, set_key.clone())
        })
        .collect();
    sets.sort();
    sets.into_iter().map(|(_, set_key)| set_key).collect()
}

/// Orders ReplicaSets by creation, as `creationTimestamp` does for real.
const CREATED: &str = "fake.test/created";

/// The ReplicaSet of `deployment`'s template, created when there is none;
/// `true` when it existed already.
fn replica_set_for(store: &mut Store, key: &Key, deployment: &Value) -> (Key, String, bool) {
    let template = without_hash(deployment.pointer("/spec/template"));
    for set_key in owned_sets(store, key) {
        let Some(set) = store.objects.get(&set_key) else {
            continue;
        };
        if without_hash(set.pointer("/spec/template")) == template {
            let hash = set
                .pointer(&format!("/metadata/labels/{TEMPLATE_HASH}"))
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            return (set_key, hash, true);
        }
    }
    let hash = template_hash(&template);
    let set_key = Key {
        collection: replica_sets_collection(key),
        name: format!("{}-{hash}", key.name),
    };
    let mut labeled = template.clone();
    labeled["metadata"]["labels"][TEMPLATE_HASH] = json!(hash);
    let mut selector = deployment
        .pointer("/spec/selector")
        .cloned()
        .unwrap_or_else(|| json!({}));
    selector["matchLabels"][TEMPLATE_HASH] = json!(hash);
    let set = json!({"apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {"name": set_key.name, "namespace": deployment.pointer("/metadata/namespace"),
                     "uid": format!("uid-rs-{}", set_key.name), "resourceVersion": "1",
                     "annotations": {CREATED: store.version.to_string()},
                     "labels": labeled["metadata"]["labels"],
                     "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": key.name,
                                          "uid": deployment.pointer("/metadata/uid"), "controller": true}]},
        "spec": {"replicas": replicas(deployment), "selector": selector, "template": labeled}});
    store.objects.insert(set_key.clone(), set);
    (set_key, hash, false)
}

/// Sets `spec.replicas` of every ReplicaSet of `key` (the current one to
/// `wanted`, the others to 0 once the new pods are available).
fn scale_sets(store: &mut Store, key: &Key, current: &Key, wanted: i64, available: bool) {
    for set_key in owned_sets(store, key) {
        if let Some(set) = store.objects.get_mut(&set_key) {
            if set_key == *current {
                set["spec"]["replicas"] = json!(wanted);
            } else if available {
                set["spec"]["replicas"] = json!(0);
            }
        }
    }
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

/// How a new pod starts: ready, starting, or waiting with a reason.
struct Start<'a> {
    ready: bool,
    stuck: Option<(&'a str, &'a str)>,
    restarts: u32,
}

/// A pod of `deployment`'s current template and ReplicaSet `set` (`hash`).
fn pod(deployment: &Value, name: &str, set: &Key, hash: &str, start: &Start<'_>) -> Value {
    let mut labels = deployment
        .pointer("/spec/template/metadata/labels")
        .cloned()
        .unwrap_or_else(|| json!({}));
    labels[TEMPLATE_HASH] = json!(hash);
    let ready = start.ready;
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
    if let Some((reason, message)) = start.stuck {
        status["containerStatuses"] = json!([
            {"name": "app", "ready": false, "restartCount": start.restarts, "image": "", "imageID": "",
             "state": {"waiting": {"reason": reason, "message": message}}}]);
    }
    json!({"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": name, "namespace": namespace, "labels": labels, "resourceVersion": "1",
                        "uid": format!("uid-pod-{name}"),
                        "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": set.name,
                                             "uid": format!("uid-rs-{}", set.name), "controller": true}]},
           "spec": spec, "status": status})
}

fn remove_all(store: &mut Store, keys: &[Key]) {
    for key in keys {
        store.objects.remove(key);
    }
}

/// After a write: the new status, the ReplicaSet of the template, and its pods.
pub fn reconcile(store: &mut Store, key: &Key, object: &mut Value, behaviour: &Behaviour) {
    if object.pointer("/spec/paused") == Some(&json!(true)) {
        let kept = store
            .objects
            .get(key)
            .and_then(|previous| previous.get("status"))
            .cloned()
            .unwrap_or_else(|| status(object, false));
        object["status"] = kept;
        object["status"]["observedGeneration"] = object["metadata"]["generation"].clone();
        return;
    }
    let generation = object
        .pointer("/metadata/generation")
        .and_then(Value::as_i64)
        .unwrap_or(1);
    let (stuck, restarts) = match behaviour {
        Behaviour::Stuck { reason, message } => (Some((reason.as_str(), message.as_str())), 4),
        Behaviour::Restarting { restarts, .. } => (
            Some((
                "CrashLoopBackOff",
                "back-off 10s restarting failed container",
            )),
            *restarts,
        ),
        _ => (None, 0),
    };
    let waits = matches!(
        behaviour,
        Behaviour::ReadyAfter(_) | Behaviour::Restarting { .. }
    );
    let available = stuck.is_none() && !waits;
    match behaviour {
        Behaviour::ReadyAfter(reads) | Behaviour::Restarting { reads, .. } => {
            store.countdowns.insert(key.name.clone(), *reads);
        }
        _ => {}
    }
    object["status"] = status(object, available);

    let (set, hash, existed) = replica_set_for(store, key, object);
    let collection = pods_collection(key);
    let previous = store.pods.remove(key).unwrap_or_default();
    let wanted = replicas(object);
    let start = Start {
        ready: available,
        stuck,
        restarts,
    };
    let pod_key = |name: String| Key {
        collection: collection.clone(),
        name,
    };
    let belongs = |store: &Store, pod: &Key| {
        store.objects.get(pod).and_then(|pod| {
            pod.pointer(&format!("/metadata/labels/{TEMPLATE_HASH}"))
                .and_then(Value::as_str)
                .map(str::to_owned)
        }) == Some(hash.clone())
    };
    // The ReplicaSet of this template existed: its running pods stay, scaled
    // to the replicas wanted (a label change, a scale, never a new pod for an old one).
    let mut kept: Vec<Key> = Vec::new();
    let mut stale: Vec<Key> = Vec::new();
    for pod in previous.old.into_iter().chain(previous.current) {
        if existed && belongs(store, &pod) && (kept.len() as i64) < wanted {
            kept.push(pod);
        } else {
            stale.push(pod);
        }
    }
    let mut new: Vec<(Key, Value)> = Vec::new();
    if stuck.is_some() && !existed {
        let name = format!("{}-7d9f8-x2x4q", key.name);
        new.push((
            pod_key(name.clone()),
            pod(object, &name, &set, &hash, &start),
        ));
    } else {
        let mut index = 0;
        while (kept.len() + new.len()) < wanted as usize {
            let name = format!("{}-{generation}-{index}", key.name);
            index += 1;
            let candidate = pod_key(name.clone());
            if kept.contains(&candidate) || stale.contains(&candidate) {
                continue;
            }
            new.push((candidate, pod(object, &name, &set, &hash, &start)));
        }
    }
    let mut old = stale;
    let kept_all_ready = existed && new.is_empty();
    if available || kept_all_ready {
        remove_all(store, &old);
        old.clear();
    }
    scale_sets(store, key, &set, wanted, available || kept_all_ready);
    if kept_all_ready {
        // Nothing new to start: the running pods are the Deployment's.
        object["status"] = status(object, true);
        store.countdowns.remove(&key.name);
    }
    let current = kept
        .into_iter()
        .chain(new.iter().map(|(pod_key, _)| pod_key.clone()))
        .collect();
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
    let sets = owned_sets(store, key);
    remove_all(store, &sets);
    store.countdowns.remove(&key.name);
}
