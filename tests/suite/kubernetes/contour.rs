//! `router: contour` through the binary: HTTPProxy weights, delegation, and
//! the legacy IngressRoute.

use serde_json::json;

use super::{Cluster, blue_green, canary, collection};
use crate::support::kube_api::Fault;

fn proxies() -> String {
    collection("projectcontour.io/v1", "httpproxies")
}

fn ingress_routes() -> String {
    collection("contour.heptio.com/v1beta1", "ingressroutes")
}

const WEIGHTS: &str = "  contour:\n    proxy: web\n    weights: {stable: 'web-{{ stable_version }}', new: 'web-{{ version }}'}";

fn proxy() -> serde_json::Value {
    json!({"apiVersion": "projectcontour.io/v1", "kind": "HTTPProxy", "metadata": {"name": "web"},
           "spec": {"virtualhost": {"fqdn": "shop.example"},
                    "routes": [{"conditions": [{"prefix": "/static"}], "services": [{"name": "cdn", "port": 80}]},
                               {"conditions": [{"prefix": "/"}], "timeoutPolicy": {"response": "5s"},
                                "services": [{"name": "web-v1", "port": 80}]}]}})
}

const DELEGATION: &str = "  contour:\n    proxy: root\n    delegation: {stable: 'blog-{{ stable_version }}', new: 'blog-{{ version }}'}";
const LEGACY: &str = "  contour:\n    proxy: root-blog\n    legacy: true\n    delegation: {stable: 'blog-{{ stable_version }}', new: 'blog-{{ version }}'}";

fn root() -> serde_json::Value {
    json!({"apiVersion": "projectcontour.io/v1", "kind": "HTTPProxy", "metadata": {"name": "root"},
           "spec": {"virtualhost": {"fqdn": "blog.example"},
                    "includes": [{"name": "blog-v1", "conditions": [{"prefix": "/blog"}]}]}})
}

fn root_blog() -> serde_json::Value {
    json!({"apiVersion": "contour.heptio.com/v1beta1", "kind": "IngressRoute", "metadata": {"name": "root-blog"},
           "spec": {"virtualhost": {"fqdn": "blog.example"},
                    "routes": [{"match": "/blog", "delegate": {"name": "blog-v1", "namespace": "shop"}}]}})
}

/// Each Contour mode: a name, its fixture (collection, object) and its router.
pub fn fixtures() -> Vec<(&'static str, (String, serde_json::Value), &'static str)> {
    vec![
        ("contour weights", (proxies(), proxy()), WEIGHTS),
        ("contour delegation", (proxies(), root()), DELEGATION),
        (
            "contour legacy delegation",
            (ingress_routes(), root_blog()),
            LEGACY,
        ),
    ]
}

#[test]
fn promotes_by_service_weights_and_leaves_other_routes() {
    let cluster = Cluster::new();
    cluster.fake.insert(&proxies(), proxy());
    cluster.spec(WEIGHTS, &canary(0.1));
    let run = cluster.run_failing("PUT", "/httpproxies/web", 1, Fault::Conflict);
    assert_eq!(run.code(), 0, "{}", run.stderr());
    let spec = &cluster.object(&proxies(), "web")["spec"];
    assert_eq!(spec["routes"][0], proxy()["spec"]["routes"][0]);
    assert_eq!(
        spec["routes"][1]["timeoutPolicy"],
        json!({"response": "5s"})
    );
    assert_eq!(
        spec["routes"][1]["services"],
        json!([{"name": "web-v1", "port": 80, "weight": 0}, {"name": "web-v2", "port": 80, "weight": 100}])
    );
}

#[test]
fn rolls_back_weights() {
    let cluster = Cluster::new();
    cluster.fake.insert(&proxies(), proxy());
    cluster.spec(WEIGHTS, &canary(0.9));
    let run = cluster.run();
    assert_eq!(run.code(), 2, "{}", run.stderr());
    let services = &cluster.object(&proxies(), "web")["spec"]["routes"][1]["services"];
    assert_eq!(services[0]["weight"], 100);
    assert_eq!(services[1]["weight"], 0);
}

#[test]
fn blue_green_by_delegation_switches_the_include() {
    let cluster = Cluster::new();
    cluster.fake.insert(&proxies(), root());
    cluster.spec(DELEGATION, &blue_green(0.1));
    let run = cluster.run();
    assert_eq!(run.code(), 0, "{}", run.stderr());
    assert_eq!(
        cluster.object(&proxies(), "root")["spec"]["includes"],
        json!([{"name": "blog-v2", "conditions": [{"prefix": "/blog"}]}])
    );
}

#[test]
fn legacy_ingress_route_delegation_rolls_back() {
    let cluster = Cluster::new();
    cluster.fake.insert(&ingress_routes(), root_blog());
    cluster.spec(LEGACY, &blue_green(0.9));
    let run = cluster.run();
    assert_eq!(run.code(), 2, "{}", run.stderr());
    assert!(run.weights().contains(&100), "{:?}", run.weights());
    assert_eq!(
        cluster.object(&ingress_routes(), "root-blog")["spec"]["routes"][0]["delegate"],
        json!({"name": "blog-v1", "namespace": "shop"})
    );
}
