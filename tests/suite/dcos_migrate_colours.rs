//! The instance-by-instance migration on two fixed Marathon apps, `/svc-blue` and
//! `/svc-green`, with one unchanged spec (`pools: [blue, green]`), through the binary
//! against the Marathon and Edge-LB doubles and a real Prometheus for the drain gate.
//! Blue runs v1 with three tasks at the start; each release launches the new version in
//! the idle colour, moves the old colour's tasks out one at a time and removes its app,
//! so releases alternate: v2 in green, v3 in blue.

use std::time::Duration;

use serde_json::{Value, json};

use crate::dcos::Cluster;
use crate::dcos_migrate::{Exporter, analysis, kills, served, strategy, until};
use crate::dcos_pools::{APP, Colours, assert_serves, coloured, lines};
use crate::support::marathon::as_sent;
use crate::support::prometheus::Prometheus;
use crate::support::rollout::describe;

/// The colour app definition blue/green uses (its id is the pool's), with three tasks.
fn template() -> String {
    APP.replace("\"instances\": 2", "\"instances\": 3")
}

/// The app definition of `version` in `colour`, as the spec renders it.
fn app(version: &str, colour: &str) -> Value {
    coloured(&template(), version, colour)
}

struct Migrations {
    colours: Colours,
    exporter: Exporter,
    _prometheus: Prometheus,
}

impl Migrations {
    /// Blue serves v1 with three healthy tasks; green does not exist. A task may
    /// take `drain_timeout` to drain.
    async fn start(drain_timeout: &str) -> Migrations {
        let exporter = Exporter::start().await;
        let prometheus = Prometheus::start(exporter.addr()).await;
        let colours = Colours::on(&template(), "weighted", &strategy(drain_timeout), |_| {
            analysis(&prometheus)
        })
        .await;
        Migrations {
            colours,
            exporter,
            _prometheus: prometheus,
        }
    }

    fn cluster(&self) -> &Cluster {
        &self.colours.cluster
    }

    /// Every task Marathon runs now has no pending work.
    fn idle(&self) {
        let apps: Vec<String> = self
            .cluster()
            .marathon
            .state()
            .apps
            .keys()
            .cloned()
            .collect();
        for task in apps
            .iter()
            .flat_map(|id| self.cluster().marathon.task_ids(id))
        {
            self.exporter.set(&task, 0.0);
        }
    }

    /// The task ids of `colour`'s app, in the order a migration takes them out.
    fn tasks(&self, colour: &str) -> Vec<String> {
        let mut tasks = self.cluster().marathon.task_ids(&format!("/svc-{colour}"));
        tasks.sort();
        tasks
    }

    /// `version` runs in `colour` with three tasks, alone in the pool, and the record
    /// says it is live in `pool`.
    fn serves(&self, version: &str, colour: &str, pool: &str) {
        assert_serves(self.cluster(), version, colour, 3);
        let record = self.colours.record();
        assert_eq!(
            (
                &record["phase"],
                &record["stableVersion"],
                &record["stablePool"]
            ),
            (&json!("promoted"), &json!(version), &json!(pool))
        );
    }
}

/// The writes of one migration to `colour` from `old` with three tasks, after
/// `launch` (the POST and what settles an app found there).
fn migration_writes(launch: &[&str], colour: &str, old: &str) -> Vec<String> {
    let mut writes: Vec<String> = launch.iter().map(|w| (*w).to_owned()).collect();
    writes.push(format!("PUT /v2/apps/svc-{colour}"));
    writes.extend(std::iter::repeat_n(
        "POST /v2/tasks/delete?scale=true".to_owned(),
        3,
    ));
    writes.push(format!("DELETE /v2/apps/svc-{old}"));
    writes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_migrations_on_one_colour_spec_go_blue_to_green_then_back_to_blue() {
    let migrations = Migrations::start("30s").await;
    for (version, colour, old, pool) in [("v2", "green", "blue", "b"), ("v3", "blue", "green", "a")]
    {
        let leaving = migrations.tasks(old);
        migrations.idle();
        let output = migrations.colours.release(version).await;
        assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
        migrations.serves(version, colour, pool);
        // Each old task killed once, in order, with scale-down.
        let each: Vec<Vec<String>> = leaving.iter().map(|t| vec![t.clone()]).collect();
        assert_eq!(kills(migrations.cluster()), each, "{version}");
        // The backend: the new colour beside all three old tasks, then two, one, none.
        let history = std::mem::take(&mut migrations.cluster().edgelb.state().history);
        let written: Vec<Vec<String>> = history
            .iter()
            .filter_map(|pool| served(pool, &format!("/svc-{old}")))
            .collect();
        let shrinking: Vec<Vec<String>> = (0..4).map(|n| leaving[n..].to_vec()).collect();
        assert_eq!(written, shrinking, "{version}");
        // Launched from no instance in the new colour, scaled to three, the old removed.
        let writes = migrations.colours.take_writes();
        assert_eq!(
            lines(&writes),
            migration_writes(&["POST /v2/apps"], colour, old),
            "{version}"
        );
        let mut launched = app(version, colour);
        launched["instances"] = json!(0);
        assert_eq!(
            serde_json::from_str::<Value>(&writes[0].body).ok(),
            Some(launched)
        );
        assert_eq!(
            serde_json::from_str::<Value>(&writes[1].body).ok(),
            Some(json!({"instances": 3}))
        );
    }
}

/// An app found in green when v2 launches there: v0 left by an earlier release is
/// replaced whole (its tasks stop, never scaled or served); v2's own launch, left by a
/// job killed right after its POST, is scaled up as it is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_app_left_in_the_idle_colour_is_replaced_unless_this_release_launched_it() {
    for (left, replaced) in [("v0", true), ("v2", false)] {
        let migrations = Migrations::start("30s").await;
        let mut found = app(left, "green");
        if !replaced {
            found["instances"] = json!(0);
        }
        migrations.cluster().marathon.add_app(found);
        let old_tasks = migrations.tasks("green");
        migrations.idle();
        let output = migrations.colours.release("v2").await;
        assert_eq!(
            output.status.code(),
            Some(0),
            "{left}: {}",
            describe(&output)
        );
        migrations.serves("v2", "green", "b");

        let writes = migrations.colours.take_writes();
        let launch: &[&str] = if replaced {
            &[
                "POST /v2/apps",
                "PUT /v2/apps/svc-green?partialUpdate=false&force=true",
            ]
        } else {
            &["POST /v2/apps"]
        };
        assert_eq!(
            lines(&writes),
            migration_writes(launch, "green", "blue"),
            "{left}"
        );
        let green = migrations.cluster().marathon.app("/svc-green");
        let green = green.unwrap_or_else(|| panic!("green"));
        assert_eq!(as_sent(&green.definition), app("v2", "green"), "{left}");
        if replaced {
            let mut empty = app("v2", "green");
            empty["instances"] = json!(0);
            assert_eq!(
                serde_json::from_str::<Value>(&writes[1].body).ok(),
                Some(empty)
            );
            assert_eq!(old_tasks.len(), 3);
            assert!(
                old_tasks
                    .iter()
                    .all(|old| green.tasks.iter().all(|t| t["id"] != old.as_str())),
                "v0's tasks stopped"
            );
        }
        assert!(
            kills(migrations.cluster())
                .iter()
                .flatten()
                .all(|task| task.starts_with("svc-blue.")),
            "{left}: only blue's tasks are killed"
        );
    }
}

/// The release of v3 from green to blue killed with SIGKILL while the second green task
/// drains: the record keeps green live and the two green tasks left; the same command
/// again goes on from them and finishes on blue.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_migration_killed_midway_finishes_on_the_right_colour_when_run_again() {
    let migrations = Migrations::start("30s").await;
    migrations.idle();
    let output = migrations.colours.release("v2").await;
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    migrations.colours.take_writes();

    let green = migrations.tasks("green");
    migrations.idle();
    migrations.exporter.set(&green[1], 5.0);
    let mut first = migrations
        .colours
        .command("v3")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start greenlight: {e}"));
    until("one green task killed", Duration::from_secs(60), || {
        kills(migrations.cluster()).len() == 1
            && migrations.colours.record()["pending"]["left"]
                .as_array()
                .map(Vec::len)
                == Some(2)
    })
    .await;
    first.start_kill().unwrap_or_else(|e| panic!("{e}"));
    let _ = first.wait().await;
    let left = migrations.colours.record();
    assert_eq!(
        (
            &left["phase"],
            &left["stableVersion"],
            &left["stablePool"],
            &left["pending"]["left"]
        ),
        (
            &json!("in_progress"),
            &json!("v2"),
            &json!("b"),
            &json!(green[1..])
        ),
        "green stays live in the record until the migration succeeds"
    );

    migrations.exporter.set(&green[1], 0.0);
    let again = migrations.colours.release("v3").await;
    assert_eq!(again.status.code(), Some(0), "{}", describe(&again));
    migrations.serves("v3", "blue", "a");
    let each: Vec<Vec<String>> = green.iter().map(|t| vec![t.clone()]).collect();
    assert_eq!(kills(migrations.cluster()), each, "no task killed twice");
    // Blue was launched once; the re-run went on from the green tasks left.
    let writes = lines(&migrations.colours.take_writes());
    assert_eq!(
        writes,
        migration_writes(&["POST /v2/apps"], "blue", "green"),
        "{writes:?}"
    );
}

/// A migration from blue to green that halts on a task that does not drain, after
/// blue's first task was killed, then `greenlight rollback`: blue is scaled back to its
/// three tasks before the backend serves it alone, green is removed, and blue stays the
/// live colour, so the next release goes to green again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_migration_rolled_back_by_hand_restores_blue_and_removes_green() {
    let migrations = Migrations::start("1s").await;
    let blue = migrations.tasks("blue");
    migrations.idle();
    migrations.exporter.set(&blue[1], 4.0);
    let output = migrations.colours.release("v2").await;
    assert_eq!(output.status.code(), Some(3), "{}", describe(&output));
    assert_eq!(kills(migrations.cluster()), vec![vec![blue[0].clone()]]);
    let halted = migrations.colours.record();
    assert_eq!(
        (&halted["phase"], &halted["stablePool"]),
        (&json!("halted"), &json!("a"))
    );
    migrations.colours.take_writes();
    let before = migrations.cluster().marathon.app("/svc-blue");
    assert_eq!(before.map(|app| app.tasks.len()), Some(2));

    let rollback = migrations
        .colours
        .output(migrations.colours.greenlight("rollback", &[]))
        .await;
    assert_eq!(rollback.status.code(), Some(0), "{}", describe(&rollback));
    let writes = migrations.colours.take_writes();
    assert_eq!(
        lines(&writes),
        ["PUT /v2/apps/svc-blue", "DELETE /v2/apps/svc-green"]
    );
    assert_eq!(
        serde_json::from_str::<Value>(&writes[0].body).ok(),
        Some(json!({"instances": 3}))
    );
    // Blue whole and alone in the backend once more (its task pattern gone).
    assert_serves(migrations.cluster(), "v1", "blue", 3);
    let record = migrations.colours.record();
    assert_eq!(
        (
            &record["phase"],
            &record["stableVersion"],
            &record["stablePool"]
        ),
        (&json!("rolled_back"), &json!("v1"), &json!("a"))
    );

    migrations.idle();
    let next = migrations.colours.release("v3").await;
    assert_eq!(next.status.code(), Some(0), "{}", describe(&next));
    migrations.serves("v3", "green", "b");
}
