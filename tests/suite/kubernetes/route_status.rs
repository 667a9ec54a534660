//! Routers wait, after each write, until the controller serving the route has
//! observed it, and a controller's refusal rolls back with its own words:
//! through the binary, against the fake's route-status controllers, which
//! answer a write 300 ms later, as a real one does some time after it.

use std::time::Duration;

use serde_json::{Value, json};

use super::{Cluster, Run, canary, collection, gateway_api, openshift};
use crate::support::kube_api::RouteStatus;

/// How late the fake's controllers answer.
const DELAY: Duration = Duration::from_millis(300);

fn with_controller(cluster: &Cluster) {
    cluster.fake.route_controller(RouteStatus {
        delay: DELAY,
        reject: None,
    });
}

/// From the log: how long each write took to be observed, in milliseconds.
fn observed_after(run: &Run) -> Vec<u64> {
    run.stderr()
        .lines()
        .filter_map(|line| line.split_once("the controller observed generation "))
        .filter_map(|(_, rest)| rest.split(" ms after the write").next())
        .filter_map(|rest| rest.rsplit(' ').next()?.parse().ok())
        .collect()
}

/// Every write was waited for, at least as long as the controller took.
fn assert_waited(run: &Run, writes: usize, router: &str) {
    let waits = observed_after(run);
    assert_eq!(waits.len(), writes, "{}", run.stderr());
    assert!(
        waits.iter().all(|ms| *ms >= DELAY.as_millis() as u64),
        "{waits:?}"
    );
    // The figure the Kubernetes truth work reports per router.
    eprintln!("{router}: write → controller observed it: {waits:?} ms");
}

/// The route's status answers its current generation.
fn assert_status_current(route: &Value) {
    let generation = &route["metadata"]["generation"];
    let conditions = route["status"]["parents"][0]["conditions"]
        .as_array()
        .or(route["status"]["conditions"].as_array())
        .cloned()
        .unwrap_or_default();
    assert!(!conditions.is_empty(), "{route}");
    for condition in conditions {
        assert_eq!(&condition["observedGeneration"], generation, "{route}");
    }
}

fn gateway_cluster() -> Cluster {
    let cluster = gateway_api::with_route();
    // The foreign rule's backends exist, so the controller resolves them.
    cluster.service("admin", "admin");
    cluster.service("admin-old", "admin-old");
    cluster.service("web-v1", "v1");
    with_controller(&cluster);
    cluster
}

#[test]
fn gateway_api_waits_for_each_new_generation_before_the_step_counts() {
    let cluster = gateway_cluster();
    cluster.spec(gateway_api::ROUTER, &canary(0.1));
    let run = cluster.run_logging("greenlight=info");
    assert_eq!(run.code(), 0, "{}", run.stderr());
    assert_eq!(run.report["outcome"], "promoted");
    assert_waited(&run, 3, "gatewayApi");
    assert_status_current(&cluster.object(&gateway_api::routes(), "web"));
}

#[test]
fn a_late_resolved_refs_false_rolls_back_with_the_controllers_message() {
    let cluster = gateway_cluster();
    // A typo: no Service `webb-v2` exists; the controller says so 300 ms
    // after the write, long after the route was read back.
    let router = gateway_api::ROUTER.replace("newService: 'web-", "newService: 'webb-");
    cluster.spec(&router, &canary(0.1));
    let run = cluster.run();
    assert_ne!(run.code(), 0, "{}", run.stderr());
    assert_ne!(run.report["outcome"], "promoted");
    assert!(!run.weights().contains(&10), "the step never counted");
    let kinds: Vec<&str> = run.report["timeline"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|event| event["kind"].as_str())
        .collect();
    assert!(kinds.contains(&"rollback_completed"), "{kinds:?}");
    let said = format!("{}{}", run.stderr(), run.report);
    assert!(
        said.contains("public reports ResolvedRefs=False (BackendNotFound): backendRef webb-v2: service \\\"webb-v2\\\" not found")
            || said.contains("public reports ResolvedRefs=False (BackendNotFound): backendRef webb-v2: service \"webb-v2\" not found"),
        "{said}"
    );
    let refs = &cluster.object(&gateway_api::routes(), "web")["spec"]["rules"][1]["backendRefs"];
    assert_eq!(refs[0]["weight"], 100, "{refs}");
    assert_eq!(refs[1]["weight"], 0, "{refs}");
}

fn proxies() -> String {
    collection("projectcontour.io/v1", "httpproxies")
}

fn contour_cluster() -> Cluster {
    let cluster = Cluster::new();
    cluster.service("web-v1", "v1");
    cluster.fake.insert(
        &proxies(),
        json!({"apiVersion": "projectcontour.io/v1", "kind": "HTTPProxy", "metadata": {"name": "web"},
               "spec": {"virtualhost": {"fqdn": "shop.example"},
                        "routes": [{"conditions": [{"prefix": "/"}], "services": [{"name": "web-v1", "port": 80}]}]}}),
    );
    with_controller(&cluster);
    cluster
}

const CONTOUR: &str = "  contour:\n    proxy: web\n    weights: {stable: 'web-{{ stable_version }}', new: 'web-{{ version }}'}";

#[test]
fn contour_waits_for_each_new_generation_before_the_step_counts() {
    let cluster = contour_cluster();
    cluster.spec(CONTOUR, &canary(0.1));
    let run = cluster.run_logging("greenlight=info");
    assert_eq!(run.code(), 0, "{}", run.stderr());
    assert_waited(&run, 3, "contour");
    let proxy = cluster.object(&proxies(), "web");
    assert_eq!(proxy["status"]["currentStatus"], "valid");
    assert_status_current(&proxy);
}

#[test]
fn contour_refusing_the_new_service_rolls_back_with_its_message() {
    let cluster = contour_cluster();
    cluster.spec(&CONTOUR.replace("new: 'web-", "new: 'webb-"), &canary(0.1));
    let run = cluster.run();
    assert_ne!(run.code(), 0, "{}", run.stderr());
    assert_ne!(run.report["outcome"], "promoted");
    let said = format!("{}{}", run.stderr(), run.report);
    assert!(said.contains("reports status invalid"), "{said}");
    assert!(said.contains("webb-v2"), "{said}");
}

#[test]
fn a_route_without_status_is_said_once_and_read_back() {
    let cluster = gateway_api::with_route();
    cluster.spec(gateway_api::ROUTER, &canary(0.1));
    let run = cluster.run();
    assert_eq!(run.code(), 0, "{}", run.stderr());
    let said = run
        .stderr()
        .matches("no gateway controller writes `status.parents` of HTTPRoute shop/web; greenlight relies on reading HTTPRoute shop/web back")
        .count();
    assert_eq!(said, 1, "{}", run.stderr());
}

#[test]
fn an_openshift_router_that_refuses_the_route_rolls_back() {
    let cluster = openshift::with_route();
    cluster.service("web-v1", "v1");
    // Route conditions carry no generation, so only a refusal the router has
    // written can be seen: this one refuses the Route outright.
    cluster.fake.route_controller(RouteStatus {
        delay: DELAY,
        reject: Some("route web: host web.apps.example is claimed by another namespace".into()),
    });
    cluster.spec(openshift::WEIGHTS, &canary(0.1));
    let run = cluster.run_logging("greenlight=info");
    assert_ne!(run.code(), 0, "{}", run.stderr());
    assert_ne!(run.report["outcome"], "promoted");
    let said = format!("{}{}", run.stderr(), run.report);
    assert!(
        said.contains("is not admitted by router default: route web: host web.apps.example is claimed by another namespace"),
        "{said}"
    );
}
