//! `router: service` with `redBlack` through the binary (red/black):
//! the serving label moves between the Deployments' pod templates.

use serde_json::{Value, json};

use super::{Cluster, DEPLOYMENTS, Run, SERVICES, blue_green, canary};
use crate::support::kube_api::{Behaviour, Fault};

pub const ROUTER: &str = "  service:\n    name: web\n    redBlack:\n      label: {serving: 'true'}\n      stableDeployment: 'web-{{ stable_version }}'\n      newDeployment: 'web-{{ version }}'\n      pollInterval: 5ms\n      timeout: 5s";

const PODS: &str = "/api/v1/namespaces/shop/pods";

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

/// Names of the ready pods the Service selects.
fn serving_pods(cluster: &Cluster) -> Vec<String> {
    cluster
        .fake
        .objects()
        .into_iter()
        .filter(|object| object["kind"] == "Pod")
        .filter(|pod| pod["metadata"]["labels"]["serving"] == "true")
        .filter(|pod| pod["status"]["conditions"][0]["status"] == "True")
        .filter_map(|pod| pod["metadata"]["name"].as_str().map(str::to_owned))
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

/// The request paths and methods, in order, for a Deployment.
fn deployment_requests(cluster: &Cluster) -> Vec<(String, String)> {
    cluster
        .fake
        .requests()
        .into_iter()
        .filter(|logged| logged.path.starts_with(DEPLOYMENTS))
        .map(|logged| {
            let name = logged
                .path
                .rsplit('/')
                .next()
                .unwrap_or_default()
                .to_owned();
            (logged.method, name)
        })
        .collect()
}

#[test]
fn red_black_labels_the_new_pods_and_unlabels_the_old_ones_once_they_are_ready() {
    let cluster = with_red_black();
    // Each rollout of web-v2 needs three reads before it is available.
    cluster.fake.deployment("web-v2", Behaviour::ReadyAfter(2));
    cluster.spec(ROUTER, &blue_green(0.1));
    let run = cluster.run();
    assert_eq!(run.code(), 0, "{}", run.stderr());
    assert_eq!(run.weights(), vec![100]);
    assert_eq!(template_label(&cluster, "web-v2"), "true");
    assert_eq!(template_label(&cluster, "web-v1"), Value::Null);
    let requests = deployment_requests(&cluster);
    let put = |name: &str| {
        requests
            .iter()
            .position(|request| *request == ("PUT".to_owned(), name.to_owned()))
            .unwrap_or_else(|| panic!("no PUT of {name}: {requests:?}"))
    };
    let (labelled, unlabelled) = (put("web-v2"), put("web-v1"));
    let polls = requests[labelled..unlabelled]
        .iter()
        .filter(|request| *request == &("GET".to_owned(), "web-v2".to_owned()))
        .count();
    assert_eq!(
        polls, 3,
        "web-v1 kept the label until web-v2's labelled pods were ready: {requests:?}"
    );
    assert_eq!(serving_pods(&cluster), vec!["web-v2-2-0", "web-v2-2-1"]);
    assert_eq!(cluster.record()["phase"], "promoted");
    run.assert_no_token();
}

#[test]
fn red_black_puts_the_label_back_on_stable_when_a_gate_fails() {
    let cluster = with_red_black();
    cluster.spec(ROUTER, &blue_green(0.9));
    let run = cluster.run();
    assert_eq!(run.code(), 2, "{}", run.stderr());
    assert_eq!(rolled_back_to(&run), 0, "{}", run.report);
    assert_eq!(template_label(&cluster, "web-v1"), "true");
    assert!(cluster.fake.object(DEPLOYMENTS, "web-v2").is_none());
    let serving = serving_pods(&cluster);
    assert!(
        !serving.is_empty() && serving.iter().all(|pod| pod.starts_with("web-v1-")),
        "{serving:?}"
    );
    assert_eq!(cluster.record()["phase"], "rolled_back");
}

#[test]
fn red_black_rereads_a_deployment_after_a_conflict() {
    let cluster = with_red_black();
    cluster.spec(ROUTER, &blue_green(0.1));
    cluster
        .fake
        .fail_next("PUT", "/deployments/web-v2", 1, Fault::Conflict);
    let run = cluster.run();
    assert_eq!(run.code(), 0, "{}", run.stderr());
    let statuses: Vec<u16> = cluster
        .fake
        .requests()
        .into_iter()
        .filter(|logged| logged.method == "PUT" && logged.path.ends_with("/deployments/web-v2"))
        .map(|logged| logged.status)
        .collect();
    assert_eq!(statuses, vec![409, 200]);
    assert_eq!(template_label(&cluster, "web-v2"), "true");
}

#[test]
fn red_black_rolls_back_when_the_labelled_new_pods_never_become_ready() {
    let cluster = with_red_black();
    // Ready as deployed; its labelled pods (generation 2) crash.
    cluster.fake.deployment(
        "web-v2",
        Behaviour::StuckFrom {
            generation: 2,
            reason: "CrashLoopBackOff".into(),
            message: "back-off 40s restarting failed container=app".into(),
        },
    );
    cluster.spec(ROUTER, &blue_green(0.1));
    let run = cluster.run();
    // A switch that fails is a provider error: traffic goes back, the rollout fails.
    assert_eq!(run.report["outcome"], "failed", "{}", run.stderr());
    assert_eq!(run.code(), 1);
    assert_eq!(rolled_back_to(&run), 0, "{}", run.report);
    let report = run.report.to_string();
    assert!(
        report.contains("web-v2-7d9f8-x2x4q: container app is CrashLoopBackOff"),
        "{report}"
    );
    assert_eq!(template_label(&cluster, "web-v1"), "true");
    let serving = serving_pods(&cluster);
    assert!(
        !serving.is_empty() && serving.iter().all(|pod| pod.starts_with("web-v1-")),
        "{serving:?}"
    );
    assert!(cluster.fake.object(DEPLOYMENTS, "web-v2").is_none());
    assert!(
        cluster.fake.object(PODS, "web-v2-7d9f8-x2x4q").is_none(),
        "the new version's pods went with it"
    );
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
    assert!(
        cluster.fake.writes().is_empty(),
        "{:?}",
        cluster.fake.writes()
    );
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
    let labelled = cluster
        .fake
        .writes()
        .into_iter()
        .any(|logged| logged.method == "PUT" && logged.path.starts_with(DEPLOYMENTS));
    assert!(!labelled, "no pod template was touched");
}
