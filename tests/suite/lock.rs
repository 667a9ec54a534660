//! The rollout's lock through the real binary: two jobs started at the same
//! instant (also two jobs of one CI run) never both proceed, a lock whose
//! holder is gone or whose time is up is taken over, a live one only with
//! `--force`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant, SystemTime};

use serde_json::Value;
use tempfile::TempDir;

use crate::kubernetes::Cluster;
use crate::support::binary::Greenlight;

/// Pairs of runs started together, as in the issue's measurement.
const PAIRS: usize = 40;
/// Pairs running at once (each pair in its own folder).
const BATCH: usize = 8;
/// The refused run must say so well inside a CI step's patience.
const REFUSAL_BUDGET: Duration = Duration::from_secs(5);

/// A canary long enough (two 1.5 s holds) that the second run of a pair is
/// certain to start while the first holds the lock.
fn spec(dir: &Path) -> PathBuf {
    std::fs::write(dir.join("weight"), "0\n").expect("write the weight");
    std::fs::write(dir.join("error-rate"), "0").expect("write the error rate");
    crate::support::file_driven_spec_holding(dir, "1500ms")
}

/// The CI run both jobs of a "same run" pair claim to be.
const RUN_URL: &str = "https://github.com/acme/shop/actions/runs/7";

fn greenlight(args: &[&str], same_ci_run: bool) -> Command {
    let mut command = Greenlight::new().into_std();
    command
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if same_ci_run {
        command
            .env("GITHUB_ACTIONS", "true")
            .env("GITHUB_SERVER_URL", "https://github.com")
            .env("GITHUB_REPOSITORY", "acme/shop")
            .env("GITHUB_RUN_ID", "7")
            .env("GITHUB_RUN_ATTEMPT", "1")
            .env("GITHUB_JOB", "deploy");
    }
    command
}

fn run_args(spec: &Path) -> Vec<String> {
    ["run", "-f", &spec.display().to_string()]
        .into_iter()
        .map(str::to_owned)
        .chain(["--version", "v2", "--stable-version", "v1"].map(str::to_owned))
        .collect()
}

struct Finished {
    pid: u32,
    output: Output,
    took: Duration,
}

impl Finished {
    fn code(&self) -> i32 {
        self.output.status.code().unwrap_or(-1)
    }
    fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.output.stderr).into_owned()
    }
}

fn wait(child: Child, started: Instant) -> Finished {
    let pid = child.id();
    let output = child.wait_with_output().expect("greenlight ran");
    Finished {
        pid,
        output,
        took: started.elapsed(),
    }
}

/// Starts `commands` at once and collects them, each timed to its own exit.
fn together(mut commands: Vec<Command>) -> Vec<Finished> {
    let started = Instant::now();
    let children: Vec<Child> = commands
        .iter_mut()
        .map(|command| command.spawn().expect("greenlight starts"))
        .collect();
    let waiting: Vec<_> = children
        .into_iter()
        .map(|child| std::thread::spawn(move || wait(child, started)))
        .collect();
    waiting
        .into_iter()
        .map(|thread| thread.join().expect("the waiting thread ends"))
        .collect()
}

/// One pair's verdict: exactly one proceeded and promoted, the other halted
/// quickly naming the winner and the lock's expiry.
fn assert_exactly_one_proceeded(pair: &[Finished], same_ci_run: bool, what: &str) {
    let winners: Vec<&Finished> = pair.iter().filter(|run| run.code() == 0).collect();
    let refused: Vec<&Finished> = pair.iter().filter(|run| run.code() == 3).collect();
    assert!(
        winners.len() == 1 && refused.len() == 1,
        "{what}: expected one exit 0 and one exit 3, got {:?}:\n{}",
        pair.iter().map(Finished::code).collect::<Vec<_>>(),
        pair.iter()
            .map(Finished::stderr)
            .collect::<Vec<_>>()
            .join("\n---\n")
    );
    let (winner, loser) = (winners[0], refused[0]);
    let message = loser.stderr();
    assert!(
        loser.took < REFUSAL_BUDGET,
        "{what}: the refusal took {:?}",
        loser.took
    );
    let names_holder = if same_ci_run {
        message.contains(&format!("{RUN_URL} attempt 1 job deploy"))
    } else {
        message.contains(&format!(":{}", winner.pid))
    };
    assert!(
        names_holder && message.contains(&format!("pid {}", winner.pid)),
        "{what}: the refusal does not name the holder (pid {}):\n{message}",
        winner.pid
    );
    assert!(
        message.contains(" until 20"),
        "{what}: the refusal does not give the expiry:\n{message}"
    );
}

#[test]
fn of_forty_pairs_started_together_on_one_state_file_exactly_one_proceeds() {
    for batch in 0..PAIRS / BATCH {
        let dirs: Vec<TempDir> = (0..BATCH)
            .map(|_| TempDir::new().expect("temp dir"))
            .collect();
        let commands = dirs
            .iter()
            .enumerate()
            .flat_map(|(index, dir)| {
                let same_ci_run = index % 2 == 1;
                let args = run_args(&spec(dir.path()));
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                [
                    greenlight(&args, same_ci_run),
                    greenlight(&args, same_ci_run),
                ]
            })
            .collect();
        let runs = together(commands);
        for (index, (pair, dir)) in runs.chunks(2).zip(&dirs).enumerate() {
            let what = format!("pair {}", batch * BATCH + index + 1);
            assert_exactly_one_proceeded(pair, index % 2 == 1, &what);
            let log = std::fs::read_to_string(dir.path().join("log")).unwrap_or_default();
            assert_eq!(log, "deploy v2\nretire v1\n", "{what}: one rollout ran");
            let record: Value = serde_json::from_str(
                &std::fs::read_to_string(dir.path().join("state.json")).expect("a record"),
            )
            .expect("record JSON");
            assert_eq!(record["phase"], "promoted", "{what}");
            assert!(
                !dir.path().join("state.json.lock").exists(),
                "{what}: the lock was released"
            );
        }
    }
}

#[test]
fn of_forty_pairs_started_together_on_one_lease_exactly_one_proceeds() {
    for batch in 0..PAIRS / BATCH {
        let clusters: Vec<Cluster> = (0..BATCH).map(|_| Cluster::new()).collect();
        let commands = clusters
            .iter()
            .enumerate()
            .flat_map(|(index, cluster)| {
                std::fs::write(cluster.dir.path().join("weight"), "0\n").expect("weight");
                cluster.spec(
                    "  command:\n    set: echo $GREENLIGHT_WEIGHT > weight\n    get: cat weight\n",
                    "strategy:\n  canary:\n    steps:\n    - {weight: 20, hold: 1500ms}\nanalysis:\n  interval: 500ms\n  metrics:\n  - name: error-rate\n    query: {command: echo 0}\n    max: 0.5\n",
                );
                let kubeconfig = cluster.fake.kubeconfig(cluster.dir.path());
                [0, 1].map(|_| {
                    let mut command = greenlight(
                        &["run", "-f", "greenlight.yaml", "--version", "v2", "--stable-version", "v1"],
                        index % 2 == 1,
                    );
                    command
                        .current_dir(cluster.dir.path())
                        .env("KUBECONFIG", &kubeconfig)
                        .env("HOME", cluster.dir.path());
                    command
                })
            })
            .collect();
        let runs = together(commands);
        for (index, (pair, cluster)) in runs.chunks(2).zip(&clusters).enumerate() {
            let what = format!("lease pair {}", batch * BATCH + index + 1);
            assert_exactly_one_proceeded(pair, index % 2 == 1, &what);
            let lease = cluster
                .fake
                .object(LEASES, "greenlight-web")
                .expect("the Lease exists");
            assert!(
                lease["spec"]["holderIdentity"].is_null(),
                "{what}: the Lease was released: {lease:#}"
            );
            assert_eq!(cluster.record()["phase"], "promoted", "{what}");
        }
    }
}

pub const LEASES: &str = "/apis/coordination.k8s.io/v1/namespaces/shop/leases";

/// Writes a lock on `dir/state.json` held by `host`:`pid`, renewed
/// `renewed_ago` (a minute or more: expired).
pub fn hold_lock(dir: &Path, host: &str, pid: u32, renewed_ago: Duration) {
    let renewed = SystemTime::now() - renewed_ago;
    let expires = renewed + Duration::from_secs(60);
    let lock = serde_json::json!({
        "holder": {"name": format!("{host}:{pid}"), "host": host, "pid": pid},
        "token": format!("{host}-{pid}-test"),
        "renewedAt": humantime::format_rfc3339_millis(renewed).to_string(),
        "durationSeconds": 60,
        "expiresAt": humantime::format_rfc3339_millis(expires).to_string(),
    });
    std::fs::write(dir.join("state.json.lock"), lock.to_string()).expect("write the lock");
}

fn this_host() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .filter(|name| !name.is_empty())
        .or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|name| name.trim().to_owned())
        })
        .unwrap_or_else(|| "localhost".to_owned())
}

fn run_once(dir: &Path, extra: &[&str]) -> Finished {
    let mut args = run_args(&spec(dir));
    args.extend(extra.iter().map(|arg| (*arg).to_owned()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    together(vec![greenlight(&args, false)]).remove(0)
}

#[test]
fn a_live_lock_is_taken_over_only_with_force() {
    let dir = TempDir::new().expect("temp dir");
    hold_lock(dir.path(), "another-runner", 4242, Duration::ZERO);
    let refused = run_once(dir.path(), &[]);
    assert_eq!(refused.code(), 3, "{}", refused.stderr());
    assert!(
        refused
            .stderr()
            .contains("held by another-runner:4242 until"),
        "{}",
        refused.stderr()
    );
    assert!(!dir.path().join("log").exists(), "nothing was deployed");

    let forced = run_once(dir.path(), &["--force"]);
    assert_eq!(forced.code(), 0, "{}", forced.stderr());
    assert!(
        forced
            .stderr()
            .contains("took over the lock from another-runner:4242 (--force)"),
        "{}",
        forced.stderr()
    );
    assert!(!dir.path().join("state.json.lock").exists());
}

#[test]
fn a_lock_whose_holder_is_gone_or_whose_time_is_up_is_taken_over() {
    // A process of this host that has exited.
    let mut gone = Command::new("true").spawn().expect("run true");
    let pid = gone.id();
    gone.wait().expect("true exits");
    let dir = TempDir::new().expect("temp dir");
    hold_lock(dir.path(), &this_host(), pid, Duration::ZERO);
    let run = run_once(dir.path(), &[]);
    assert_eq!(run.code(), 0, "{}", run.stderr());
    assert!(
        run.stderr().contains("its process no longer runs"),
        "{}",
        run.stderr()
    );

    let dir = TempDir::new().expect("temp dir");
    hold_lock(dir.path(), "another-runner", 4242, Duration::from_secs(61));
    let run = run_once(dir.path(), &[]);
    assert_eq!(run.code(), 0, "{}", run.stderr());
    assert!(run.stderr().contains("it had expired"), "{}", run.stderr());
}

/// The CI job (and its attempt) a process claims to run as, as environment variables.
fn ci_env(command: &mut Command, forge: &str, attempt: &str) {
    match forge {
        "github" => command
            .env("GITHUB_ACTIONS", "true")
            .env("GITHUB_SERVER_URL", "https://github.com")
            .env("GITHUB_REPOSITORY", "acme/shop")
            .env("GITHUB_RUN_ID", "7")
            .env("GITHUB_RUN_ATTEMPT", attempt)
            .env("GITHUB_JOB", "deploy"),
        _ => command
            .env("GITLAB_CI", "true")
            .env(
                "CI_PIPELINE_URL",
                "https://gitlab.com/acme/shop/-/pipelines/9",
            )
            .env("CI_PIPELINE_ID", "9")
            .env(
                "CI_JOB_URL",
                format!("https://gitlab.com/acme/shop/-/jobs/{attempt}"),
            )
            .env("CI_JOB_NAME", "deploy")
            .env("CI_JOB_ID", attempt),
    };
}

#[test]
fn a_rerun_of_the_same_ci_job_takes_the_lock_over_at_once_and_resumes() {
    // (forge, the attempt that holds the lock, the re-run's attempt)
    for (forge, first, again) in [("github", "1", "2"), ("gitlab", "100", "107")] {
        let dir = TempDir::new().expect("temp dir");
        let spec = spec(dir.path());
        // The first attempt's runner died mid-canary at 20%; its lock has
        // most of a minute left and its host is not this one.
        std::fs::write(
            dir.path().join("state.json"),
            r#"{"name":"checkout","stableVersion":"v1","newVersion":"v2","phase":"in_progress","weight":20,"updatedAt":"2026-01-01T00:00:00.000Z"}"#,
        )
        .expect("write the record");
        std::fs::write(dir.path().join("weight"), "20\n").expect("write the weight");
        let job = match forge {
            "github" => "https://github.com/acme/shop/actions/runs/7 job deploy",
            _ => "https://gitlab.com/acme/shop/-/pipelines/9 job deploy",
        };
        hold_lock_as(
            dir.path(),
            "dead-runner",
            4242,
            Some(serde_json::json!({"job": job, "attempt": first.parse::<u64>().unwrap()})),
        );

        // Another job holding the same attempt is not a re-run: it waits.
        let mut same = greenlight(
            &run_args(&spec)
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>(),
            false,
        );
        ci_env(&mut same, forge, first);
        // GitLab's JUnit and dotenv files are written where the job runs.
        same.current_dir(dir.path());
        let same = together(vec![same]).remove(0);
        assert_eq!(same.code(), 3, "{forge}: {}", same.stderr());
        assert!(
            same.stderr().contains("held by dead-runner:4242 until"),
            "{}",
            same.stderr()
        );

        let mut rerun = greenlight(
            &run_args(&spec)
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>(),
            false,
        );
        ci_env(&mut rerun, forge, again);
        rerun.current_dir(dir.path());
        let rerun = together(vec![rerun]).remove(0);
        let stderr = rerun.stderr();
        assert_eq!(rerun.code(), 0, "{forge}: {stderr}");
        assert!(
            stderr.contains("took over the lock from dead-runner:4242 (this is a later attempt of the same CI job)")
                && stderr.contains("resumed an interrupted rollout"),
            "{forge}: {stderr}"
        );
        assert!(
            rerun.took < Duration::from_secs(30),
            "{forge}: it did not wait for the lease"
        );
        let record: Value = serde_json::from_str(
            &std::fs::read_to_string(dir.path().join("state.json")).unwrap_or_default(),
        )
        .expect("the record is JSON");
        assert_eq!(record["phase"], "promoted", "{forge}: {record}");
        assert!(
            !dir.path().join("state.json.lock").exists(),
            "{forge}: released"
        );
    }
}

/// `hold_lock` by a holder that runs as the CI job `ci` (`{job, attempt}`).
pub fn hold_lock_as(dir: &Path, host: &str, pid: u32, ci: Option<Value>) {
    hold_lock(dir, host, pid, Duration::ZERO);
    let path = dir.join("state.json.lock");
    let mut lock: Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("read the lock"))
            .expect("the lock is JSON");
    lock["holder"]["ci"] = ci.unwrap_or(Value::Null);
    std::fs::write(&path, lock.to_string()).expect("write the lock");
}
