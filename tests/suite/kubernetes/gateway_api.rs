//! `router: gatewayApi` through the binary.

use serde_json::{Value, json};

use super::{Cluster, DEPLOYMENTS, blue_green, canary, collection};
use crate::support::kube_api::{Fault, RouteStatus};

pub fn routes() -> String {
    collection("gateway.networking.k8s.io/v1", "httproutes")
}

pub const ROUTER: &str = "  gatewayApi:\n    route: web\n    rules: [web]\n    stableService: 'web-{{ stable_version }}'\n    newService: 'web-{{ version }}'";

/// A route with a rule greenlight must never touch, and filters, matches and
/// fields in the rule it owns.
pub fn route() -> Value {
    json!({
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": "web", "annotations": {"team": "shop"}},
        "spec": {
            "parentRefs": [{"name": "public", "sectionName": "https"}],
            "hostnames": ["shop.example"],
            "rules": [
                {"name": "admin",
                 "matches": [{"path": {"type": "PathPrefix", "value": "/admin"}, "headers": [{"name": "x-admin", "value": "1"}]}],
                 "filters": [{"type": "RequestHeaderModifier", "requestHeaderModifier": {"add": [{"name": "x-zone", "value": "b"}]}}],
                 "backendRefs": [{"name": "admin", "port": 8080, "weight": 3}, {"name": "admin-old", "port": 8080, "weight": 0}]},
                {"name": "web",
                 "matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
                 "filters": [{"type": "ResponseHeaderModifier", "responseHeaderModifier": {"set": [{"name": "x-served-by", "value": "gw"}]}}],
                 "timeouts": {"request": "10s"},
                 "backendRefs": [{"name": "web-v1", "port": 80, "filters": [{"type": "RequestHeaderModifier", "requestHeaderModifier": {"set": [{"name": "x-v", "value": "1"}]}}]}]}
            ]
        }
    })
}

pub fn with_route() -> Cluster {
    let cluster = Cluster::new();
    cluster.fake.insert(&routes(), route());
    cluster
}

fn refs(cluster: &Cluster) -> Value {
    cluster.object(&routes(), "web")["spec"]["rules"][1]["backendRefs"].clone()
}

#[test]
fn promotes_and_keeps_every_foreign_rule_filter_and_field_byte_for_byte() {
    let cluster = with_route();
    cluster.spec(ROUTER, &canary(0.1));
    let before = route();
    let run = cluster.run();
    assert_eq!(run.code(), 0, "{}", run.stderr());
    assert_eq!(run.report["outcome"], "promoted");
    assert_eq!(run.weights(), vec![10, 50, 100]);
    let after = cluster.object(&routes(), "web");
    let text = |value: &Value| serde_json::to_string(value).unwrap();
    assert_eq!(
        text(&after["spec"]["rules"][0]),
        text(&before["spec"]["rules"][0])
    );
    for field in ["parentRefs", "hostnames"] {
        assert_eq!(text(&after["spec"][field]), text(&before["spec"][field]));
    }
    assert_eq!(
        after["metadata"]["annotations"],
        before["metadata"]["annotations"]
    );
    let rule = &after["spec"]["rules"][1];
    for field in ["matches", "filters", "timeouts", "name"] {
        assert_eq!(
            text(&rule[field]),
            text(&before["spec"]["rules"][1][field]),
            "{field}"
        );
    }
    assert_eq!(
        rule["backendRefs"],
        json!([
            {"name": "web-v1", "port": 80, "weight": 0, "filters": before["spec"]["rules"][1]["backendRefs"][0]["filters"]},
            {"name": "web-v2", "port": 80, "weight": 100}
        ])
    );
    // The old version is scaled down, and the state says v2 is stable.
    assert_eq!(
        cluster.object(super::DEPLOYMENTS, "web-v1")["spec"]["replicas"],
        0
    );
    assert_eq!(cluster.record()["stableVersion"], "v2");
    run.assert_no_token();
}

#[test]
fn a_failed_gate_puts_all_traffic_back_and_removes_the_new_version() {
    let cluster = with_route();
    cluster.spec(ROUTER, &canary(0.9));
    let run = cluster.run();
    assert_eq!(run.code(), 2, "{}", run.stderr());
    assert_eq!(run.report["outcome"], "rolled_back");
    assert_eq!(refs(&cluster)[0]["weight"], 100);
    assert_eq!(
        refs(&cluster)[1],
        json!({"name": "web-v2", "port": 80, "weight": 0})
    );
    assert!(
        cluster.fake.object(DEPLOYMENTS, "web-v2").is_none(),
        "the new Deployment is deleted"
    );
    assert_eq!(cluster.object(DEPLOYMENTS, "web-v1")["spec"]["replicas"], 2);
}

#[test]
fn conflicts_are_read_again_and_retried() {
    let cluster = with_route();
    cluster.spec(ROUTER, &blue_green(0.1));
    let run = cluster.run_failing("PUT", "/httproutes/web", 2, Fault::Conflict);
    assert_eq!(run.code(), 0, "{}", run.stderr());
    let puts = cluster.statuses("PUT", "/httproutes/web");
    assert_eq!(puts[..3], [409, 409, 200]);
    assert_eq!(refs(&cluster)[1]["weight"], 100);
}

#[test]
fn endless_conflicts_fail_with_a_bounded_number_of_tries() {
    let cluster = with_route();
    cluster.spec(ROUTER, &blue_green(0.1));
    let run = cluster.run_failing("PUT", "/httproutes/web", 100, Fault::Conflict);
    assert_ne!(run.code(), 0);
    let puts = cluster.statuses("PUT", "/httproutes/web").len();
    // Five tries to shift, five to put traffic back; the state record's own writes are not counted.
    assert!(puts <= 10, "{puts} PUTs of the route");
    assert!(
        run.stderr().contains("409 Conflict") || run.report.to_string().contains("409 Conflict"),
        "{}",
        run.stderr()
    );
}

#[test]
fn a_gateway_that_refuses_the_route_stops_the_rollout() {
    let cluster = with_route();
    cluster.spec(ROUTER, &blue_green(0.1));
    // The gateway controller refuses every generation, with its own words.
    cluster.fake.route_controller(RouteStatus {
        delay: std::time::Duration::ZERO,
        reject: Some("listener https does not allow routes from namespace shop".into()),
    });
    let run = cluster.run();
    assert_ne!(run.code(), 0);
    assert_ne!(run.report["outcome"], "promoted");
    assert!(
        run.report.to_string().contains(
            "public reports Accepted=False (NotAllowedByListeners): listener https does not allow routes from namespace shop"
        ),
        "{}",
        run.report
    );
}

#[test]
fn a_slow_api_server_is_waited_for() {
    let cluster = with_route();
    cluster.spec(ROUTER, &blue_green(0.1));
    let run = cluster.run_failing(
        "GET",
        "/httproutes/web",
        2,
        Fault::Slow(std::time::Duration::from_millis(300)),
    );
    assert_eq!(run.code(), 0, "{}", run.stderr());
    assert_eq!(refs(&cluster)[1]["weight"], 100);
}

#[test]
fn a_server_error_carries_the_servers_message_and_a_hint() {
    let cluster = with_route();
    cluster.spec(ROUTER, &blue_green(0.1));
    let run = cluster.run_failing("PUT", "/httproutes/web", 100, Fault::ServerError);
    assert_ne!(run.code(), 0);
    let said = format!("{}{}", run.stderr(), run.report);
    assert!(
        said.contains("Internal error occurred: injected by the test"),
        "{said}"
    );
    assert!(said.contains("HTTP 500"), "{said}");
    // Traffic never moved.
    assert_eq!(refs(&cluster), route()["spec"]["rules"][1]["backendRefs"]);
}

#[test]
fn a_route_whose_rules_argo_cd_applied_is_refused_naming_it_with_what_to_add() {
    let cluster = with_route();
    cluster.fake.applied_by(
        &routes(),
        "web",
        "argocd-controller",
        json!({"f:spec": {"f:rules": {}, "f:parentRefs": {}, "f:hostnames": {}}}),
    );
    cluster.spec(ROUTER, &canary(0.1));
    let run = cluster.run();
    assert_eq!(run.code(), 1, "{}", run.stderr());
    let stderr = run.stderr();
    assert!(
        stderr.contains(
            "`spec.rules` is owned by field manager `argocd-controller` (Argo CD, Apply)"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains("ignoreDifferences") && stderr.contains("RespectIgnoreDifferences=true"),
        "{stderr}"
    );
    cluster.fake.assert_no_writes();
}

#[test]
fn a_route_flux_manages_without_owning_its_rules_gets_advice_in_the_first_lines() {
    let cluster = with_route();
    cluster.fake.applied_by(
        &routes(),
        "web",
        "kustomize-controller",
        json!({"f:spec": {"f:parentRefs": {}, "f:hostnames": {}}}),
    );
    cluster.spec(ROUTER, &canary(0.1));
    let run = cluster.run();
    assert_eq!(run.code(), 0, "{}", run.stderr());
    let first = run.stderr().lines().next().unwrap_or_default().to_owned();
    assert!(
        first.contains("is managed by Flux (field manager `kustomize-controller`)")
            && first.contains("kustomize.toolkit.fluxcd.io/ssa: IfNotPresent"),
        "{}",
        run.stderr()
    );
}

#[test]
fn validate_live_names_the_gitops_controller_and_what_to_configure() {
    let cluster = with_route();
    cluster.spec(ROUTER, &canary(0.1));
    let live = ["validate", "-f", "greenlight.yaml", "--live"];
    let output = cluster.greenlight(&live);
    assert!(output.status.success(), "{output:?}");
    assert!(
        String::from_utf8_lossy(&output.stdout).contains("/web (Gateway API) checked live"),
        "{output:?}"
    );
    cluster.fake.applied_by(
        &routes(),
        "web",
        "kustomize-controller",
        json!({"f:spec": {"f:parentRefs": {}}}),
    );
    let output = cluster.greenlight(&live);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(
        stderr.contains("kustomize.toolkit.fluxcd.io/ssa: IfNotPresent"),
        "{stderr}"
    );
    cluster.fake.applied_by(
        &routes(),
        "web",
        "argocd-controller",
        json!({"f:spec": {"f:rules": {}}}),
    );
    let output = cluster.greenlight(&live);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("field manager `argocd-controller`"),
        "{stderr}"
    );
    cluster.fake.assert_no_writes();
}
