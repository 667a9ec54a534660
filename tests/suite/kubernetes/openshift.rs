//! `router: openshift` through the binary.

use serde_json::{Value, json};

use super::{Cluster, blue_green, canary, collection};
use crate::support::kube_api::Fault;

pub fn routes() -> String {
    collection("route.openshift.io/v1", "routes")
}

pub const WEIGHTS: &str = "  openshift:\n    route: web\n    stableService: 'web-{{ stable_version }}'\n    newService: 'web-{{ version }}'";
pub const SWITCH: &str = "  openshift:\n    route: web\n    switch: true\n    stableService: 'web-{{ stable_version }}'\n    newService: 'web-{{ version }}'";

pub fn route() -> Value {
    json!({
        "apiVersion": "route.openshift.io/v1", "kind": "Route",
        "metadata": {"name": "web", "annotations": {"haproxy.router.openshift.io/balance": "roundrobin"}},
        "spec": {"host": "web.apps.example", "to": {"kind": "Service", "name": "web-v1", "weight": 100},
                 "alternateBackends": [{"kind": "Service", "name": "web-v0", "weight": 0}],
                 "port": {"targetPort": "http"}, "tls": {"termination": "edge"}}
    })
}

pub fn with_route() -> Cluster {
    let cluster = Cluster::new();
    cluster.fake.insert(&routes(), route());
    cluster
}

#[test]
fn promotes_by_weights_mapped_like_oc_set_route_backends() {
    let cluster = with_route();
    cluster.spec(WEIGHTS, &canary(0.1));
    cluster
        .fake
        .fail_next("PUT", "/routes/web", 1, Fault::Conflict);
    let run = cluster.run();
    assert_eq!(run.code(), 0, "{}", run.stderr());
    let spec = &cluster.object(&routes(), "web")["spec"];
    assert_eq!(
        spec["to"],
        json!({"kind": "Service", "name": "web-v1", "weight": 0})
    );
    // The leftover web-v0 at weight 0 made room; v2 has all 200.
    assert_eq!(
        spec["alternateBackends"],
        json!([{"kind": "Service", "name": "web-v2", "weight": 200}])
    );
    assert_eq!(spec["tls"], route()["spec"]["tls"]);
    let puts = cluster
        .fake
        .requests()
        .iter()
        .filter(|l| l.method == "PUT" && l.path.ends_with("/routes/web"))
        .map(|l| l.status)
        .collect::<Vec<_>>();
    assert_eq!(puts[..2], [409, 200]);
}

#[test]
fn the_rollout_after_a_promotion_starts_from_the_promoted_service() {
    let cluster = Cluster::new();
    // What a promotion of v1 over v0 left behind: spec.to on v0 at 0, v1 an alternate.
    let mut promoted = route();
    promoted["spec"]["to"] = json!({"kind": "Service", "name": "web-v0", "weight": 0});
    promoted["spec"]["alternateBackends"] =
        json!([{"kind": "Service", "name": "web-v1", "weight": 200}]);
    cluster.fake.insert(&routes(), promoted);
    cluster.spec(WEIGHTS, &canary(0.1));
    let run = cluster.run();
    assert_eq!(run.code(), 0, "{}", run.stderr());
    let spec = &cluster.object(&routes(), "web")["spec"];
    assert_eq!(
        spec["to"],
        json!({"kind": "Service", "name": "web-v1", "weight": 0})
    );
    assert_eq!(
        spec["alternateBackends"],
        json!([{"kind": "Service", "name": "web-v2", "weight": 200}])
    );
}

#[test]
fn rolls_back_to_the_stable_service() {
    let cluster = with_route();
    cluster.spec(WEIGHTS, &canary(0.9));
    let run = cluster.run();
    assert_eq!(run.code(), 2, "{}", run.stderr());
    let spec = &cluster.object(&routes(), "web")["spec"];
    assert_eq!(spec["to"]["weight"], 200);
    assert_eq!(
        spec["alternateBackends"],
        json!([{"kind": "Service", "name": "web-v2", "weight": 0}])
    );
}

#[test]
fn blue_green_switches_spec_to_name() {
    let cluster = with_route();
    cluster.spec(SWITCH, &blue_green(0.1));
    let run = cluster.run();
    assert_eq!(run.code(), 0, "{}", run.stderr());
    assert_eq!(
        cluster.object(&routes(), "web")["spec"]["to"]["name"],
        "web-v2"
    );
}

#[test]
fn partial_weights_on_a_switch_are_refused_before_any_write() {
    let cluster = with_route();
    cluster.spec(SWITCH, &canary(0.1));
    let run = cluster.run();
    assert_eq!(run.code(), 1);
    assert!(
        run.stderr().contains("greenlight.yaml:")
            && run.stderr().contains("strategy.canary.steps[0].weight"),
        "{}",
        run.stderr()
    );
    assert!(
        cluster.fake.writes().is_empty(),
        "{:?}",
        cluster.fake.writes()
    );
}
