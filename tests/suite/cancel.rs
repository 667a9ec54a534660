//! Cancellation as a CI runner does it: SIGINT, SIGTERM, or SIGINT then
//! SIGTERM a second later, to greenlight's pid or to its whole process group,
//! mid-step and during a metric query that hangs. Traffic must be back on
//! stable and verified, the lock released, the record `rolled_back`, and the
//! process gone within the cancel budget.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use tempfile::TempDir;

use crate::support::binary::Greenlight;
use crate::support::wait;

/// greenlight's default cancel budget.
const CANCEL_BUDGET: Duration = Duration::from_secs(5);

/// The file-driven canary with a 30 s hold at 20%. Its metric reads
/// `error-rate`: a file (a quick query), or a FIFO nobody writes (a query that
/// hangs).
fn spec(dir: &Path, hung_query: bool) -> PathBuf {
    let error_rate = dir.join("error-rate");
    if hung_query {
        let made = Command::new("mkfifo")
            .arg(&error_rate)
            .status()
            .expect("mkfifo runs");
        assert!(made.success(), "mkfifo {}", error_rate.display());
    } else {
        std::fs::write(&error_rate, "0").expect("write the error rate");
    }
    std::fs::write(dir.join("weight"), "0\n").expect("write the weight");
    let spec = crate::support::file_driven_spec_holding(dir, "30s");
    // Each measurement first marks that it started, so a test can wait for the hold.
    let text = std::fs::read_to_string(&spec).expect("read the spec");
    let query = format!("command: cat {}", error_rate.display());
    let marked = text.replace(
        &query,
        &format!(
            "command: echo >> {}; cat {}",
            dir.join("measured").display(),
            error_rate.display()
        ),
    );
    assert_ne!(marked, text, "the spec's metric query changed");
    std::fs::write(&spec, marked).expect("write the spec");
    spec
}

/// Blocks until the file at `path` holds what `wanted` accepts (20 s at most).
fn wait_for_file(what: &str, path: &Path, wanted: impl Fn(&str) -> bool) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(wait::until(
        what,
        Duration::from_secs(20),
        Duration::from_millis(20),
        || {
            let now = std::fs::read_to_string(path).unwrap_or_default();
            std::future::ready(if wanted(&now) { Ok(()) } else { Err(now) })
        },
    ));
}

/// Starts `run` of the spec in the directory `spec` is in, in its own process
/// group as a runner starts a job step, and returns once step 1 (20%) is set.
fn start_at_step_one(spec: &Path, extra: &[&str]) -> std::process::Child {
    let child = Greenlight::on("run", spec)
        .into_std()
        .args(["--version", "v2", "--stable-version", "v1"])
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .expect("greenlight starts");
    wait_for_file("step 1 at 20%", &spec.with_file_name("weight"), |now| {
        now.trim() == "20"
    });
    child
}

#[derive(Clone, Copy, Debug)]
enum To {
    Pid,
    Group,
}

fn signal(name: &str, pid: u32, to: To) {
    let target = match to {
        To::Pid => pid.to_string(),
        To::Group => format!("-{pid}"),
    };
    let status = Command::new("kill")
        .args([&format!("-{name}"), "--", &target])
        .status()
        .expect("kill runs");
    assert!(status.success(), "kill -{name} {target}");
}

fn cancel(signals: &[&str], to: To, hung_query: bool) {
    let during = if hung_query {
        "a hung metric query"
    } else {
        "a step's hold"
    };
    let what = format!("{signals:?} to the {to:?} during {during}");
    let dir = TempDir::new().expect("temp dir");
    let spec = spec(dir.path(), hung_query);
    let mut child = start_at_step_one(&spec, &[]);
    let weight = dir.path().join("weight");
    // Into the hold (a measurement started), or into the hung query.
    wait_for_file(
        "a measurement in step 1",
        &dir.path().join("measured"),
        |now| !now.is_empty(),
    );
    let signalled = Instant::now();
    for (index, name) in signals.iter().enumerate() {
        if index > 0 {
            std::thread::sleep(Duration::from_secs(1));
        }
        if let Ok(Some(_)) = child.try_wait() {
            break;
        }
        signal(name, child.id(), to);
    }
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        assert!(
            signalled.elapsed() < CANCEL_BUDGET + Duration::from_secs(5),
            "{what}: still running after {:?}",
            signalled.elapsed()
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let took = signalled.elapsed();
    let mut stderr = String::new();
    if let Some(mut pipe) = child.stderr.take() {
        let _ = std::io::Read::read_to_string(&mut pipe, &mut stderr);
    }
    assert!(took < CANCEL_BUDGET, "{what}: exit took {took:?}\n{stderr}");
    assert_eq!(status.code(), Some(2), "{what}: {stderr}");
    assert_eq!(
        std::fs::read_to_string(&weight).unwrap_or_default().trim(),
        "0",
        "{what}: traffic back on stable"
    );
    let record: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("state.json")).unwrap_or_default(),
    )
    .unwrap_or_else(|error| panic!("{what}: no record: {error}"));
    assert_eq!(record["phase"], "rolled_back", "{what}");
    assert!(
        !dir.path().join("state.json.lock").exists(),
        "{what}: the lock was released"
    );
    assert!(
        stderr.contains("rollback verified"),
        "{what}: the rollback was verified:\n{stderr}"
    );
}

#[test]
fn a_cancelled_job_during_a_hung_metric_query_rolls_back_within_the_budget() {
    for to in [To::Pid, To::Group] {
        for signals in [&["INT"][..], &["TERM"], &["INT", "TERM"]] {
            cancel(signals, to, true);
        }
    }
}

#[test]
fn a_cancelled_job_mid_step_rolls_back_within_the_budget() {
    cancel(&["INT"], To::Pid, false);
    cancel(&["INT", "TERM"], To::Group, false);
}

/// A router whose write of 0% hangs: with `--cancel-budget 1s` the cancelled
/// run gives up on it after 1 s (plus 1 s to read the router back), and the
/// record says where traffic was left; once the router answers again,
/// `greenlight rollback` (what the error says to run) finishes the rollback.
#[test]
fn a_rollback_write_that_outlasts_the_cancel_budget_leaves_a_record_of_where_traffic_is() {
    let dir = TempDir::new().expect("temp dir");
    let spec = spec(dir.path(), false);
    let text = std::fs::read_to_string(&spec).expect("read the spec");
    let hang = dir.path().join("hang");
    let hung_zero = text.replace(
        "set: echo $GREENLIGHT_WEIGHT",
        &format!(
            "set: if [ $GREENLIGHT_WEIGHT = 0 ] && [ -f {} ]; then sleep 30; fi; echo $GREENLIGHT_WEIGHT",
            hang.display()
        ),
    );
    std::fs::write(&hang, "").expect("make the router hang");
    assert_ne!(hung_zero, text, "the spec's router changed");
    std::fs::write(&spec, hung_zero).expect("write the spec");
    let child = start_at_step_one(&spec, &["--cancel-budget", "1s"]);
    let signalled = Instant::now();
    signal("TERM", child.id(), To::Group);
    let output = child.wait_with_output().expect("greenlight exits");
    let took = signalled.elapsed();
    let stderr = String::from_utf8_lossy(&output.stderr);
    // The write's budget and the read-back's, not the router's 30 s.
    assert!(
        took < Duration::from_secs(5),
        "exit took {took:?}\n{stderr}"
    );
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    let record: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("state.json")).unwrap_or_default(),
    )
    .expect("the record is JSON");
    assert_eq!(
        (record["phase"].as_str(), record["weight"].as_u64()),
        (Some("failed"), Some(20)),
        "{record}"
    );
    assert_eq!(record["pending"]["change"], "rollback", "{record}");
    let reason = record["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("setting 0% did not finish within the cancel budget of 1s; it reads 20% on the new version now"),
        "{record}"
    );
    assert!(
        !dir.path().join("state.json.lock").exists(),
        "the lock was released"
    );

    std::fs::remove_file(&hang).expect("the router answers again");
    let rollback = Greenlight::on("rollback", &spec)
        .output()
        .expect("greenlight runs");
    let stderr = String::from_utf8_lossy(&rollback.stderr);
    assert_eq!(rollback.status.code(), Some(0), "{stderr}");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("weight"))
            .unwrap_or_default()
            .trim(),
        "0",
        "{stderr}"
    );
    let record: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("state.json")).unwrap_or_default(),
    )
    .expect("the record is JSON");
    assert_eq!(record["phase"], "rolled_back", "{record}");
}
