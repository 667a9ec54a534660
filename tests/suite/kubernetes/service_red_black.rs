//! `router: service` with `redBlack` through the binary: the serving label
//! moves between the two versions' running pods (their templates kept alike),
//! so no switch recreates a pod; the Service's EndpointSlices show it.

use serde_json::{Value, json};

use super::{Cluster, DEPLOYMENTS, Run, SERVICES, blue_green, canary};
use crate::support::kube_api::{Behaviour, Fault};

pub const ROUTER: &str = "  service:\n    name: web\n    redBlack:\n      label: {serving: 'true'}\n      stableDeployment: 'web-{{ stable_version }}'\n      newDeployment: 'web-{{ version }}'\n      pollInterval: 5ms\n      timeout: 5s";

const PODS: &str = "/api/v1/namespaces/shop/pods";
const REPLICA_SETS: &str = "/apis/apps/v1/namespaces/shop/replicasets";

/// Service web selects `serving: "true"`, which v1's pods carry.
pub fn with_red_black() -> Cluster {
    let cluster = Cluster::new();
    cluster.fake.insert(
        SERVICES,
        json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
               "spec": {"selector": {"app": "web", "serving": "true"},
                        "ports": [{"port": 80, "targetPort": 8080, "protocol": "TCP"}]}}),
    );
    cluster.fake.edit(DEPLOYMENTS, "web-v1", |deployment| {
        deployment["spec"]["template"]["metadata"]["labels"]["serving"] = json!("true");
    });
    cluster
}

fn template_label(cluster: &Cluster, deployment: &str) -> Value {
    cluster.object(DEPLOYMENTS, deployment)["spec"]["template"]["metadata"]["labels"]["serving"]
        .clone()
}

/// Names of the pods behind the Service's ready endpoints (its EndpointSlices).
fn serving_pods(cluster: &Cluster) -> Vec<String> {
    let slices = cluster.fake.endpoint_slices("web");
    let mut pods: Vec<String> = slices["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|slice| slice["endpoints"].as_array())
        .flatten()
        .filter(|endpoint| endpoint["conditions"]["ready"] == true)
        .filter_map(|endpoint| endpoint["targetRef"]["name"].as_str().map(str::to_owned))
        .collect();
    pods.sort();
    pods
}

/// Every pod of `deployment`, as (name, uid), sorted.
fn pods_of(cluster: &Cluster, deployment: &str) -> Vec<(String, String)> {
    let mut pods: Vec<(String, String)> = cluster
        .fake
        .objects()
        .into_iter()
        .filter(|object| object["kind"] == "Pod")
        .filter_map(|pod| {
            let name = pod["metadata"]["name"].as_str()?.to_owned();
            let uid = pod["metadata"]["uid"].as_str()?.to_owned();
            name.starts_with(&format!("{deployment}-"))
                .then_some((name, uid))
        })
        .collect();
    pods.sort();
    pods
}

/// The serving label on `deployment`'s current ReplicaSet template.
fn replica_set_label(cluster: &Cluster, deployment: &str) -> Vec<Value> {
    cluster
        .fake
        .objects()
        .into_iter()
        .filter(|object| object["kind"] == "ReplicaSet")
        .filter(|set| set["metadata"]["ownerReferences"][0]["name"] == deployment)
        .filter(|set| set["spec"]["replicas"].as_i64() > Some(0))
        .map(|set| set["spec"]["template"]["metadata"]["labels"]["serving"].clone())
        .collect()
}

/// The weight the router read back after the rollback.
fn rolled_back_to(run: &Run) -> Value {
    run.report["timeline"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|event| event["kind"] == "rollback_completed")
        .map(|event| event["weight"].clone())
        .unwrap_or_default()
}

#[test]
fn red_black_labels_the_running_new_pods_and_unlabels_the_old_ones_without_recreating_any() {
    let cluster = with_red_black();
    // The new version needs three reads before it is available.
    cluster.fake.deployment("web-v2", Behaviour::ReadyAfter(2));
    cluster.spec(ROUTER, &blue_green(0.1));
    let run = cluster.run();
    assert_eq!(run.code(), 0, "{}", run.stderr());
    assert_eq!(run.weights(), vec![100]);
    // The pods the target started serve; none was replaced by a relabelling.
    assert_eq!(serving_pods(&cluster), vec!["web-v2-1-0", "web-v2-1-1"]);
    // Templates kept alike, so a later scale-up starts serving pods.
    assert_eq!(template_label(&cluster, "web-v2"), "true");
    assert_eq!(replica_set_label(&cluster, "web-v2"), vec![json!("true")]);
    assert_eq!(template_label(&cluster, "web-v1"), Value::Null);
    let v2 = cluster.object(DEPLOYMENTS, "web-v2");
    assert_eq!(v2["spec"].get("paused"), None, "resumed: {v2}");
    // web-v1 lost the label only once web-v2's pods were endpoints.
    let requests = cluster.fake.requests();
    let first = |method: &str, suffix: &str| {
        requests
            .iter()
            .position(|logged| logged.method == method && logged.path.ends_with(suffix))
            .unwrap_or_else(|| panic!("no {method} {suffix}"))
    };
    assert!(first("GET", "/endpointslices") < first("PUT", "/deployments/web-v1"));
    assert_eq!(cluster.record()["phase"], "promoted");
    run.assert_no_token();
}

#[test]
fn a_later_scale_up_of_the_serving_version_starts_serving_pods_without_a_rollout() {
    let cluster = with_red_black();
    cluster.spec(ROUTER, &blue_green(0.1));
    let run = cluster.run();
    assert_eq!(run.code(), 0, "{}", run.stderr());
    let before = pods_of(&cluster, "web-v2");
    cluster.fake.edit(DEPLOYMENTS, "web-v2", |deployment| {
        deployment["spec"]["replicas"] = json!(3);
    });
    let after = pods_of(&cluster, "web-v2");
    assert_eq!(after.len(), 3, "{after:?}");
    assert!(
        before.iter().all(|pod| after.contains(pod)),
        "no pod replaced"
    );
    assert_eq!(serving_pods(&cluster).len(), 3);
}

#[test]
fn a_rollback_from_100_percent_is_one_round_of_label_patches_with_no_pod_recreated() {
    let cluster = with_red_black();
    let stable_pods = pods_of(&cluster, "web-v1");
    assert_eq!(serving_pods(&cluster).len(), 2);
    // The gate fails after the switch to 100%.
    cluster.spec(ROUTER, &blue_green(0.9));
    let run = cluster.run();
    assert_eq!(run.code(), 2, "{}", run.stderr());
    assert_eq!(rolled_back_to(&run), 0, "{}", run.report);
    assert_eq!(template_label(&cluster, "web-v1"), "true");
    assert_eq!(replica_set_label(&cluster, "web-v1"), vec![json!("true")]);
    assert!(cluster.fake.object(DEPLOYMENTS, "web-v2").is_none());
    // The very pods that served before serve again: same names, same uids.
    assert_eq!(pods_of(&cluster, "web-v1"), stable_pods);
    let names: Vec<String> = stable_pods.into_iter().map(|(name, _)| name).collect();
    assert_eq!(serving_pods(&cluster), names);
    // Switching back wrote labels only: one patch per pod and ReplicaSet,
    // and the Deployment's template (paused, then resumed).
    let rollback_start = cluster
        .fake
        .requests()
        .iter()
        .rposition(|logged| logged.method == "PUT" && logged.path.ends_with("/deployments/web-v1"))
        .expect("web-v1 was relabelled");
    let writes: Vec<String> = cluster.fake.requests()[rollback_start..]
        .iter()
        .filter(|logged| logged.method != "GET")
        .filter(|logged| logged.path.contains("/web-v1"))
        .map(|logged| {
            format!(
                "{} {}",
                logged.method,
                logged.path.rsplit('/').next().unwrap_or_default()
            )
        })
        .collect();
    assert_eq!(writes.len(), 1 + 1 + 2 + 1, "{writes:?}");
    assert_eq!(cluster.record()["phase"], "rolled_back");
}

#[test]
fn red_black_rereads_a_deployment_after_a_conflict() {
    let cluster = with_red_black();
    cluster.spec(ROUTER, &blue_green(0.1));
    let run = cluster.run_failing("PUT", "/deployments/web-v2", 1, Fault::Conflict);
    assert_eq!(run.code(), 0, "{}", run.stderr());
    let statuses = cluster.statuses("PUT", "/deployments/web-v2");
    assert_eq!(statuses, vec![409, 200]);
    assert_eq!(template_label(&cluster, "web-v2"), "true");
}

#[test]
fn red_black_refuses_canary_weights_before_any_write() {
    let cluster = with_red_black();
    cluster.spec(ROUTER, &canary(0.1));
    let run = cluster.run();
    assert_eq!(run.code(), 1);
    let stderr = run.stderr();
    assert!(
        stderr.contains("strategy.canary.steps[0].weight")
            && stderr.contains("a red/black Service label sends all traffic or none"),
        "{stderr}"
    );
    cluster.fake.assert_no_writes();
}

#[test]
fn red_black_fields_are_checked_with_their_paths() {
    let cluster = with_red_black();
    let cases = [
        (
            "  service:\n    name: web\n    stableSelector: {app: web}\n    redBlack: {label: {serving: 'true'}, stableDeployment: a, newDeployment: b}",
            "router.service.stableSelector",
            "not both",
        ),
        (
            "  service:\n    name: web\n    redBlack: {label: {}, stableDeployment: a, newDeployment: b}",
            "router.service.redBlack.label",
            "name the label",
        ),
        (
            "  service:\n    name: web\n    redBlack: {label: {serving: 'true'}, stableDeployment: a, newDeployment: ' '}",
            "router.service.redBlack.newDeployment",
            "must not be empty",
        ),
    ];
    for (router, path, message) in cases {
        cluster.spec(router, &blue_green(0.1));
        let output = cluster.greenlight(&["validate", "-f", "greenlight.yaml"]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{stderr}");
        assert!(
            stderr.contains(path) && stderr.contains(message),
            "{path}: {stderr}"
        );
    }
}

#[test]
fn red_black_refuses_a_service_that_does_not_select_the_label() {
    let cluster = with_red_black();
    cluster.fake.edit(SERVICES, "web", |service| {
        service["spec"]["selector"] = json!({"app": "web"});
    });
    cluster.spec(ROUTER, &blue_green(0.1));
    let run = cluster.run();
    assert_ne!(run.code(), 0);
    let stderr = run.stderr();
    assert!(
        stderr.contains("Service shop/web selects {app=web}, which does not require the serving label serving=true"),
        "{stderr}"
    );
    let labelled = cluster.fake.writes().into_iter().any(|logged| {
        (logged.method == "PUT" && logged.path.starts_with(DEPLOYMENTS))
            || logged.path.starts_with(PODS)
            || logged.path.starts_with(REPLICA_SETS)
    });
    assert!(!labelled, "no pod, ReplicaSet or Deployment was relabelled");
}
