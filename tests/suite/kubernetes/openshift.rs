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
    let run = cluster.run_failing("PUT", "/routes/web", 1, Fault::Conflict);
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
    cluster.fake.assert_no_writes();
}

#[test]
fn a_foreign_weighted_backend_is_refused_before_any_write() {
    let cluster = Cluster::new();
    let mut foreign = route();
    foreign["spec"]["alternateBackends"] =
        json!([{"kind": "Service", "name": "web-ab", "weight": 100}]);
    cluster.fake.insert(&routes(), foreign);
    cluster.spec(WEIGHTS, &canary(0.1));
    let run = cluster.run();
    assert_eq!(run.code(), 1, "{}", run.stderr());
    let stderr = run.stderr();
    assert!(
        stderr.contains("also sends traffic to `web-ab` (weight 100), which is neither the stable `web-v1` nor the new `web-v2`"),
        "{stderr}"
    );
    assert!(
        stderr.contains("oc set route-backends web web-v1=100 web-ab=0"),
        "{stderr}"
    );
    cluster.fake.assert_no_writes();
}

#[test]
fn a_foreign_backend_at_weight_0_that_still_has_endpoints_is_never_removed() {
    let cluster = Cluster::new();
    // web-ab takes no new traffic but still serves open connections.
    cluster.fake.insert(
        super::DEPLOYMENTS,
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web-ab"},
               "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web", "version": "ab"}},
                        "template": {"metadata": {"labels": {"app": "web", "version": "ab"}},
                                     "spec": {"containers": [{"name": "app", "image": "web:ab"}]}}}}),
    );
    cluster.service("web-ab", "ab");
    let mut kept = route();
    kept["spec"]["alternateBackends"] = json!([{"kind": "Service", "name": "web-ab", "weight": 0}]);
    cluster.fake.insert(&routes(), kept);
    cluster.spec(WEIGHTS, &canary(0.1));
    let run = cluster.run();
    assert_eq!(run.code(), 0, "{}", run.stderr());
    assert_eq!(
        cluster.object(&routes(), "web")["spec"]["alternateBackends"],
        json!([{"kind": "Service", "name": "web-ab", "weight": 0},
               {"kind": "Service", "name": "web-v2", "weight": 200}])
    );
}

#[test]
fn a_route_without_the_roundrobin_annotation_is_named_with_how_to_set_it() {
    let cluster = Cluster::new();
    let mut plain = route();
    plain["metadata"]["annotations"] = json!({});
    cluster.fake.insert(&routes(), plain);
    cluster.spec(WEIGHTS, &canary(0.1));
    let run = cluster.run();
    assert_eq!(run.code(), 0, "{}", run.stderr());
    assert!(
        run.stderr()
            .contains("has `haproxy.router.openshift.io/balance: (not set)`")
            && run.stderr().contains(
                "oc annotate route web haproxy.router.openshift.io/balance=roundrobin --overwrite"
            ),
        "{}",
        run.stderr()
    );
}

#[test]
fn endpoint_rounding_that_moves_the_real_share_is_warned_about() {
    let cluster = with_route();
    cluster.service("web-v1", "v1");
    // One stable pod and ten new ones: at 1% each new pod still gets weight 1.
    cluster
        .fake
        .edit(super::DEPLOYMENTS, "web-v1", |deployment| {
            deployment["spec"]["replicas"] = json!(1);
        });
    let manifests = cluster.dir.path().join("k8s/web.yaml");
    let text = std::fs::read_to_string(&manifests).unwrap();
    std::fs::write(&manifests, text.replacen("replicas: 2", "replicas: 10", 1)).unwrap();
    cluster.spec(
        WEIGHTS,
        "strategy:\n  canary:\n    steps:\n    - {weight: 1, hold: 10ms}\n    - {weight: 50, hold: 10ms}\nanalysis:\n  interval: 5ms\n  metrics:\n  - name: error-rate\n    query: {command: echo 0.1}\n    max: 0.5\n",
    );
    let run = cluster.run();
    assert_eq!(run.code(), 0, "{}", run.stderr());
    let stderr = run.stderr();
    // 10 × 1 against 1 × 256: 3.8%, not 1%; at 50% the pods weigh 25 and 256.
    assert!(
        stderr.contains("sends the new version about 3.8% of requests, not 1%")
            && stderr.contains("ready endpoints web-v1: 1, web-v2: 10"),
        "{stderr}"
    );
    assert_eq!(stderr.matches("of requests, not").count(), 1, "{stderr}");
}
