//! Consecutive releases on fixed pools, through the real binary and a real
//! HAProxy: one unchanged spec (`stableServers: [blue]`, `newServers:
//! [green]`) releases v1 → v2 → v3 → v4. Each release deploys to the idle
//! pool, so during step 1 about the step's share of real requests is answered
//! by the new version and the rest by the version that was live; after each,
//! every request by the new one.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::support::binary::{Greenlight, Run};
use crate::support::haproxy::Haproxy;
use crate::support::pool_app::{answers, haproxy_pools, pool_server};
use crate::support::rollout::describe;
use crate::support::snapshot::masked;
use crate::support::wait;

/// Requests sampled during step 1 and after promotion.
const SAMPLE: usize = 100;

fn spec(dir: &Path, socket: &Path) -> PathBuf {
    let dir_text = dir.display();
    let spec = format!(
        r#"apiVersion: greenlight.dev/v1alpha1
kind: Rollout
metadata:
  name: app
target:
  command:
    deploy: echo $GREENLIGHT_VERSION > {dir_text}/pool-{{{{ servers.pool }}}}
    retire: test "$(cat {dir_text}/pool-$GREENLIGHT_POOL)" = "$GREENLIGHT_VERSION" && rm {dir_text}/pool-$GREENLIGHT_POOL
{router}strategy:
  canary:
    steps:
      - {{weight: 20, hold: 10s}}
state:
  file: {dir_text}/state.json
"#,
        router = haproxy_pools(socket, ("5s", "100ms")),
    );
    let path = dir.join("greenlight.yaml");
    std::fs::write(&path, spec).unwrap_or_else(|e| panic!("cannot write {path:?}: {e}"));
    path
}

fn count(answers: &[(String, usize)], version: &str) -> usize {
    answers
        .iter()
        .find(|(seen, _)| seen == version)
        .map_or(0, |(_, count)| *count)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_consecutive_releases_with_one_spec_alternate_the_pools() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("no temp dir: {e}"));
    std::fs::write(dir.path().join("pool-a"), "v1").unwrap_or_else(|e| panic!("{e}"));
    let blue = pool_server(dir.path(), "a").await;
    let green = pool_server(dir.path(), "b").await;
    let haproxy = Haproxy::start(
        &[("blue".to_owned(), blue.addr, 256)],
        &[("green".to_owned(), green.addr, 0)],
    )
    .await;
    let spec = spec(dir.path(), &haproxy.socket);
    assert_eq!(count(&answers(haproxy.web, SAMPLE).await, "v1"), SAMPLE);

    for (stable, new) in [("v1", "v2"), ("v2", "v3"), ("v3", "v4")] {
        let mut command = Greenlight::on("run", &spec).into_tokio();
        command.args(["--version", new]).kill_on_drop(true);
        if new == "v2" {
            command.args(["--stable-version", "v1"]);
        }
        let run = command
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start greenlight: {e}"));

        // Step 1: some server of the idle pool gets weight.
        wait::until(
            &format!("{new} to get traffic"),
            Duration::from_secs(20),
            Duration::from_millis(50),
            || {
                let weights = haproxy.weights();
                let deployed = std::fs::read_to_string(dir.path().join("pool-a"))
                    .unwrap_or_default()
                    + &std::fs::read_to_string(dir.path().join("pool-b")).unwrap_or_default();
                std::future::ready(
                    if weights.iter().all(|(_, weight)| *weight > 0) && deployed.contains(new) {
                        Ok(())
                    } else {
                        Err(format!("{weights:?}"))
                    },
                )
            },
        )
        .await;
        // HAProxy's weighted round robin puts a server that just got weight
        // first in line for a moment: the share is measured after that.
        let first = answers(haproxy.web, 20).await;
        let started = std::time::Instant::now();
        let during = answers(haproxy.web, SAMPLE).await;
        let on_new = count(&during, new);
        let on_stable = count(&during, stable);
        assert!(
            (SAMPLE * 10 / 100..=SAMPLE * 30 / 100).contains(&on_new)
                && on_new + on_stable == SAMPLE,
            "{stable} → {new}, step 1 at 20%: answers {during:?} (first {first:?}; weights {:?} after {:?})",
            haproxy.weights(),
            started.elapsed()
        );

        let output = tokio::time::timeout(Duration::from_secs(60), run.wait_with_output())
            .await
            .unwrap_or_else(|_| panic!("{stable} → {new} did not finish in 60 s"))
            .unwrap_or_else(|e| panic!("greenlight did not run: {e}"));
        assert_eq!(
            output.status.code(),
            Some(0),
            "{stable} → {new}: {}",
            describe(&output)
        );
        let after = answers(haproxy.web, SAMPLE).await;
        assert_eq!(
            count(&after, new),
            SAMPLE,
            "after {stable} → {new}: {after:?}"
        );
    }
    let record: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("state.json")).unwrap_or_default(),
    )
    .unwrap_or_else(|e| panic!("no record: {e}"));
    assert_eq!(
        (
            record["stableVersion"].as_str(),
            record["stablePool"].as_str()
        ),
        (Some("v4"), Some("b")),
        "{record}"
    );
}

#[test]
fn plan_shows_which_pool_serves_and_which_the_new_version_goes_to() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("no temp dir: {e}"));
    let spec = spec(dir.path(), &dir.path().join("admin.sock"));
    let run = plan_v3_after_v2_in_pool_b(&spec, &dir.path().join("state.json"), "app");
    masked(&[dir.path()]).bind(|| insta::assert_snapshot!("plan_pools", run.stdout));
}

/// A target that renders each version's objects (Kubernetes manifests named
/// after `pool.new`) names the stable version's by its own pool: retiring it
/// after promotion removes that pool's Deployment, and a rollback removes the
/// new pool's, never the other way round or neither.
#[test]
fn a_kubernetes_target_on_fixed_pools_removes_each_version_from_its_own_pool() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("no temp dir: {e}"));
    let manifests = dir.path().join("manifests");
    std::fs::create_dir(&manifests).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(
        manifests.join("web.yaml"),
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: 'web-{{ pool.new }}'}\nspec:\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web, version: '{{ version }}'}}\n    spec: {containers: [{name: app, image: 'web:{{ version }}'}]}\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let spec = dir.path().join("greenlight.yaml");
    let state = dir.path().join("state.json");
    std::fs::write(
        &spec,
        format!("apiVersion: greenlight.dev/v1alpha1\nkind: Rollout\nmetadata: {{name: web}}\npools: [blue, green]\ntarget:\n  kubernetes: {{manifests: [manifests], namespace: shop}}\nrouter:\n  service: {{name: web, namespace: shop, stableSelector: {{app: web, version: '{{{{ stable_version }}}}'}}, newSelector: {{app: web, version: '{{{{ version }}}}'}}}}\nstrategy:\n  blueGreen: {{}}\nstate: {{file: {}}}\n", state.display()),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    // v2 is stable in green (pool `b`): v3 goes to blue.
    let run = plan_v3_after_v2_in_pool_b(&spec, &state, "web");
    let (before, rollback) = run
        .stdout
        .split_once("If a gate")
        .unwrap_or_else(|| panic!("no rollback section: {}", run.stdout));
    let (deploy, retire) = before
        .split_once("retire v2")
        .unwrap_or_else(|| panic!("no retirement: {}", run.stdout));
    assert!(deploy.contains("Deployment web-blue"), "{}", run.stdout);
    assert!(retire.contains("Deployment web-green"), "{}", run.stdout);
    assert!(
        rollback.contains("delete Deployment web-blue"),
        "{}",
        run.stdout
    );
    assert!(!rollback.contains("web-green"), "{}", run.stdout);
}

/// Without a record the stable version is taken to be in the first pool; when the
/// router already serves the other one, the halt says how to tell greenlight so
/// (the record's `stablePool`), since removing the record would only repeat it.
#[test]
fn a_router_serving_the_idle_pool_halts_saying_how_to_name_the_live_pool() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("no temp dir: {e}"));
    let spec = command_spec(
        dir.path(),
        "[blue, green]",
        "deployed-$GREENLIGHT_POOL",
        "{get: echo 100, set: 'true'}",
    );
    let mut run = Greenlight::on("run", &spec);
    run.args(["--version", "v2", "--stable-version", "v1"]);
    let run = run.run();
    assert_eq!(run.code(), Some(3), "{}", run.stderr);
    assert!(
        run.stderr
            .contains("would deploy to green (`b`). If the stable version serves from green, the record must say `\"stablePool\": \"b\"`"),
        "{}",
        run.stderr
    );
    assert!(
        !dir.path().join("deployed-green").exists(),
        "deployed anyway"
    );
}

/// The record names the live pool as well as its place in `pools:`: after a
/// release to green, a spec whose `pools:` were reordered is refused before
/// anything is deployed (the order says which app is which), and the spec as
/// it was releases to blue.
#[test]
fn reordered_pools_are_refused_instead_of_swapping_the_sides() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("no temp dir: {e}"));
    let router = format!(
        "{{get: 'cat {dir}/weight 2>/dev/null || echo 0', set: 'echo $GREENLIGHT_WEIGHT > {dir}/weight'}}",
        dir = dir.path().display()
    );
    let write = |pools: &str| {
        command_spec(
            dir.path(),
            pools,
            "deployed-$GREENLIGHT_VERSION-$GREENLIGHT_POOL",
            &router,
        )
    };
    let spec = write("[blue, green]");
    let release = |version: &str, stable: Option<&str>| {
        let mut run = Greenlight::on("run", &spec);
        run.args(["--version", version]);
        if let Some(stable) = stable {
            run.args(["--stable-version", stable]);
        }
        run.run()
    };
    let first = release("v2", Some("v1"));
    assert_eq!(first.code(), Some(0), "{}", first.stderr);
    assert!(dir.path().join("deployed-v2-green").exists());
    // The next release starts from 0% on the idle pool.
    std::fs::write(dir.path().join("weight"), "0").unwrap_or_else(|e| panic!("{e}"));

    write("[green, blue]");
    let reordered = release("v3", None);
    assert_eq!(reordered.code(), Some(1), "{}", reordered.stderr);
    assert!(
        reordered
            .stderr
            .contains("runs in pool `green`, the second of `pools:` when it was written, but `pools:` is now [green, blue]"),
        "{}",
        reordered.stderr
    );
    let deployed: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap_or_else(|e| panic!("{e}"))
        .flatten()
        .filter(|entry| {
            entry
                .file_name()
                .to_string_lossy()
                .starts_with("deployed-v3")
        })
        .collect();
    assert!(deployed.is_empty(), "deployed anyway: {deployed:?}");

    write("[blue, green]");
    let restored = release("v3", None);
    assert_eq!(restored.code(), Some(0), "{}", restored.stderr);
    assert!(dir.path().join("deployed-v3-blue").exists());
}

/// A spec in `dir` on `pools` whose command target touches the file `deployed`
/// (a name with `$GREENLIGHT_…` variables) in `dir`, with the command router
/// `router` and one step.
fn command_spec(dir: &Path, pools: &str, deployed: &str, router: &str) -> PathBuf {
    let spec = dir.join("greenlight.yaml");
    std::fs::write(
        &spec,
        format!(
            "apiVersion: greenlight.dev/v1alpha1\nkind: Rollout\nmetadata: {{name: web}}\npools: {pools}\ntarget:\n  command: {{deploy: 'touch {dir}/{deployed}'}}\nrouter:\n  command: {router}\nstrategy:\n  canary: {{steps: [{{weight: 100, hold: 1ms}}]}}\nstate: {{file: {dir}/state.json}}\n",
            dir = dir.display()
        ),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    spec
}

/// `plan --version v3` on `spec` once the record in `state` says v2 of the
/// rollout `name` was promoted into pool `b`; the plan must succeed.
fn plan_v3_after_v2_in_pool_b(spec: &Path, state: &Path, name: &str) -> Run {
    std::fs::write(
        state,
        format!(
            r#"{{"name":"{name}","stableVersion":"v2","phase":"promoted","weight":0,"updatedAt":"2026-01-01T00:00:00.000Z","stablePool":"b"}}"#
        ),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let mut plan = Greenlight::on("plan", spec);
    plan.args(["--version", "v3"]);
    let run = plan.run();
    assert_eq!(run.code(), Some(0), "{}", run.stderr);
    run
}
