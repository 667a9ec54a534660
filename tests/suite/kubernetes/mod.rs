//! The real binary against the fake API server: one module per router, the
//! target, and the conformance of what greenlight writes.

mod conformance;
mod contour;
mod deploy;
mod examples;
mod gateway_api;
mod openshift;
mod route_status;
mod service;
mod service_red_black;

use std::path::PathBuf;
use std::process::Output;

use serde_json::{Value, json};
use tempfile::TempDir;

use crate::support::binary::{self, Greenlight};
use crate::support::kube_api::{FakeKube, Fault, NAMESPACE, TOKEN};

pub const DEPLOYMENTS: &str = "/apis/apps/v1/namespaces/shop/deployments";
pub const SERVICES: &str = "/api/v1/namespaces/shop/services";
pub const CONFIG_MAPS: &str = "/api/v1/namespaces/shop/configmaps";

/// A Deployment and a Service per version, named after it.
const MANIFESTS: &str = r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: web-{{ version }}
  labels: {app: web, version: "{{ version }}"}
spec:
  replicas: 2
  selector:
    matchLabels: {app: web, version: "{{ version }}"}
  template:
    metadata:
      labels: {app: web, version: "{{ version }}"}
    spec:
      containers:
      - name: app
        image: "registry.example/web:{{ version }}"
---
apiVersion: v1
kind: Service
metadata:
  name: web-{{ version }}
spec:
  selector: {app: web, version: "{{ version }}"}
  ports:
  - port: 80
    targetPort: 8080
"#;

/// Two canary steps and a gate that passes (or fails with `error_rate` above 0.5).
pub fn canary(error_rate: f64) -> String {
    format!(
        "strategy:\n  canary:\n    steps:\n    - {{weight: 10, hold: 10ms}}\n    - {{weight: 50, hold: 10ms}}\nanalysis:\n  interval: 5ms\n  metrics:\n  - name: error-rate\n    query: {{command: echo {error_rate}}}\n    max: 0.5\n"
    )
}

pub fn blue_green(error_rate: f64) -> String {
    format!(
        "strategy:\n  blueGreen:\n    postPromotion: {{hold: 10ms}}\nanalysis:\n  interval: 5ms\n  metrics:\n  - name: error-rate\n    query: {{command: echo {error_rate}}}\n    max: 0.5\n"
    )
}

pub struct Cluster {
    pub fake: FakeKube,
    pub dir: TempDir,
}

pub struct Run {
    pub output: binary::Run,
    /// The JSON report (`null` when none was written).
    pub report: Value,
}

impl Run {
    pub fn code(&self) -> i32 {
        self.output.code().unwrap_or(-1)
    }

    pub fn stderr(&self) -> String {
        self.output.stderr.clone()
    }

    /// The weights the timeline says were set, in order.
    pub fn weights(&self) -> Vec<u64> {
        self.report["timeline"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|event| event["kind"] == "weight_set")
            .filter_map(|event| event["weight"].as_u64())
            .collect()
    }

    /// Nothing that was printed or reported holds the kubeconfig's token.
    pub fn assert_no_token(&self) {
        let all = format!("{}{}{}", self.output.stdout, self.stderr(), self.report);
        assert!(!all.contains(TOKEN), "the token leaked:\n{all}");
    }
}

impl Cluster {
    /// The fake, with the stable version v1 running, and the manifests written.
    pub fn new() -> Self {
        let cluster = Self {
            fake: FakeKube::start(),
            dir: TempDir::new().expect("temp dir"),
        };
        std::fs::create_dir_all(cluster.dir.path().join("k8s")).expect("manifests folder");
        std::fs::write(cluster.dir.path().join("k8s/web.yaml"), MANIFESTS).expect("manifests");
        cluster.fake.insert(
            DEPLOYMENTS,
            json!({"apiVersion": "apps/v1", "kind": "Deployment",
                   "metadata": {"name": "web-v1", "labels": {"app": "web", "version": "v1"}},
                   "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web", "version": "v1"}},
                            "template": {"metadata": {"labels": {"app": "web", "version": "v1"}},
                                         "spec": {"containers": [{"name": "app", "image": "registry.example/web:v1"}]}}}}),
        );
        cluster
    }

    /// A Service `name` selecting pods labelled `app: web, version: <version>`.
    pub fn service(&self, name: &str, version: &str) {
        self.fake.insert(
            SERVICES,
            json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
                   "spec": {"selector": {"app": "web", "version": version},
                            "ports": [{"port": 80, "targetPort": 8080}]}}),
        );
    }

    /// Writes `greenlight.yaml` with the Kubernetes target, `router` and `rest`.
    pub fn spec(&self, router: &str, rest: &str) -> PathBuf {
        let path = self.dir.path().join("greenlight.yaml");
        let text = format!(
            "apiVersion: greenlight.dev/v1alpha1\nkind: Rollout\nmetadata:\n  name: web\ntarget:\n  kubernetes:\n    manifests: [k8s]\n    pollInterval: 5ms\n    timeout: 5s\nrouter:\n{router}\n{rest}"
        );
        std::fs::write(&path, text).expect("spec");
        path
    }

    pub fn greenlight(&self, args: &[&str]) -> Output {
        self.command("warn")
            .args(args)
            .output()
            .expect("greenlight runs")
    }

    /// The binary in the cluster's folder, on the fake's kubeconfig, with
    /// `GREENLIGHT_LOG` set to `log`.
    fn command(&self, log: &str) -> Greenlight {
        let kubeconfig = self.fake.kubeconfig(self.dir.path());
        let mut command = Greenlight::new();
        command
            .current_dir(self.dir.path())
            .env("KUBECONFIG", kubeconfig)
            .env("HOME", self.dir.path())
            .env("GREENLIGHT_LOG", log);
        command
    }

    /// `greenlight run` v1 → v2 with a JSON report.
    pub fn run(&self) -> Run {
        self.run_logging("warn")
    }

    /// `greenlight run` v1 → v2, logging at `log`.
    pub fn run_logging(&self, log: &str) -> Run {
        let mut command = self.command(log);
        command.args(["run", "-f", "greenlight.yaml"]).args([
            "--version",
            "v2",
            "--stable-version",
            "v1",
        ]);
        let output = command.run();
        let report = output.report.clone().unwrap_or(Value::Null);
        Run { output, report }
    }

    /// `run`, with the fake answering the next `count` `method`s of paths
    /// ending in `path_suffix` with `fault`.
    pub fn run_failing(&self, method: &str, path_suffix: &str, count: usize, fault: Fault) -> Run {
        self.fake.fail_next(method, path_suffix, count, fault);
        self.run()
    }

    /// The statuses the fake answered the `method`s of paths ending in
    /// `path_suffix` with, in order.
    pub fn statuses(&self, method: &str, path_suffix: &str) -> Vec<u16> {
        self.fake
            .requests()
            .iter()
            .filter(|logged| logged.method == method && logged.path.ends_with(path_suffix))
            .map(|logged| logged.status)
            .collect()
    }

    pub fn object(&self, collection: &str, name: &str) -> Value {
        self.fake
            .object(collection, name)
            .unwrap_or_else(|| panic!("{collection}/{name} is gone"))
    }

    /// The state record greenlight keeps in ConfigMap greenlight-web.
    pub fn record(&self) -> Value {
        let map = self.object(CONFIG_MAPS, "greenlight-web");
        serde_json::from_str(map["data"]["record"].as_str().expect("a record"))
            .expect("record JSON")
    }
}

/// A namespace-scoped collection path of the fake.
pub fn collection(api_version: &str, plural: &str) -> String {
    if api_version.contains('/') {
        format!("/apis/{api_version}/namespaces/{NAMESPACE}/{plural}")
    } else {
        format!("/api/{api_version}/namespaces/{NAMESPACE}/{plural}")
    }
}
