//! The instance-by-instance migration (`strategy.migrate`) through the binary:
//! Marathon and Edge-LB doubles, and a real Prometheus scraping each blue task's
//! pending-work gauge from an exporter the test controls.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::dcos::{APP, Cluster, TOKEN, with_service};
use crate::support::binary::Greenlight;
use crate::support::http_server::{HttpServer, Request, Response};
use crate::support::marathon::Health;
use crate::support::prometheus::Prometheus;
use crate::support::rollout::describe;

/// Serves `pending_jobs{task_id="…"}` for every task the test sets.
pub(crate) struct Exporter {
    server: HttpServer,
    gauges: Arc<Mutex<BTreeMap<String, f64>>>,
}

impl Exporter {
    pub(crate) async fn start() -> Exporter {
        let gauges: Arc<Mutex<BTreeMap<String, f64>>> = Arc::default();
        let shared = gauges.clone();
        let server = HttpServer::start(Arc::new(move |_: &Request| {
            let gauges = shared.lock().unwrap_or_else(|e| e.into_inner());
            let mut body = String::from("# TYPE pending_jobs gauge\n");
            for (task, value) in gauges.iter() {
                body.push_str(&format!("pending_jobs{{task_id=\"{task}\"}} {value}\n"));
            }
            Response::text(200, body)
        }))
        .await;
        Exporter { server, gauges }
    }

    pub(crate) fn set(&self, task: &str, value: f64) {
        self.gauges
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(task.to_owned(), value);
    }

    pub(crate) fn addr(&self) -> SocketAddr {
        let url = self.server.url("");
        let host = url.trim_start_matches("http://").trim_end_matches('/');
        host.parse()
            .unwrap_or_else(|e| panic!("bad exporter address {host}: {e}"))
    }
}

struct Migration {
    cluster: Cluster,
    exporter: Exporter,
    prometheus: Prometheus,
    /// The blue tasks, in the order the migration takes them out.
    blue: Vec<String>,
}

impl Migration {
    /// Blue runs 4 healthy tasks, each with no pending work.
    async fn start() -> Migration {
        let cluster = Cluster::start().await;
        std::fs::write(
            cluster.dir.path().join("svc.json"),
            APP.replace("\"instances\": 2", "\"instances\": 4"),
        )
        .unwrap();
        {
            let mut state = cluster.marathon.state();
            state.apps.clear();
        }
        cluster.marathon.add_app(
            serde_json::from_str(
                &APP.replace("{{ version }}", "blue")
                    .replace("\"instances\": 2", "\"instances\": 4"),
            )
            .unwrap(),
        );
        let mut blue = cluster.marathon.task_ids("/svc-blue");
        blue.sort();
        assert_eq!(blue.len(), 4);
        let exporter = Exporter::start().await;
        for task in &blue {
            exporter.set(task, 0.0);
        }
        let prometheus = Prometheus::start(exporter.addr()).await;
        Migration {
            cluster,
            exporter,
            prometheus,
            blue,
        }
    }

    fn spec(&self, drain_timeout: &str) -> PathBuf {
        self.cluster.spec(
            "weighted",
            &strategy(drain_timeout),
            &analysis(&self.prometheus),
        )
    }

    /// `greenlight run` of `spec` from blue to green, as a CI job would run it.
    fn command(&self, spec: &PathBuf) -> tokio::process::Command {
        let mut command = Greenlight::on("run", spec).into_tokio();
        command
            .args(["--version", "green", "--stable-version", "blue", "--report"])
            .arg(self.cluster.dir.path().join("report.json"))
            .env("DCOS_TEST_TOKEN", TOKEN)
            .kill_on_drop(true);
        command
    }

    fn kills(&self) -> Vec<Vec<String>> {
        kills(&self.cluster)
    }

    fn blue_served(pool: &Value) -> Option<Vec<String>> {
        served(pool, "/svc-blue")
    }

    fn record(&self) -> Value {
        record(&self.cluster)
    }
}

/// `strategy.migrate` one task at a time, each task's `pending_jobs` its drain gate.
pub(crate) fn strategy(drain_timeout: &str) -> String {
    format!(
        r#"  migrate:
    batchSize: 1
    drain:
      name: pending-jobs
      query: {{prometheus: 'pending_jobs{{task_id="{{{{ task.id }}}}"}}'}}
      timeout: {drain_timeout}
      interval: 200ms
    watch: 500ms"#
    )
}

/// The analysis section: `prometheus` for the drain gate, a watch gate that passes.
pub(crate) fn analysis(prometheus: &Prometheus) -> String {
    format!(
        "analysis:\n  interval: 100ms\n  prometheus: {{address: {}}}\n  metrics:\n    - name: errors\n      query: {{command: echo 0}}\n      max: 0\n",
        prometheus.url()
    )
}

/// Marathon's kill requests, each a list of task ids.
pub(crate) fn kills(cluster: &Cluster) -> Vec<Vec<String>> {
    cluster
        .marathon
        .server
        .requests()
        .iter()
        .filter(|r| r.method == "POST" && r.path.starts_with("/v2/tasks/delete"))
        .map(|r| {
            assert_eq!(r.path, "/v2/tasks/delete?scale=true");
            let body: Value = serde_json::from_str(&r.body).unwrap();
            body["ids"]
                .as_array()
                .unwrap()
                .iter()
                .map(|id| id.as_str().unwrap().to_owned())
                .collect()
        })
        .collect()
}

/// The tasks of Marathon app `service` a written pool's backend serves: `None` for
/// all of them, none when the service left the backend.
pub(crate) fn served(pool: &Value, service: &str) -> Option<Vec<String>> {
    let services = pool["haproxy"]["backends"][0]["services"].as_array()?;
    let entry = services
        .iter()
        .find(|s| s["marathon"]["serviceID"] == service);
    match entry {
        None => Some(Vec::new()),
        Some(entry) => entry["mesos"]["taskIDPattern"].as_str().map(|pattern| {
            pattern
                .trim_start_matches("^(")
                .trim_end_matches(")$")
                .split('|')
                .map(|id| id.replace('\\', ""))
                .collect()
        }),
    }
}

/// The state record the cluster's specs keep.
pub(crate) fn record(cluster: &Cluster) -> Value {
    serde_json::from_str(&std::fs::read_to_string(cluster.dir.path().join("state.json")).unwrap())
        .unwrap()
}

/// Waits (really: the binary runs on its own) until `done` holds.
pub(crate) async fn until(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < limit, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_blue_tasks_leave_one_at_a_time_and_the_drain_gate_holds_one() {
    let migration = Migration::start().await;
    let held = migration.blue[1].clone();
    migration.exporter.set(&held, 3.0);
    let spec = migration.spec("30s");
    let run = tokio::spawn({
        let mut command = migration.command(&spec);
        async move { command.output().await }
    });
    // The held task leaves the balancer and is not killed while its gauge reads 3.
    until(
        "the held task out of the balancer",
        Duration::from_secs(60),
        || {
            migration
                .cluster
                .edgelb
                .state()
                .history
                .iter()
                .filter_map(Migration::blue_served)
                .any(|served| served.len() == 2)
        },
    )
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(migration.kills(), vec![vec![migration.blue[0].clone()]]);
    assert!(
        migration
            .cluster
            .marathon
            .task_ids("/svc-blue")
            .contains(&held)
    );
    migration.exporter.set(&held, 0.0);

    let output = tokio::time::timeout(Duration::from_secs(60), run)
        .await
        .expect("greenlight finishes")
        .unwrap()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    assert!(!describe(&output).contains(TOKEN));

    // One kill per task, in order, each with scale-down.
    let kills = migration.kills();
    let expected: Vec<Vec<String>> = migration.blue.iter().map(|t| vec![t.clone()]).collect();
    assert_eq!(kills, expected);
    // The balancer: green beside all four, then three, two, one, none.
    let served: Vec<Vec<String>> = migration
        .cluster
        .edgelb
        .state()
        .history
        .iter()
        .filter_map(Migration::blue_served)
        .collect();
    assert_eq!(served.len(), 5, "{served:?}");
    for (written, left) in served.iter().zip(0..) {
        assert_eq!(written, &migration.blue[left..].to_vec());
    }
    // Green alone in the backend, as a blue/green switch would leave it; blue removed.
    assert_eq!(
        migration.cluster.edgelb.pool("sample-config"),
        with_service("/svc-green")
    );
    assert!(migration.cluster.marathon.app("/svc-blue").is_none());
    let green = migration.cluster.marathon.app("/svc-green").unwrap();
    assert_eq!(green.tasks.len(), 4);
    // Green started from 0 instances, then scaled up.
    let writes: Vec<String> = migration
        .cluster
        .marathon
        .server
        .requests()
        .iter()
        .filter(|r| r.method == "POST" && r.path == "/v2/apps" || r.method == "PUT")
        .map(|r| r.body.clone())
        .collect();
    let created: Value = serde_json::from_str(&writes[0]).unwrap();
    assert_eq!(created["instances"], 0);
    assert_eq!(
        serde_json::from_str::<Value>(&writes[1]).unwrap(),
        json!({"instances": 4})
    );

    let report = migration.cluster.report();
    assert_eq!(report["outcome"], "promoted");
    let drained: Vec<&Value> = report["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "task_drained")
        .collect();
    assert_eq!(drained.len(), 4);
    let held_wait = drained.iter().find(|e| e["task"] == held.as_str()).unwrap()["waited_ms"]
        .as_u64()
        .unwrap();
    assert!(held_wait >= 1500, "the held task waited {held_wait} ms");
    assert_eq!(migration.record()["phase"], "promoted");
    assert_eq!(migration.record()["stableVersion"], "green");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_that_never_drains_halts_naming_it() {
    let migration = Migration::start().await;
    let held = migration.blue[0].clone();
    migration.exporter.set(&held, 2.0);
    let output = migration.cluster.run(&migration.spec("1s")).await;
    assert_eq!(output.status.code(), Some(3), "{}", describe(&output));
    let report = migration.cluster.report();
    assert_eq!(report["outcome"], "halted");
    let reason = report["reason"].as_str().unwrap();
    assert!(
        reason.contains(&format!("task {held} of blue did not drain in 1s"))
            && reason.contains("`pending-jobs` was 2, above 0"),
        "{reason}"
    );
    assert!(migration.kills().is_empty());
    // The record says which blue tasks are left, for the re-run.
    let record = migration.record();
    assert_eq!(record["phase"], "halted");
    assert_eq!(record["pending"]["change"], "migration");
    assert_eq!(record["pending"]["left"], json!(migration.blue));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn green_failing_health_checks_is_rolled_back_and_blue_untouched() {
    let migration = Migration::start().await;
    migration
        .cluster
        .marathon
        .state()
        .health
        .insert("/svc-green".into(), Health::Failing);
    let blue = migration.cluster.marathon.app("/svc-blue").unwrap();
    let output = migration.cluster.run(&migration.spec("5s")).await;
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    let report = migration.cluster.report();
    assert_eq!(report["outcome"], "rolled_back");
    assert!(
        report["reason"]
            .as_str()
            .unwrap()
            .contains("fails its health check"),
        "{report}"
    );
    assert!(migration.cluster.marathon.app("/svc-green").is_none());
    let after = migration.cluster.marathon.app("/svc-blue").unwrap();
    assert_eq!(after.tasks, blue.tasks);
    assert!(migration.kills().is_empty());
    assert!(migration.cluster.edgelb.state().history.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_in_the_middle_the_same_command_finishes_the_migration() {
    let migration = Migration::start().await;
    let held = migration.blue[2].clone();
    migration.exporter.set(&held, 5.0);
    let spec = migration.spec("60s");
    let mut first = migration
        .command(&spec)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    until("two blue tasks killed", Duration::from_secs(60), || {
        migration.kills().len() == 2
            && migration.record()["pending"]["left"]
                .as_array()
                .map(Vec::len)
                == Some(2)
    })
    .await;
    // kill -9 while the third task drains.
    first.start_kill().unwrap();
    first.wait().await.unwrap();
    let record = migration.record();
    assert_eq!(record["phase"], "in_progress");
    assert_eq!(record["pending"]["left"], json!(migration.blue[2..]));

    migration.exporter.set(&held, 0.0);
    let output = tokio::time::timeout(Duration::from_secs(60), migration.command(&spec).output())
        .await
        .expect("the re-run finishes")
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let expected: Vec<Vec<String>> = migration.blue.iter().map(|t| vec![t.clone()]).collect();
    assert_eq!(migration.kills(), expected, "no task killed twice");
    // Green was launched once; the re-run went on from the tasks left.
    let launches = migration
        .cluster
        .marathon
        .server
        .requests()
        .iter()
        .filter(|r| r.method == "POST" && r.path == "/v2/apps")
        .count();
    assert_eq!(launches, 1);
    assert!(migration.cluster.marathon.app("/svc-blue").is_none());
    assert_eq!(
        migration.cluster.edgelb.pool("sample-config"),
        with_service("/svc-green")
    );
    assert_eq!(migration.cluster.report()["outcome"], "promoted");
    assert_eq!(migration.record()["phase"], "promoted");
}
