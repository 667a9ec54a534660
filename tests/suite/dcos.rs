//! DC/OS through the binary: the Marathon target and the Edge-LB router against the
//! Marathon and Edge-LB doubles. The workflow: pool `sample-config` sends its HTTP
//! frontend to backend `svc`, which serves the Marathon app `/svc-blue`; the release
//! starts `/svc-green` beside it and moves the backend over.

use std::path::PathBuf;
use std::process::Output;
use std::sync::Arc;
use std::time::Duration;

use greenlight::clock::{Clock, ManualClock, SystemClock};
use greenlight::deploy::Target;
use greenlight::deploy::marathon::MarathonTarget;
use greenlight::duration::Span;

use serde_json::{Value, json};
use tempfile::TempDir;

use assert_cmd::prelude::*;

use crate::support::binary::Greenlight;
use crate::support::edgelb::FakeEdgeLb;
use crate::support::marathon::{FakeMarathon, Health};
use crate::support::rollout::describe;

pub(crate) const TOKEN: &str = "dcos_acs_SENTINEL_do_not_print";

pub(crate) fn sample_pool() -> Value {
    json!({
        "apiVersion": "V2",
        "name": "sample-config",
        "count": 1,
        "haproxy": {
            "frontends": [{
                "bindPort": 80,
                "protocol": "HTTP",
                "linkBackend": {"defaultBackend": "svc"}
            }],
            "backends": [{
                "name": "svc",
                "protocol": "HTTP",
                "services": [{
                    "marathon": {"serviceID": "/svc-blue"},
                    "endpoint": {"portName": "web"}
                }]
            }]
        }
    })
}

/// The app definition, as the example ships it: the id carries the version.
pub(crate) const APP: &str = r#"{
  "id": "/svc-{{ version }}",
  "instances": 2,
  "cpus": 0.1,
  "mem": 32,
  "cmd": "python3 -m http.server $PORT0",
  "portDefinitions": [{"port": 0, "protocol": "tcp", "name": "web"}],
  "healthChecks": [{"protocol": "MESOS_HTTP", "path": "/", "portIndex": 0,
                    "gracePeriodSeconds": 30, "intervalSeconds": 5, "maxConsecutiveFailures": 3}],
  "labels": {"VERSION": "{{ version }}"}
}
"#;

pub(crate) struct Cluster {
    pub(crate) marathon: FakeMarathon,
    pub(crate) edgelb: FakeEdgeLb,
    pub(crate) dir: TempDir,
}

impl Cluster {
    /// Blue running with 2 healthy tasks behind the sample pool; both APIs want the token.
    pub(crate) async fn start() -> Cluster {
        let marathon = FakeMarathon::start().await;
        marathon.state().token = Some(TOKEN.into());
        marathon.add_app(
            serde_json::from_str(&APP.replace("{{ version }}", "blue"))
                .unwrap_or_else(|e| panic!("bad app: {e}")),
        );
        let edgelb = FakeEdgeLb::start(vec![sample_pool()]).await;
        edgelb.state().token = Some(TOKEN.into());
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("no temp dir: {e}"));
        std::fs::write(dir.path().join("svc.json"), APP).unwrap();
        Cluster {
            marathon,
            edgelb,
            dir,
        }
    }

    /// Writes the spec around `strategy` (and `extra` top-level YAML) and returns its path.
    pub(crate) fn spec(&self, mode: &str, strategy: &str, extra: &str) -> PathBuf {
        self.spec_with(
            ("/svc-{{ stable_version }}", "/svc-{{ version }}"),
            mode,
            strategy,
            extra,
        )
    }

    /// `spec` with the backend's two Marathon services named by `services` (stable, new).
    pub(crate) fn spec_with(
        &self,
        (stable, new): (&str, &str),
        mode: &str,
        strategy: &str,
        extra: &str,
    ) -> PathBuf {
        let spec = format!(
            r#"apiVersion: greenlight.dev/v1alpha1
kind: Rollout
metadata:
  name: svc
target:
  marathon:
    url: {marathon}
    tokenEnv: DCOS_TEST_TOKEN
    app: svc.json
    timeout: 3s
    interval: 20ms
router:
  edgelb:
    url: {edgelb}
    tokenEnv: DCOS_TEST_TOKEN
    pool: sample-config
    backend: svc
    stableService: {stable}
    newService: {new}
    mode: {mode}
strategy:
{strategy}
state:
  file: {dir}/state.json
{extra}"#,
            marathon = self.marathon.url(),
            edgelb = self.edgelb.url(),
            dir = self.dir.path().display(),
        );
        let path = self.dir.path().join("greenlight.yaml");
        std::fs::write(&path, spec).unwrap();
        path
    }

    pub(crate) async fn run(&self, spec: &PathBuf) -> Output {
        let mut command = Greenlight::on("run", spec).into_tokio();
        command
            .args(["--version", "green", "--stable-version", "blue", "--report"])
            .arg(self.dir.path().join("report.json"))
            .env("DCOS_TEST_TOKEN", TOKEN)
            .kill_on_drop(true);
        let output = tokio::time::timeout(Duration::from_secs(60), command.output())
            .await
            .unwrap_or_else(|_| panic!("greenlight did not finish within 60s"))
            .unwrap_or_else(|e| panic!("cannot run greenlight: {e}"));
        let all = describe(&output);
        assert!(!all.contains(TOKEN), "the token leaked:\n{all}");
        output
    }

    pub(crate) fn report(&self) -> Value {
        let text = std::fs::read_to_string(self.dir.path().join("report.json"))
            .unwrap_or_else(|e| panic!("no report: {e}"));
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("bad report: {e}"))
    }

    fn serves(&self) -> Vec<(String, Option<String>)> {
        self.edgelb.pool("sample-config")["haproxy"]["backends"][0]["services"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                (
                    s["marathon"]["serviceID"].as_str().unwrap_or("").to_owned(),
                    s["endpoint"]["miscStr"].as_str().map(str::to_owned),
                )
            })
            .collect()
    }
}

pub(crate) fn with_service(service: &str) -> Value {
    let mut pool = sample_pool();
    pool["haproxy"]["backends"][0]["services"][0]["marathon"]["serviceID"] = json!(service);
    pool
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edgelb_blue_green_promotes_green_and_removes_blue() {
    let cluster = Cluster::start().await;
    let blue_tasks = cluster.marathon.task_ids("/svc-blue");
    let spec = cluster.spec("switch", "  blueGreen: {}", "");
    let output = cluster.run(&spec).await;
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    assert_eq!(cluster.report()["outcome"], "promoted");

    // The pool changed in the one field greenlight owns, nothing else.
    assert_eq!(
        cluster.edgelb.pool("sample-config"),
        with_service("/svc-green")
    );
    assert_eq!(cluster.edgelb.state().history.len(), 1);
    // Green runs its two healthy tasks; blue is gone, only after the switch.
    let green = cluster.marathon.app("/svc-green").expect("green exists");
    assert_eq!(green.tasks.len(), 2);
    assert!(
        green
            .tasks
            .iter()
            .all(|t| t["healthCheckResults"][0]["alive"] == true)
    );
    assert!(cluster.marathon.app("/svc-blue").is_none());
    assert_eq!(blue_tasks.len(), 2);

    let marathon: Vec<String> = cluster
        .marathon
        .server
        .requests()
        .iter()
        .filter(|r| r.method != "GET")
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert_eq!(marathon, ["POST /v2/apps", "DELETE /v2/apps/svc-blue"]);
    let created: Value = serde_json::from_str(&cluster.marathon.server.requests()[0].body).unwrap();
    assert_eq!(created["id"], "/svc-green");
    assert_eq!(created["labels"]["VERSION"], "green");
    // Every request carried the ACS token the DC/OS way.
    for request in cluster
        .marathon
        .server
        .requests()
        .iter()
        .chain(cluster.edgelb.server.requests().iter())
    {
        assert_eq!(
            request.headers.get("authorization").map(String::as_str),
            Some(format!("token={TOKEN}").as_str()),
            "{} {}",
            request.method,
            request.path
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edgelb_blue_green_rolled_back_restores_the_pool_exactly() {
    let cluster = Cluster::start().await;
    let before = cluster.edgelb.pool("sample-config");
    // After the switch, the analysis of green fails: traffic goes back to blue.
    let spec = cluster.spec(
        "switch",
        "  blueGreen:\n    postPromotion: {hold: 2s}",
        "analysis:\n  interval: 100ms\n  metrics:\n    - name: errors\n      query: {command: echo 1}\n      max: 0\n",
    );
    let output = cluster.run(&spec).await;
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    assert_eq!(cluster.report()["outcome"], "rolled_back");

    let history = cluster.edgelb.state().history.clone();
    assert_eq!(history, vec![with_service("/svc-green"), before.clone()]);
    assert_eq!(
        cluster.edgelb.pool("sample-config").to_string(),
        before.to_string(),
        "the pool is restored byte for byte"
    );
    assert!(
        cluster.marathon.app("/svc-green").is_none(),
        "green removed"
    );
    assert_eq!(
        cluster
            .marathon
            .app("/svc-blue")
            .expect("blue stays")
            .tasks
            .len(),
        2
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edgelb_weighted_canary_moves_weights_then_serves_green_only() {
    let cluster = Cluster::start().await;
    let spec = cluster.spec(
        "weighted",
        "  canary:\n    steps:\n      - {weight: 10, hold: 100ms}\n      - {weight: 50, hold: 100ms}",
        "",
    );
    let output = cluster.run(&spec).await;
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let steps: Vec<Vec<(String, Option<String>)>> = cluster
        .edgelb
        .state()
        .history
        .iter()
        .map(|pool| {
            pool["haproxy"]["backends"][0]["services"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| {
                    (
                        s["marathon"]["serviceID"].as_str().unwrap().to_owned(),
                        s["endpoint"]["miscStr"].as_str().map(str::to_owned),
                    )
                })
                .collect()
        })
        .collect();
    let entry = |id: &str, misc: Option<&str>| (id.to_owned(), misc.map(str::to_owned));
    assert_eq!(
        steps,
        vec![
            vec![
                entry("/svc-blue", Some("weight 90")),
                entry("/svc-green", Some("weight 10"))
            ],
            vec![
                entry("/svc-blue", Some("weight 50")),
                entry("/svc-green", Some("weight 50"))
            ],
            vec![entry("/svc-green", None)],
        ]
    );
    assert_eq!(cluster.serves(), vec![entry("/svc-green", None)]);
    assert_eq!(
        cluster.edgelb.pool("sample-config"),
        with_service("/svc-green")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn green_failing_health_checks_is_rolled_back_and_blue_untouched() {
    let cluster = Cluster::start().await;
    cluster
        .marathon
        .state()
        .health
        .insert("/svc-green".into(), Health::Failing);
    let blue = cluster.marathon.app("/svc-blue").unwrap();
    let spec = cluster.spec("switch", "  blueGreen: {}", "");
    let output = cluster.run(&spec).await;
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    let report = cluster.report();
    assert_eq!(report["outcome"], "rolled_back");
    let all = format!("{}{report}", describe(&output));
    assert!(all.contains("fails its health check"), "{all}");

    assert!(
        cluster.marathon.app("/svc-green").is_none(),
        "green removed"
    );
    let after = cluster.marathon.app("/svc-blue").unwrap();
    assert_eq!(after.tasks, blue.tasks);
    assert_eq!(after.definition, blue.definition);
    assert!(
        cluster.edgelb.state().history.is_empty(),
        "the pool was never written"
    );
    assert_eq!(cluster.edgelb.pool("sample-config"), sample_pool());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deployment_that_never_finishes_halts_naming_it() {
    let cluster = Cluster::start().await;
    cluster.marathon.state().stuck.push("/svc-green".into());
    let spec = cluster.spec("switch", "  blueGreen: {}", "");
    let output = cluster.run(&spec).await;
    assert_eq!(output.status.code(), Some(3), "{}", describe(&output));
    let report = cluster.report();
    assert_eq!(report["outcome"], "halted");
    let reason = report["reason"].as_str().unwrap_or_default().to_owned();
    assert!(
        reason.contains("Marathon deployment 5ed4c0c5-")
            && reason.contains("StartApplication /svc-green")
            && reason.contains("0 of 2 tasks running"),
        "{reason}"
    );
    // Halted, not rolled back: green is left for a person to look at, the pool untouched.
    assert!(cluster.marathon.app("/svc-green").is_some());
    assert!(cluster.edgelb.state().history.is_empty());
    let state: Value = serde_json::from_str(
        &std::fs::read_to_string(cluster.dir.path().join("state.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(state["phase"], "halted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backend_serving_neither_version_stops_before_anything_is_deployed() {
    let cluster = Cluster::start().await;
    // An entry that points at neither version: greenlight refuses to guess.
    cluster
        .edgelb
        .state()
        .pools
        .insert("sample-config".into(), with_service("/other"));
    let spec = cluster.spec("switch", "  blueGreen: {}", "");
    let output = cluster.run(&spec).await;
    let all = describe(&output);
    assert_ne!(output.status.code(), Some(0), "{all}");
    assert!(
        all.contains("serves neither /svc-blue nor /svc-green"),
        "{all}"
    );
    assert!(
        cluster.marathon.app("/svc-green").is_none(),
        "nothing deployed: {all}"
    );
}

#[tokio::test]
async fn the_deployment_wait_runs_on_the_injected_clock_and_halts_at_its_timeout() {
    let cluster = Cluster::start().await;
    cluster.marathon.state().token = None;
    cluster.marathon.state().stuck.push("/svc-green".into());
    let clock = Arc::new(ManualClock::starting_at(crate::support::epoch()));
    let target = cluster.target(&cluster.marathon.url(), None, clock.clone());
    let error = target.deploy("green").await.unwrap_err();
    assert!(error.halt, "{error}");
    assert!(error.message.contains("did not finish in 1m"), "{error}");
    // A minute of virtual time, one read every 2 s: 31 reads, no real waiting.
    assert_eq!(
        clock.now(),
        crate::support::epoch() + Duration::from_secs(60)
    );
    let reads = cluster
        .marathon
        .server
        .requests()
        .iter()
        .filter(|r| r.path == "/v2/deployments")
        .count();
    assert_eq!(reads, 31);
}

impl Cluster {
    /// The Marathon target as the binary builds it, on `clock`.
    fn target(&self, url: &str, ca_file: Option<String>, clock: Arc<dyn Clock>) -> MarathonTarget {
        let context = greenlight::spec::load(
            "t.yaml",
            &crate::support::spec_yaml("strategy:\n  blueGreen: {}\n"),
            &greenlight::spec::LoadOptions {
                version: "green".into(),
                stable_version: "blue".into(),
                ..Default::default()
            },
        )
        .unwrap_or_else(|e| panic!("{e}"))
        .context;
        let _ = crate::support::net::http_client();
        MarathonTarget::new(
            greenlight::spec::types::MarathonTarget {
                url: url.to_owned(),
                token_env: None,
                ca_file,
                app: "svc.json".into(),
                timeout: Span::from_secs(60),
                interval: Span::from_secs(2),
            },
            context,
            self.dir.path().to_owned(),
            clock,
        )
        .unwrap_or_else(|e| panic!("{e}"))
    }
}

/// `validate` accepts each DC/OS example and `plan` prints every Marathon and Edge-LB
/// call; the whole plan text is a snapshot, so a change to it shows up in review.
#[test]
fn the_dcos_examples_validate_and_plan_every_api_call() {
    let example = |name: &str| format!("{}/examples/dcos/{name}", env!("CARGO_MANIFEST_DIR"));
    for (spec, stable, new) in [
        ("blue-green", "v1", "v2"),
        ("canary", "v1", "v2"),
        ("migrate", "v1", "v2"),
        ("migrate-colours", "v1", "v2"),
    ] {
        let file = example(&format!("{spec}.yaml"));
        Greenlight::on("validate", &file).assert().success();
        let assert = Greenlight::on("plan", &file)
            .args(["--version", new, "--stable-version", stable])
            .assert()
            .success();
        let text = String::from_utf8_lossy(&assert.get_output().stdout).into_owned();
        insta::assert_snapshot!(format!("plan_dcos_{spec}_example"), text);
    }
}

#[test]
fn a_canary_on_an_edgelb_switch_is_refused_pointing_at_the_step() {
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("greenlight.yaml");
    let text = std::fs::read_to_string(format!(
        "{}/examples/dcos/canary.yaml",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
    .replace("mode: weighted", "mode: switch");
    std::fs::write(&spec, text).unwrap();
    Greenlight::on("validate", &spec)
        .assert()
        .failure()
        .stderr(predicates::str::contains("strategy.canary.steps[0].weight"))
        .stderr(predicates::str::contains("Edge-LB service switch"));
}

/// Marathon behind the cluster's Admin Router: https with the cluster's own CA, under
/// `/marathon`. Without `caFile` the certificate is refused and the error says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn marathon_behind_admin_router_over_tls_with_the_cluster_ca() {
    let cluster = Cluster::start().await;
    cluster.marathon.state().token = None;
    let router =
        crate::support::admin_router::AdminRouter::start(cluster.marathon.server.addr, "/marathon")
            .await;
    let url = format!("{}/marathon", router.url);
    let ca = Some(router.ca_file.display().to_string());
    let target = cluster.target(&url, ca, Arc::new(SystemClock));
    target
        .deploy("green")
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", router.log()));
    assert_eq!(cluster.marathon.app("/svc-green").unwrap().tasks.len(), 2);
    target.retire("blue").await.unwrap();
    assert!(cluster.marathon.app("/svc-blue").is_none());

    let untrusted = cluster.target(&url, None, Arc::new(SystemClock));
    let error = untrusted.retire("green").await.unwrap_err();
    assert!(error.message.contains("is unreachable"), "{error}");
    assert!(error.to_string().contains("caFile"), "{error}");
    assert!(cluster.marathon.app("/svc-green").is_some());
}
