//! Conformance: after each router's scenarios, every object in the fake (what
//! greenlight wrote, and the fixtures and statuses it was given) is validated
//! against the upstream CRDs and OpenAPI documents in ../shared/reference.
//! CEL rules (`x-kubernetes-validations`) are not evaluated by the jsonschema
//! crate; the limits they and the API server enforce are in the fake's limits.rs.

use std::path::Path;

use serde_json::{Value, json};

use super::{Cluster, blue_green, canary, gateway_api, openshift, service, service_red_black};
use crate::support::reference::{read, reference_dir};

/// Makes a Kubernetes structural schema a valid JSON Schema: drops keywords
/// set to `null` (the OpenShift Route CRD has `anyOf: null`, which Kubernetes
/// ignores) and `pattern`s the Rust regex engines cannot compile (Go RE2
/// escapes such as `\/` inside classes); everything else is checked.
fn sanitize(schema: &mut Value) {
    match schema {
        Value::Object(fields) => {
            fields.retain(|key, value| {
                let bad_pattern = key == "pattern"
                    && value.is_string()
                    && jsonschema::validator_for(&json!({"pattern": value})).is_err();
                !(value.is_null() || bad_pattern)
            });
            fields.values_mut().for_each(sanitize);
        }
        Value::Array(items) => items.iter_mut().for_each(sanitize),
        _ => {}
    }
}

/// The `openAPIV3Schema` of a CRD's `version`.
fn crd_schema(dir: &Path, file: &str, version: &str) -> Value {
    let crd: Value = serde_yaml::from_str(&read(dir, file)).expect("the CRD is YAML");
    let versions = crd["spec"]["versions"].as_array().expect("CRD versions");
    let found = versions
        .iter()
        .find(|entry| entry["name"] == version)
        .expect("the CRD serves the version");
    // apiextensions v1beta1 CRDs (the legacy IngressRoute) keep one schema for all versions.
    let mut schema = match &found["schema"]["openAPIV3Schema"] {
        Value::Null => crd["spec"]["validation"]["openAPIV3Schema"].clone(),
        schema => schema.clone(),
    };
    assert!(schema.is_object(), "{file} has no schema for {version}");
    sanitize(&mut schema);
    schema
}

/// A schema for one component of a Kubernetes OpenAPI v3 document.
fn openapi_schema(dir: &Path, file: &str, component: &str) -> Value {
    let document: Value =
        serde_json::from_str(&read(dir, file)).expect("the OpenAPI document is JSON");
    json!({"$ref": format!("#/components/schemas/{component}"), "components": document["components"]})
}

fn schema_for(dir: &Path, object: &Value) -> Value {
    let kind = object["kind"].as_str().unwrap_or_default();
    match (object["apiVersion"].as_str().unwrap_or_default(), kind) {
        ("gateway.networking.k8s.io/v1", "HTTPRoute") => crd_schema(
            dir,
            "gateway-api/crd/gateway.networking.k8s.io_httproutes.yaml",
            "v1",
        ),
        ("projectcontour.io/v1", "HTTPProxy") => crd_schema(
            dir,
            "contour/v1.33.6/httpproxies.projectcontour.io.crd.yaml",
            "v1",
        ),
        ("contour.heptio.com/v1beta1", "IngressRoute") => crd_schema(
            dir,
            "contour/v1.5.1-legacy-ingressroute/ingressroutes.contour.heptio.com.crd.yaml",
            "v1beta1",
        ),
        ("route.openshift.io/v1", "Route") => {
            crd_schema(dir, "openshift-route/routes.crd.yaml", "v1")
        }
        ("apps/v1", kind @ ("Deployment" | "ReplicaSet")) => openapi_schema(
            dir,
            "kubernetes/apis__apps__v1_openapi.json",
            &format!("io.k8s.api.apps.v1.{kind}"),
        ),
        ("v1", kind @ ("Service" | "ConfigMap" | "Pod")) => openapi_schema(
            dir,
            "kubernetes/api__v1_openapi.json",
            &format!("io.k8s.api.core.v1.{kind}"),
        ),
        (api_version, kind) => panic!("no reference schema for {api_version} {kind}"),
    }
}

fn validator_for(dir: &Path, object: &Value) -> jsonschema::Validator {
    // OpenAPI 3.0 schemas are JSON Schema draft 4 (boolean exclusiveMaximum).
    jsonschema::options()
        .with_draft(jsonschema::Draft::Draft4)
        .build(&schema_for(dir, object))
        .expect("the reference schema compiles")
}

/// The reference folder holds no `coordination.k8s.io` document, so the
/// lock's Lease is checked against k8s-openapi's types, generated from the
/// same upstream OpenAPI: it must parse (MicroTimes, integers), and no field
/// may be one the type drops (unknown to the API server).
fn assert_lease_conforms(lease: &Value, scenario: &str) {
    let typed: k8s_openapi::api::coordination::v1::Lease = serde_json::from_value(lease.clone())
        .unwrap_or_else(|error| panic!("{scenario}: the Lease does not parse: {error}\n{lease:#}"));
    let back = serde_json::to_value(&typed).expect("a Lease serializes");
    for field in lease["spec"]
        .as_object()
        .into_iter()
        .flat_map(|spec| spec.keys())
    {
        assert!(
            back["spec"].get(field).is_some(),
            "{scenario}: Lease spec.{field} is not a Lease field\n{lease:#}"
        );
    }
}

fn assert_conforms(dir: &Path, cluster: &Cluster, scenario: &str) {
    for object in cluster.fake.objects() {
        if object["apiVersion"] == "coordination.k8s.io/v1" && object["kind"] == "Lease" {
            assert_lease_conforms(&object, scenario);
            continue;
        }
        let validator = validator_for(dir, &object);
        let errors: Vec<String> = validator
            .iter_errors(&object)
            .map(|error| format!("{} at {}", error, error.instance_path()))
            .collect();
        assert!(
            errors.is_empty(),
            "{scenario}: {} {} does not conform:\n{}\n{object:#}",
            object["kind"],
            object["metadata"]["name"],
            errors.join("\n")
        );
    }
}

#[test]
fn every_object_greenlight_writes_matches_the_upstream_schemas() {
    let Some(dir) = reference_dir() else { return };
    type Given = fn() -> Cluster;
    let gateway: (Given, &str) = (gateway_api::with_route, gateway_api::ROUTER);
    let route: (Given, &str) = (openshift::with_route, openshift::WEIGHTS);
    let selector: (Given, &str) = (service::with_service, service::ROUTER);
    let red_black: (Given, &str) = (service_red_black::with_red_black, service_red_black::ROUTER);
    let scenarios = [
        ("gateway-api canary", gateway, canary(0.1)),
        ("gateway-api rollback", gateway, canary(0.9)),
        ("openshift weights", route, canary(0.1)),
        ("openshift rollback", route, canary(0.9)),
        ("service", selector, blue_green(0.1)),
        ("service red/black", red_black, blue_green(0.1)),
        ("service red/black rollback", red_black, blue_green(0.9)),
    ];
    for (name, (given, router), strategy) in scenarios {
        let cluster = given();
        cluster.spec(router, &strategy);
        let run = cluster.run();
        let outcome = &run.report["outcome"];
        assert!(
            outcome == "promoted" || outcome == "rolled_back",
            "{name}: {}",
            run.stderr()
        );
        assert_conforms(&dir, &cluster, name);
    }
    let switch = super::openshift::with_route();
    switch.spec(super::openshift::SWITCH, &blue_green(0.1));
    assert_eq!(switch.run().code(), 0);
    assert_conforms(&dir, &switch, "openshift switch");
    for (name, proxy, router) in super::contour::fixtures() {
        let cluster = Cluster::new();
        cluster.fake.insert(&proxy.0, proxy.1);
        cluster.spec(
            router,
            &if router.contains("delegation") {
                blue_green(0.1)
            } else {
                canary(0.1)
            },
        );
        assert_eq!(cluster.run().code(), 0, "{name}");
        assert_conforms(&dir, &cluster, name);
    }
}

#[test]
fn the_check_catches_what_the_schemas_forbid() {
    let Some(dir) = reference_dir() else { return };
    let mut route = super::openshift::route();
    route["spec"]["alternateBackends"] = json!([{"kind": "Service", "name": "b", "weight": 300}]);
    let mut http_route = super::gateway_api::route();
    http_route["spec"]["rules"][1]["backendRefs"][0]["weight"] = json!(1_000_001);
    for object in [route, http_route] {
        let validator = validator_for(&dir, &object);
        assert!(!validator.is_valid(&object), "{object}");
    }
}
