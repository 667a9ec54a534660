//! `router: service` through the binary (blue/green by selector).

use serde_json::json;

use super::{Cluster, SERVICES, blue_green};
use crate::support::kube_api::Fault;

pub const ROUTER: &str = "  service:\n    name: web\n    stableSelector: {app: web, version: '{{ stable_version }}'}\n    newSelector: {app: web, version: '{{ version }}'}";

pub fn with_service() -> Cluster {
    let cluster = Cluster::new();
    cluster.fake.insert(
        SERVICES,
        json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
               "spec": {"type": "LoadBalancer", "selector": {"app": "web", "version": "v1"},
                        "ports": [{"port": 80, "targetPort": 8080, "protocol": "TCP"}]}}),
    );
    cluster
}

#[test]
fn switches_the_selector_and_retries_a_conflict() {
    let cluster = with_service();
    cluster.spec(ROUTER, &blue_green(0.1));
    let run = cluster.run_failing("PUT", "/services/web", 1, Fault::Conflict);
    assert_eq!(run.code(), 0, "{}", run.stderr());
    let service = cluster.object(SERVICES, "web");
    assert_eq!(
        service["spec"]["selector"],
        json!({"app": "web", "version": "v2"})
    );
    assert_eq!(service["spec"]["type"], "LoadBalancer");
}

#[test]
fn switches_back_on_a_failed_gate() {
    let cluster = with_service();
    cluster.spec(ROUTER, &blue_green(0.9));
    let run = cluster.run();
    assert_eq!(run.code(), 2, "{}", run.stderr());
    assert_eq!(
        cluster.object(SERVICES, "web")["spec"]["selector"],
        json!({"app": "web", "version": "v1"})
    );
    assert_eq!(cluster.record()["phase"], "rolled_back");
}

#[test]
fn weights_the_schema_forbids_are_refused_before_any_write() {
    let cluster = with_service();
    cluster.spec(ROUTER, &blue_green(0.1));
    let output = cluster.greenlight(&[
        "run",
        "-f",
        "greenlight.yaml",
        "--version",
        "v2",
        "--stable-version",
        "v1",
        "--set",
        "strategy={canary: {steps: [{weight: 150, hold: 1s}]}}",
    ]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("between 0 and 100, got 150"), "{stderr}");
    assert!(
        cluster.fake.requests().is_empty(),
        "{:?}",
        cluster.fake.requests()
    );
}
