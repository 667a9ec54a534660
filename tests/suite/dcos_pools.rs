//! Edge-LB blue/green on two fixed Marathon apps, `/svc-blue` and `/svc-green`, with one
//! unchanged spec (`pools: [blue, green]`), through the binary against the Marathon and
//! Edge-LB doubles. Blue serves v1 at the start; each release starts the new version in
//! the idle colour, points the pool's backend at it and removes the other colour, so
//! releases alternate: v2 in green, v3 in blue, v4 in green. A rollback removes the new
//! colour and writes the pool back as it was; a crash is finished by the same command.

use std::path::PathBuf;
use std::process::Output;
use std::time::Duration;

use serde_json::{Value, json};

use crate::dcos::{Cluster, TOKEN, with_service};
use crate::support::binary::Greenlight;
use crate::support::http_server::Request;
use crate::support::marathon::as_sent;
use crate::support::rollout::describe;

/// The app definition of the colour a release deploys to: its id is the pool's.
pub(crate) const APP: &str = r#"{
  "id": "/svc-{{ pool.new }}",
  "instances": 2,
  "cmd": "python3 -m http.server $PORT0",
  "portDefinitions": [{"port": 0, "protocol": "tcp", "name": "web"}],
  "healthChecks": [{"protocol": "MESOS_HTTP", "path": "/", "portIndex": 0}],
  "labels": {"VERSION": "{{ version }}", "POOL": "{{ pool.new }}"}
}
"#;

/// A cluster whose releases alternate between `/svc-blue` and `/svc-green` on one spec.
pub(crate) struct Colours {
    pub(crate) cluster: Cluster,
    spec: PathBuf,
}

impl Colours {
    /// Blue serves v1 behind the sample pool; green does not exist. The spec's gate
    /// reads `errors` (0 passes), so a test can fail one release.
    async fn start() -> Colours {
        Colours::on(APP, "switch", "  blueGreen:\n    postPromotion: {hold: 600ms}", |dir| {
            std::fs::write(dir.join("errors"), "0").unwrap_or_else(|e| panic!("{e}"));
            format!(
                "analysis:\n  interval: 100ms\n  metrics:\n    - name: errors\n      query: {{command: 'cat {}/errors'}}\n      max: 0\n",
                dir.display()
            )
        })
        .await
    }

    /// Blue serves v1 from the app definition `template` (its id `/svc-{{ pool.new }}`),
    /// green does not exist; the spec has `pools: [blue, green]`, the Edge-LB `mode`, the
    /// `strategy` and what `extra` writes in the cluster's folder and returns.
    pub(crate) async fn on(
        template: &str,
        mode: &str,
        strategy: &str,
        extra: impl FnOnce(&std::path::Path) -> String,
    ) -> Colours {
        let cluster = Cluster::start().await;
        cluster.marathon.state().apps.clear();
        cluster.marathon.add_app(coloured(template, "v1", "blue"));
        let dir = cluster.dir.path();
        std::fs::write(dir.join("svc.json"), template).unwrap_or_else(|e| panic!("{e}"));
        let spec = cluster.spec_with(
            ("/svc-{{ pool.stable }}", "/svc-{{ pool.new }}"),
            mode,
            strategy,
            &format!("pools: [blue, green]\n{}", extra(dir)),
        );
        Colours { cluster, spec }
    }

    /// `greenlight run --version <version>`, the stable version from the record (the
    /// first release names v1, as a first run must).
    pub(crate) fn command(&self, version: &str) -> tokio::process::Command {
        let mut args = vec!["--version", version];
        if version == "v2" {
            args.extend(["--stable-version", "v1"]);
        }
        self.greenlight("run", &args)
    }

    /// `greenlight <verb> <args>` on the spec, with the token.
    pub(crate) fn greenlight(&self, verb: &str, args: &[&str]) -> tokio::process::Command {
        let mut command = Greenlight::on(verb, &self.spec).into_tokio();
        command
            .args(args)
            .env("DCOS_TEST_TOKEN", TOKEN)
            .kill_on_drop(true);
        command
    }

    pub(crate) async fn release(&self, version: &str) -> Output {
        self.output(self.command(version)).await
    }

    pub(crate) async fn output(&self, mut command: tokio::process::Command) -> Output {
        let output = tokio::time::timeout(Duration::from_secs(60), command.output())
            .await
            .unwrap_or_else(|_| panic!("greenlight did not finish within 60s"))
            .unwrap_or_else(|e| panic!("cannot run greenlight: {e}"));
        assert!(!describe(&output).contains(TOKEN), "the token leaked");
        output
    }

    /// v2 released to green, then the release of v3 to blue killed with SIGKILL at
    /// `point`: while blue deploys, or after the pool was switched to blue.
    async fn killed_releasing_v3(point: &str) -> Colours {
        let colours = Colours::start().await;
        let output = colours.release("v2").await;
        assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
        colours.cluster.edgelb.state().history.clear();
        colours.marathon_writes();
        if point == "deploying blue" {
            colours
                .cluster
                .marathon
                .state()
                .stuck
                .push("/svc-blue".into());
        }
        let mut first = colours
            .command("v3")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start greenlight: {e}"));
        let started = std::time::Instant::now();
        loop {
            let reached = match point {
                "deploying blue" => colours.cluster.marathon.app("/svc-blue").is_some(),
                _ => colours.cluster.edgelb.pool("sample-config") == with_service("/svc-blue"),
            };
            if reached {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "{point} never reached"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        first.start_kill().unwrap_or_else(|e| panic!("{e}"));
        let _ = first.wait().await;
        assert_eq!(colours.record()["phase"], "in_progress", "{point}");
        colours.cluster.marathon.state().stuck.clear();
        assert_eq!(colours.marathon_writes(), ["POST /v2/apps"], "{point}");
        colours
    }

    pub(crate) fn record(&self) -> Value {
        let text = std::fs::read_to_string(self.cluster.dir.path().join("state.json"))
            .unwrap_or_else(|e| panic!("no record: {e}"));
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("bad record: {e}"))
    }

    /// Marathon's writes since the last call, as `METHOD path`.
    pub(crate) fn marathon_writes(&self) -> Vec<String> {
        lines(&self.take_writes())
    }

    /// Marathon's writes since the last call.
    pub(crate) fn take_writes(&self) -> Vec<Request> {
        self.cluster
            .marathon
            .server
            .take_requests()
            .into_iter()
            .filter(|r| r.method != "GET")
            .collect()
    }

    /// `version` runs in `colour`, live in the record.
    fn serves(&self, version: &str, colour: &str) {
        assert_serves(&self.cluster, version, colour, 2);
        assert_eq!(self.record()["stableVersion"], version);
    }
}

/// `version` runs in `colour` (`tasks` healthy tasks from its own definition), the other
/// colour's app is gone, and the pool differs from the start in the backend's service
/// only.
pub(crate) fn assert_serves(cluster: &Cluster, version: &str, colour: &str, tasks: usize) {
    let other = if colour == "blue" { "green" } else { "blue" };
    let app = cluster
        .marathon
        .app(&format!("/svc-{colour}"))
        .unwrap_or_else(|| panic!("/svc-{colour} exists"));
    assert_eq!(app.definition["labels"]["VERSION"], version);
    assert_eq!(app.tasks.len(), tasks);
    assert!(
        app.tasks
            .iter()
            .all(|t| t["healthCheckResults"][0]["alive"] == true)
    );
    assert!(
        cluster.marathon.app(&format!("/svc-{other}")).is_none(),
        "/svc-{other} removed"
    );
    assert_eq!(
        cluster.edgelb.pool("sample-config"),
        with_service(&format!("/svc-{colour}"))
    );
}

/// The app definition of `version` in `colour`, as the spec renders it.
fn app(version: &str, colour: &str) -> Value {
    coloured(APP, version, colour)
}

/// `METHOD path` of each request.
pub(crate) fn lines(requests: &[Request]) -> Vec<String> {
    requests
        .iter()
        .map(|r| format!("{} {}", r.method, r.path))
        .collect()
}

/// `template` rendered for `version` in `colour`.
pub(crate) fn coloured(template: &str, version: &str, colour: &str) -> Value {
    let text = template
        .replace("{{ pool.new }}", colour)
        .replace("{{ version }}", version);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("bad app: {e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_releases_on_one_spec_alternate_between_blue_and_green() {
    let colours = Colours::start().await;
    for (version, colour, old, pool) in [
        ("v2", "green", "blue", "b"),
        ("v3", "blue", "green", "a"),
        ("v4", "green", "blue", "b"),
    ] {
        let output = colours.release(version).await;
        assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
        colours.serves(version, colour);
        assert_eq!(colours.record()["stablePool"], pool);
        // The new colour was created from its own definition, then the old one removed.
        let created: Vec<Value> = colours
            .cluster
            .marathon
            .server
            .requests()
            .iter()
            .filter(|r| r.method == "POST")
            .filter_map(|r| serde_json::from_str(&r.body).ok())
            .collect();
        assert_eq!(created, vec![app(version, colour)]);
        assert_eq!(
            colours.marathon_writes(),
            [
                "POST /v2/apps".to_owned(),
                format!("DELETE /v2/apps/svc-{old}")
            ]
        );
        colours.cluster.edgelb.state().history.clear();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolled_back_release_removes_its_colour_and_the_next_goes_there_again() {
    let colours = Colours::start().await;
    let blue = colours
        .cluster
        .marathon
        .app("/svc-blue")
        .unwrap_or_else(|| panic!("blue"));
    let before = colours.cluster.edgelb.pool("sample-config");
    std::fs::write(colours.cluster.dir.path().join("errors"), "1")
        .unwrap_or_else(|e| panic!("{e}"));
    let output = colours.release("v2").await;
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));

    // Green got traffic, then the pool went back byte for byte and green was removed.
    assert_eq!(
        colours.cluster.edgelb.state().history,
        vec![with_service("/svc-green"), before.clone()]
    );
    assert_eq!(
        colours.cluster.edgelb.pool("sample-config").to_string(),
        before.to_string()
    );
    assert!(
        colours.cluster.marathon.app("/svc-green").is_none(),
        "green removed"
    );
    let after = colours
        .cluster
        .marathon
        .app("/svc-blue")
        .unwrap_or_else(|| panic!("blue"));
    assert_eq!(
        (after.definition, after.tasks),
        (blue.definition, blue.tasks)
    );
    assert_eq!(
        colours.marathon_writes(),
        ["POST /v2/apps", "DELETE /v2/apps/svc-green"]
    );
    let record = colours.record();
    assert_eq!(
        (&record["stableVersion"], &record["stablePool"]),
        (&json!("v1"), &json!("a"))
    );

    // The next release, on the same spec, goes to green again.
    std::fs::write(colours.cluster.dir.path().join("errors"), "0")
        .unwrap_or_else(|e| panic!("{e}"));
    let output = colours.release("v3").await;
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    colours.serves("v3", "green");
    assert_eq!(
        colours.marathon_writes(),
        ["POST /v2/apps", "DELETE /v2/apps/svc-blue"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_app_left_in_the_idle_colour_is_replaced_and_the_live_one_untouched() {
    let colours = Colours::start().await;
    // A crashed release left green with v0, its deployment still running.
    colours.cluster.marathon.add_app(app("v0", "green"));
    colours.cluster.marathon.lock_app("/svc-green");
    let blue = colours
        .cluster
        .marathon
        .app("/svc-blue")
        .unwrap_or_else(|| panic!("blue"));

    let output = colours.release("v2").await;
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    colours.serves("v2", "green");
    // Replaced whole (v0's tasks gone, two tasks of v2), never a 409 for the user.
    assert_eq!(
        colours.marathon_writes(),
        [
            "POST /v2/apps",
            "PUT /v2/apps/svc-green?partialUpdate=false&force=true",
            "DELETE /v2/apps/svc-blue"
        ]
    );
    let green = colours
        .cluster
        .marathon
        .app("/svc-green")
        .unwrap_or_else(|| panic!("green"));
    assert_eq!(as_sent(&green.definition), app("v2", "green"));
    assert!(green.tasks.iter().all(|t| {
        t["id"]
            .as_str()
            .is_some_and(|id| id.starts_with("svc-green."))
    }));
    assert_eq!(blue.tasks.len(), 2, "blue served until the switch");
}

/// `kill -9` at two points of the release from green (v2) to blue (v3): while blue's
/// deployment runs, and after the pool was switched to blue. The same command again
/// finishes on blue with green removed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_release_killed_midway_finishes_on_the_right_colour_when_run_again() {
    for point in ["deploying blue", "after the switch to blue"] {
        let colours = Colours::killed_releasing_v3(point).await;

        let again = colours.release("v3").await;
        assert_eq!(
            again.status.code(),
            Some(0),
            "{point}: {}",
            describe(&again)
        );
        colours.serves("v3", "blue");
        assert_eq!(colours.record()["stablePool"], "a", "{point}");
        // Blue's app, left mid-deployment, is replaced whole; green is only removed.
        let expected: &[&str] = match point {
            "deploying blue" => &[
                "POST /v2/apps",
                "PUT /v2/apps/svc-blue?partialUpdate=false&force=true",
                "DELETE /v2/apps/svc-green",
            ],
            _ => &["DELETE /v2/apps/svc-green"],
        };
        assert_eq!(colours.marathon_writes(), expected, "{point}");
    }
}

/// The commands a person runs on the release of v3 to blue left after the switch:
/// `promote` finishes it on blue, `rollback` puts the pool back on green and removes
/// blue, `abort` puts the pool back and leaves blue running. Each keeps the colours
/// right for the next release.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promote_rollback_and_abort_by_hand_know_the_colours() {
    let after_switch = "after the switch to blue";

    let colours = Colours::killed_releasing_v3(after_switch).await;
    let status = colours.output(colours.greenlight("status", &[])).await;
    let text = String::from_utf8_lossy(&status.stdout);
    assert!(
        text.contains("pools:          stable in green, new in blue"),
        "{}",
        describe(&status)
    );
    let promote = colours.output(colours.greenlight("promote", &[])).await;
    assert_eq!(promote.status.code(), Some(0), "{}", describe(&promote));
    colours.serves("v3", "blue");
    let record = colours.record();
    assert_eq!(
        (&record["phase"], &record["stablePool"]),
        (&json!("promoted"), &json!("a"))
    );
    assert_eq!(colours.marathon_writes(), ["DELETE /v2/apps/svc-green"]);
    let next = colours.release("v4").await;
    assert_eq!(next.status.code(), Some(0), "{}", describe(&next));
    colours.serves("v4", "green");

    let colours = Colours::killed_releasing_v3(after_switch).await;
    let green = colours.cluster.marathon.app("/svc-green");
    let rollback = colours.output(colours.greenlight("rollback", &[])).await;
    assert_eq!(rollback.status.code(), Some(0), "{}", describe(&rollback));
    colours.serves("v2", "green");
    let record = colours.record();
    assert_eq!(
        (&record["phase"], &record["stablePool"]),
        (&json!("rolled_back"), &json!("b"))
    );
    assert_eq!(colours.marathon_writes(), ["DELETE /v2/apps/svc-blue"]);
    let after = colours.cluster.marathon.app("/svc-green");
    assert_eq!(
        after.map(|app| (app.definition, app.tasks)),
        green.map(|app| (app.definition, app.tasks)),
        "green untouched"
    );

    let colours = Colours::killed_releasing_v3(after_switch).await;
    let abort = colours.output(colours.greenlight("abort", &[])).await;
    assert_eq!(abort.status.code(), Some(0), "{}", describe(&abort));
    assert_eq!(
        colours.cluster.edgelb.pool("sample-config"),
        with_service("/svc-green")
    );
    assert!(
        colours.cluster.marathon.app("/svc-blue").is_some(),
        "blue left"
    );
    assert!(colours.cluster.marathon.app("/svc-green").is_some());
    assert!(colours.marathon_writes().is_empty());
}

/// `plan` for the release after v2 (green live, from the record) names the colours and
/// every call: blue is created, green removed after the switch, blue on a rollback.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_shows_which_colour_each_side_is() {
    let colours = Colours::start().await;
    let output = colours.release("v2").await;
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    colours.marathon_writes();
    let plan = colours
        .output(colours.greenlight("plan", &["--version", "v3"]))
        .await;
    assert_eq!(plan.status.code(), Some(0), "{}", describe(&plan));
    let text = String::from_utf8_lossy(&plan.stdout);
    let marathon = colours.cluster.marathon.url();
    let lines = [
        "Pools: v2 serves from pool green; v3 goes to the idle pool blue.".to_owned(),
        format!("POST {marathon}/v2/apps (app /svc-blue from svc.json;"),
        "(backend svc serves /svc-blue only; the rest of the pool as read)".to_owned(),
        format!("retire v2\n     DELETE {marathon}/v2/apps/svc-green"),
        "(backend svc serves /svc-green only; the rest of the pool as read)".to_owned(),
        format!("DELETE {marathon}/v2/apps/svc-blue\n"),
    ];
    for line in lines {
        assert!(text.contains(&line), "{line:?} not in:\n{text}");
    }
    assert!(colours.marathon_writes().is_empty(), "plan changes nothing");
}
