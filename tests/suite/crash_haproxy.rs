//! The crash matrix on a real HAProxy: the real binary with the HAProxy
//! router and fixed pools, `kill -9` after deploy, after each weight change,
//! during the analysis hold, during rollback, promotion and retire, then the
//! same command again. Every case must end `promoted` or `rolled_back`, with
//! real requests answered by the version the outcome says, never again by a
//! version that failed its gate, and with the record kept. One HAProxy serves
//! every case; the holds are a few hundred milliseconds.

use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::crash::{converged, gated_canary, kill_once};
use crate::support::binary::Greenlight;
use crate::support::haproxy::{BACKEND, Haproxy};
use crate::support::pool_app::{answers, haproxy_pools, pool_server};

/// A two-step canary on the HAProxy pools whose deploy, retire and metric
/// commands kill greenlight (`kill -9 $PPID`) once when `kill-<point>` exists.
fn spec(dir: &Path, socket: &Path) -> PathBuf {
    let d = dir.display();
    let kill = |point: &str| kill_once(dir, point);
    let spec = format!(
        r#"apiVersion: greenlight.dev/v1alpha1
kind: Rollout
metadata:
  name: app
target:
  command:
    deploy: echo $GREENLIGHT_VERSION > {d}/pool-{{{{ servers.pool }}}}; echo deploy $GREENLIGHT_VERSION >> {d}/log; {deploy}
    retire: for f in {d}/pool-*; do if [ "$(cat $f)" = "$GREENLIGHT_VERSION" ]; then rm $f; fi; done; echo retire $GREENLIGHT_VERSION >> {d}/log; {retire}
{router}{canary}"#,
        deploy = kill("deploy"),
        retire = kill("retire"),
        router = haproxy_pools(socket, ("2s", "50ms")),
        canary = gated_canary(dir, ("400ms", "100ms")),
    );
    let path = dir.join("greenlight.yaml");
    std::fs::write(&path, spec).unwrap_or_else(|e| panic!("cannot write {path:?}: {e}"));
    path
}

/// Where the kill comes from: a command of the spec, or a watcher that sees
/// the weights HAProxy itself reports reach a point.
#[derive(Clone, Copy)]
enum Kill {
    /// `kill-<point>` makes that command kill greenlight.
    Command(&'static str),
    /// Killed once the new pool's share (0–100) satisfies this.
    Share(fn(u32, bool) -> bool),
}

struct Case {
    name: &'static str,
    kill: Kill,
    error_rate: &'static str,
    /// The outcome the re-run must reach, and its exit code.
    ends: (&'static str, i32),
}

const CASES: [Case; 8] = [
    Case {
        name: "after deploy",
        kill: Kill::Command("deploy"),
        error_rate: "0",
        ends: ("promoted", 0),
    },
    Case {
        name: "after step 1 (20%)",
        kill: Kill::Share(|share, _| share > 0 && share < 40),
        error_rate: "0",
        ends: ("promoted", 0),
    },
    Case {
        name: "during the analysis hold",
        kill: Kill::Command("measure"),
        error_rate: "0",
        ends: ("promoted", 0),
    },
    Case {
        name: "after step 2 (60%)",
        kill: Kill::Share(|share, _| (50..100).contains(&share)),
        error_rate: "0",
        ends: ("promoted", 0),
    },
    Case {
        name: "during promotion (100%)",
        kill: Kill::Share(|share, _| share == 100),
        error_rate: "0",
        ends: ("promoted", 0),
    },
    Case {
        name: "during retire of the old version",
        kill: Kill::Command("retire"),
        error_rate: "0",
        ends: ("promoted", 0),
    },
    Case {
        name: "during rollback (gate failed, 0% set)",
        kill: Kill::Share(|share, seen_traffic| seen_traffic && share == 0),
        error_rate: "0.5",
        ends: ("rolled_back", 2),
    },
    Case {
        name: "during rollback's removal of the new version",
        kill: Kill::Command("retire"),
        error_rate: "0.5",
        ends: ("rolled_back", 2),
    },
];

/// The new pool's share of the backend's weight, in percent.
fn green_share(haproxy: &Haproxy) -> u32 {
    let weights = haproxy.weights();
    let weight = |name: &str| {
        weights
            .iter()
            .find(|(server, _)| server == name)
            .map_or(0, |(_, weight)| u32::from(*weight))
    };
    (weight("green") * 100)
        .checked_div(weight("blue") + weight("green"))
        .unwrap_or(0)
}

fn start(spec: &Path) -> Child {
    Greenlight::on("run", spec)
        .into_std()
        .args(["--version", "v2", "--stable-version", "v1"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start greenlight: {e}"))
}

/// Runs greenlight until it exits, killing it with SIGKILL as soon as the new
/// pool's share satisfies `when`. Returns its exit code (`None`: killed).
fn run_killed_at(spec: &Path, haproxy: &Haproxy, when: fn(u32, bool) -> bool) -> Option<i32> {
    let mut child = start(spec);
    let mut seen_traffic = false;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return status.code();
        }
        let share = green_share(haproxy);
        seen_traffic |= share > 0;
        if when(share, seen_traffic) {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        assert!(Instant::now() < deadline, "greenlight ran for 30 s");
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn read(dir: &Path, file: &str) -> String {
    std::fs::read_to_string(dir.join(file)).unwrap_or_default()
}

/// Puts the shared HAProxy and pools back where a first release starts: v1
/// in pool a (blue) with all traffic, pool b (green) empty and weightless.
fn reset(dir: &Path, haproxy: &Haproxy) {
    for file in ["state.json", "state.json.lock", "log", "pool-b"] {
        let _ = std::fs::remove_file(dir.join(file));
    }
    std::fs::write(dir.join("pool-a"), "v1").unwrap_or_else(|e| panic!("{e}"));
    for (server, weight) in [("blue", 256), ("green", 0)] {
        haproxy.command(&format!("set server {BACKEND}/{server} state ready"));
        haproxy.command(&format!("set server {BACKEND}/{server} weight {weight}"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollout_on_haproxy_killed_at_any_phase_converges_when_run_again() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("no temp dir: {e}"));
    let blue = pool_server(dir.path(), "a").await;
    let green = pool_server(dir.path(), "b").await;
    let haproxy = Arc::new(
        Haproxy::start(
            &[("blue".to_owned(), blue.addr, 256)],
            &[("green".to_owned(), green.addr, 0)],
        )
        .await,
    );
    let spec = spec(dir.path(), &haproxy.socket);
    let mut table = vec!["| kill -9 | re-run | real requests after |".to_owned()];
    for case in CASES {
        reset(dir.path(), &haproxy);
        std::fs::write(dir.path().join("error-rate"), case.error_rate)
            .unwrap_or_else(|e| panic!("{e}"));
        let first = match case.kill {
            Kill::Command(point) => {
                std::fs::write(dir.path().join(format!("kill-{point}")), "")
                    .unwrap_or_else(|e| panic!("{e}"));
                let spec = spec.clone();
                tokio::task::spawn_blocking(move || {
                    start(&spec).wait().unwrap_or_else(|e| panic!("{e}")).code()
                })
                .await
                .unwrap_or_else(|e| panic!("{e}"))
            }
            Kill::Share(when) => {
                let (spec, haproxy) = (spec.clone(), haproxy.clone());
                tokio::task::spawn_blocking(move || run_killed_at(&spec, &haproxy, when))
                    .await
                    .unwrap_or_else(|e| panic!("{e}"))
            }
        };
        assert_eq!(first, None, "{}: greenlight was not killed", case.name);

        // While the re-run runs, the new pool must never get traffic again
        // once its version failed a gate.
        let watching = Arc::new(AtomicBool::new(true));
        let watcher = {
            let (haproxy, watching) = (haproxy.clone(), watching.clone());
            let floor = green_share(&haproxy);
            std::thread::spawn(move || {
                let mut shares = vec![floor];
                while watching.load(Ordering::Relaxed) {
                    let share = green_share(&haproxy);
                    if shares.last() != Some(&share) {
                        shares.push(share);
                    }
                    std::thread::sleep(Duration::from_millis(2));
                }
                shares
            })
        };
        let again = Greenlight::on("run", &spec)
            .into_tokio()
            .args(["--version", "v2", "--stable-version", "v1"])
            .output()
            .await
            .unwrap_or_else(|e| panic!("greenlight runs: {e}"));
        watching.store(false, Ordering::Relaxed);
        let shares = watcher
            .join()
            .unwrap_or_else(|_| panic!("the watcher ends"));
        let (outcome, code) = case.ends;
        let (record, stderr) = converged(dir.path(), case.name, &again, case.ends);
        if !matches!(case.kill, Kill::Command("deploy")) {
            assert!(
                stderr.contains("resumed an interrupted rollout"),
                "{}: the re-run does not say it resumed:\n{stderr}",
                case.name
            );
        }
        let served = answers(haproxy.web, 20).await;
        let expected = if outcome == "promoted" { "v2" } else { "v1" };
        assert_eq!(
            served,
            vec![(expected.to_owned(), 20)],
            "{}: real requests after the re-run ({stderr})",
            case.name
        );
        if outcome == "promoted" {
            assert!(
                shares.is_sorted(),
                "{}: the new pool's share went down after the crash: {shares:?}",
                case.name
            );
            assert_eq!(record["stableVersion"], "v2", "{}", case.name);
            assert!(
                read(dir.path(), "log").ends_with("retire v1\n"),
                "{}",
                case.name
            );
        } else {
            assert!(
                shares.iter().skip(1).all(|share| *share == 0),
                "{}: traffic on the version that failed its gate after the crash: {shares:?}",
                case.name
            );
            assert!(
                read(dir.path(), "log").contains("retire v2"),
                "{}",
                case.name
            );
        }
        table.push(format!(
            "| {} | {outcome}, exit {code} | 20/20 by {expected} |",
            case.name
        ));
    }
    eprintln!("{}", table.join("\n"));
}
