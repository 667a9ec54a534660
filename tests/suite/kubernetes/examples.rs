//! Every `examples/kubernetes/<router>/`: `validate` accepts it, `plan`
//! explains it, and a rollout of it against the fake (its router object
//! applied, holds shortened with `--set`) succeeds using only what its
//! `rbac.yaml` Role grants.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;
use tempfile::TempDir;

use crate::support::binary::Greenlight;
use crate::support::kube_api::{FakeKube, Logged, NAMESPACE};
use crate::support::snapshot::masked;

fn examples() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/kubernetes");
    let mut folders: Vec<PathBuf> = std::fs::read_dir(&root)
        .expect("examples/kubernetes exists")
        .map(|entry| entry.expect("a folder entry").path())
        .filter(|path| path.is_dir())
        .collect();
    folders.sort();
    folders
}

fn documents(path: &Path) -> Vec<Value> {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|error| panic!("{}: {error}", path.display()));
    serde_yaml::Deserializer::from_str(&text)
        .map(|document| Value::deserialize(document).expect("YAML"))
        .filter(|document| !document.is_null())
        .collect()
}

/// (apiGroup, resource, verb, name) of an API request.
fn access(logged: &Logged) -> (String, String, String, Option<String>) {
    let segments: Vec<&str> = logged.path.trim_matches('/').split('/').collect();
    let (group, rest) = match segments[0] {
        "api" => (String::new(), &segments[2..]),
        _ => (segments[1].to_owned(), &segments[3..]),
    };
    let (resource, name) = match rest {
        ["namespaces", _, resource] => (resource.to_string(), None),
        ["namespaces", _, resource, name] => (resource.to_string(), Some(name.to_string())),
        other => panic!("unexpected path {other:?}"),
    };
    let verb = match (logged.method.as_str(), &name) {
        ("GET", None) => "list",
        ("GET", Some(_)) => "get",
        ("POST", _) => "create",
        ("PUT", _) => "update",
        ("PATCH", _) => "patch",
        ("DELETE", _) => "delete",
        (other, _) => panic!("unexpected method {other}"),
    };
    (group, resource, verb.to_owned(), name)
}

fn allowed(
    role: &Value,
    (group, resource, verb, name): &(String, String, String, Option<String>),
) -> bool {
    let has = |rule: &Value, key: &str, value: &str| {
        rule[key]
            .as_array()
            .is_some_and(|items| items.iter().any(|item| item == value || item == "*"))
    };
    role["rules"].as_array().into_iter().flatten().any(|rule| {
        let names_ok = match (rule["resourceNames"].as_array(), name) {
            (None, _) => true,
            (Some(names), Some(name)) => names.iter().any(|known| known == name.as_str()),
            (Some(_), None) => false,
        };
        has(rule, "apiGroups", group)
            && has(rule, "resources", resource)
            && has(rule, "verbs", verb)
            && names_ok
    })
}

/// Holds and delays shortened, the smoke check and metric made local.
const FAST: [&str; 18] = [
    "--set",
    "smoke=[]",
    "--set",
    "analysis.interval=5ms",
    "--set",
    "analysis.metrics.0.query.command=echo 0",
    "--set",
    "target.kubernetes.pollInterval=5ms",
    "--set",
    "strategy.canary.steps=[{weight: 10, hold: 10ms}]",
    "--set",
    "strategy.canary.scaleDownDelay=0s",
    "--set",
    "strategy.blueGreen.preview.hold=10ms",
    "--set",
    "strategy.blueGreen.postPromotion.hold=10ms",
    "--set",
    "strategy.blueGreen.scaleDownDelay=0s",
];

#[test]
fn every_kubernetes_example_validates_plans_and_runs_with_its_role() {
    let folders = examples();
    assert_eq!(folders.len(), 5, "{folders:?}");
    for folder in folders {
        let spec = folder.join("greenlight.yaml");
        let fake = FakeKube::start();
        let home = TempDir::new().expect("temp dir");
        let greenlight = |args: &[&str]| {
            Greenlight::new()
                .env("KUBECONFIG", fake.kubeconfig(home.path()))
                .env("HOME", home.path())
                .args(args)
                .output()
                .expect("greenlight runs")
        };
        let spec_arg = spec.to_str().expect("utf-8 path");
        let output = greenlight(&["validate", "-f", spec_arg]);
        assert!(
            output.status.success(),
            "{}: {}",
            folder.display(),
            String::from_utf8_lossy(&output.stderr)
        );
        let output = greenlight(&[
            "plan",
            "-f",
            spec_arg,
            "--version",
            "v2",
            "--stable-version",
            "v1",
        ]);
        let plan = String::from_utf8_lossy(&output.stdout).into_owned();
        assert!(output.status.success(), "{plan}");
        let name = folder.file_name().expect("a folder name").to_string_lossy();
        masked(&[home.path()]).bind(|| {
            insta::assert_snapshot!(format!("plan_kubernetes_{name}_example"), plan);
        });
        assert!(fake.requests().is_empty(), "plan touched the cluster");

        for object in documents(&folder.join("router.yaml")) {
            let api_version = object["apiVersion"].as_str().expect("apiVersion");
            let plural = format!(
                "{}s",
                object["kind"].as_str().expect("kind").to_ascii_lowercase()
            );
            let plural = plural.replace("httpproxys", "httpproxies");
            fake.insert(&super::collection(api_version, &plural), object);
        }
        let mut args = vec![
            "run",
            "-f",
            spec_arg,
            "--version",
            "v2",
            "--stable-version",
            "v1",
        ];
        let strategy_blue_green = std::fs::read_to_string(&spec)
            .expect("spec")
            .contains("blueGreen:");
        for pair in FAST.chunks(2) {
            let is_canary = pair[1].starts_with("strategy.canary");
            let is_blue_green = pair[1].starts_with("strategy.blueGreen");
            if (is_canary && strategy_blue_green) || (is_blue_green && !strategy_blue_green) {
                continue;
            }
            args.extend_from_slice(pair);
        }
        let output = greenlight(&args);
        assert!(
            output.status.success(),
            "{}: {}",
            folder.display(),
            String::from_utf8_lossy(&output.stderr)
        );

        let role = documents(&folder.join("rbac.yaml"))
            .into_iter()
            .find(|document| document["kind"] == "Role")
            .expect("rbac.yaml holds a Role");
        assert_eq!(role["metadata"]["namespace"], NAMESPACE);
        for logged in fake.requests() {
            let access = access(&logged);
            assert!(
                allowed(&role, &access),
                "{}: the Role does not allow {access:?}",
                folder.display()
            );
        }
    }
}
