//! `promote`, `rollback`, `abort` and `status`: what a person runs by hand
//! (a `workflow_dispatch` job), through the real binary.

use std::path::Path;

use assert_cmd::prelude::*;
use predicates::str::contains;
use tempfile::TempDir;

use crate::support::binary::Greenlight;
use crate::support::file_driven_spec;
use crate::support::snapshot::masked;

fn greenlight(dir: &Path, args: &[&str]) -> assert_cmd::assert::Assert {
    let spec = file_driven_spec(dir);
    Greenlight::on(args[0], spec).args(&args[1..]).assert()
}

fn record(dir: &Path, phase: &str, weight: u8, holder: Option<&str>) {
    let holder = holder
        .map(|holder| format!(r#","holder":"{holder}""#))
        .unwrap_or_default();
    std::fs::write(
        dir.join("state.json"),
        format!(
            r#"{{"name":"checkout","stableVersion":"v1","newVersion":"v2","phase":"{phase}","weight":{weight}{holder},"updatedAt":"2026-01-01T00:00:00.000Z"}}"#
        ),
    )
    .unwrap();
    std::fs::write(dir.join("weight"), format!("{weight}\n")).unwrap();
}

fn read(dir: &Path, file: &str) -> String {
    std::fs::read_to_string(dir.join(file)).unwrap_or_default()
}

fn state(dir: &Path) -> serde_json::Value {
    serde_json::from_str(&read(dir, "state.json")).expect("the state record is JSON")
}

#[test]
fn promote_finishes_a_halted_rollout_at_once() {
    let dir = TempDir::new().unwrap();
    record(dir.path(), "halted", 20, None);
    let report = dir.path().join("report.json");
    greenlight(
        dir.path(),
        &["promote", "--report", report.to_str().unwrap()],
    )
    .code(0)
    .stderr(contains("v2 promoted by hand; v1 retired"));
    assert_eq!(read(dir.path(), "weight").trim(), "100");
    assert_eq!(read(dir.path(), "log"), "retire v1\n");
    let state = state(dir.path());
    assert_eq!(
        (state["phase"].as_str(), state["stableVersion"].as_str()),
        (Some("promoted"), Some("v2"))
    );
    let report: serde_json::Value = serde_json::from_str(&read(dir.path(), "report.json")).unwrap();
    assert_eq!(report["outcome"], "promoted");
}

#[test]
fn rollback_needs_force_to_take_over_a_running_job() {
    let dir = TempDir::new().unwrap();
    record(
        dir.path(),
        "in_progress",
        60,
        Some("https://ci.example/run/7"),
    );
    crate::lock::hold_lock(dir.path(), "ci-runner-7", 4242, std::time::Duration::ZERO);
    greenlight(dir.path(), &["rollback"])
        .code(3)
        .stderr(contains("held by ci-runner-7:4242 until"));
    assert_eq!(
        read(dir.path(), "weight").trim(),
        "60",
        "nothing changed without --force"
    );

    greenlight(dir.path(), &["rollback", "--force"])
        .code(0)
        .stderr(contains("all traffic is on v1; v2 removed"));
    assert_eq!(read(dir.path(), "weight").trim(), "0");
    assert_eq!(read(dir.path(), "log"), "retire v2\n");
    assert_eq!(state(dir.path())["phase"], "rolled_back");
}

#[test]
fn rollback_to_an_earlier_version_after_promotion() {
    let dir = TempDir::new().unwrap();
    record(dir.path(), "promoted", 0, None);
    greenlight(dir.path(), &["rollback", "--version", "v0"])
        .code(0)
        .stderr(contains("rolled back by hand from v1 to v0"));
    assert_eq!(read(dir.path(), "weight").trim(), "100");
    assert_eq!(read(dir.path(), "log"), "deploy v0\nretire v1\n");
    assert_eq!(state(dir.path())["stableVersion"], "v0");
}

#[test]
fn abort_puts_traffic_back_and_leaves_the_new_version_running() {
    let dir = TempDir::new().unwrap();
    record(dir.path(), "halted", 20, None);
    greenlight(dir.path(), &["abort"])
        .code(0)
        .stderr(contains("v2 is left running"));
    assert_eq!(read(dir.path(), "weight").trim(), "0");
    assert_eq!(read(dir.path(), "log"), "", "nothing removed");
    assert_eq!(state(dir.path())["phase"], "aborted");
}

#[test]
fn status_shows_the_record_and_the_live_weight_and_changes_nothing() {
    let dir = TempDir::new().unwrap();
    record(dir.path(), "halted", 20, None);
    let before = read(dir.path(), "state.json");
    let assert = greenlight(dir.path(), &["status"]).code(0);
    let stdout = String::from_utf8_lossy(&assert.get_output().stdout).into_owned();
    masked(&[dir.path()]).bind(|| insta::assert_snapshot!("status_halted", stdout));
    assert_eq!(read(dir.path(), "state.json"), before);
}

#[test]
fn with_nothing_in_progress_promote_says_what_to_pass_and_rollback_where_traffic_is() {
    let dir = TempDir::new().unwrap();
    record(dir.path(), "promoted", 0, None);
    greenlight(dir.path(), &["promote"])
        .code(1)
        .stderr(contains(
            "nothing to promote: no rollout of this service is in progress (stable version v1)",
        ));
    for args in [&["rollback"][..], &["rollback", "--version", "v1"]] {
        greenlight(dir.path(), args)
            .code(0)
            .stderr(contains("nothing to roll back: no rollout is in progress"))
            .stderr(contains("says v1 is stable (promoted"))
            .stderr(contains(
                "router: command router sends 0% to the new side: v1 serves all traffic",
            ))
            .stderr(contains(
                "`greenlight rollback --version <earlier version>` would deploy that version beside v1, switch all traffic to it at once",
            ));
    }
    assert_eq!(read(dir.path(), "log"), "", "nothing deployed or removed");
    assert_eq!(read(dir.path(), "weight").trim(), "0");
}

#[test]
fn a_command_halts_when_the_router_disagrees_with_the_record() {
    let dir = TempDir::new().unwrap();
    // Stopped at 20%, but someone moved the router to 60%.
    record(dir.path(), "halted", 20, None);
    std::fs::write(dir.path().join("weight"), "60\n").unwrap();
    for command in ["promote", "rollback", "abort"] {
        greenlight(dir.path(), &[command])
            .code(3)
            .stderr(contains("the router and the state record disagree"))
            .stderr(contains("router: command router sends 60% of traffic to v2"))
            .stderr(contains("says the rollout of v2 (halted, updated 2026-01-01T00:00:00.000Z) has 20% on v2, and v1 serves the rest"))
            .stderr(contains("set it back to 20% on v2 and run this command again"));
    }
    // Nothing in progress, but the router sends traffic to the other side.
    record(dir.path(), "promoted", 0, None);
    std::fs::write(dir.path().join("weight"), "50\n").unwrap();
    greenlight(dir.path(), &["rollback", "--version", "v0"])
        .code(3)
        .stderr(contains("command router sends 50% of traffic"))
        .stderr(contains("says v1 is stable and nothing is in progress"));
    assert_eq!(read(dir.path(), "weight").trim(), "50", "nothing changed");
    assert_eq!(read(dir.path(), "log"), "", "nothing deployed or removed");
}

#[test]
fn a_version_being_retired_is_never_a_rollback_target() {
    let dir = TempDir::new().unwrap();
    // v2 took all traffic and v1 was being removed when the job died.
    std::fs::write(
        dir.path().join("state.json"),
        r#"{"name":"checkout","stableVersion":"v1","newVersion":"v2","phase":"in_progress","weight":100,"updatedAt":"2026-01-01T00:00:00.000Z","pending":{"change":"retire","version":"v1"}}"#,
    )
    .unwrap();
    std::fs::write(dir.path().join("weight"), "100\n").unwrap();
    for args in [
        &["rollback"][..],
        &["rollback", "--version", "v1"],
        &["rollback", "--version", "v0"],
    ] {
        greenlight(dir.path(), args)
            .code(3)
            .stderr(contains("will not roll back to v1: it was being retired"))
            .stderr(contains("v2 serves 100% now"))
            .stderr(contains("Run `greenlight promote` to finish the release"));
    }
    assert_eq!(read(dir.path(), "weight").trim(), "100", "v2 keeps serving");
    assert_eq!(read(dir.path(), "log"), "", "nothing deployed or removed");
    // What the refusal says to do works.
    greenlight(dir.path(), &["promote"]).code(0);
    assert_eq!(read(dir.path(), "log"), "retire v1\n");
    assert_eq!(
        (
            state(dir.path())["phase"].as_str(),
            state(dir.path())["stableVersion"].as_str()
        ),
        (Some("promoted"), Some("v2"))
    );
}

#[test]
fn an_unverified_change_is_a_failure_with_exit_1() {
    let dir = TempDir::new().unwrap();
    record(dir.path(), "halted", 20, None);
    // The router's `get` reads this file; make it unwritable so `set` fails.
    std::fs::remove_file(dir.path().join("weight")).unwrap();
    std::fs::create_dir(dir.path().join("weight")).unwrap();
    let report = dir.path().join("report.json");
    greenlight(
        dir.path(),
        &["promote", "--report", report.to_str().unwrap()],
    )
    .code(1)
    .stderr(contains("setting 100%"));
    let report: serde_json::Value = serde_json::from_str(&read(dir.path(), "report.json")).unwrap();
    assert_eq!(report["outcome"], "failed");
    assert_eq!(state(dir.path())["phase"], "failed");
}

#[test]
fn rollback_to_the_stable_version_undoes_the_pending_rollout() {
    let dir = TempDir::new().unwrap();
    record(dir.path(), "halted", 20, None);
    greenlight(dir.path(), &["rollback", "--version", "v1"])
        .code(0)
        .stderr(contains("all traffic is on v1; v2 removed"));
    assert_eq!(read(dir.path(), "weight").trim(), "0");
    assert_eq!(read(dir.path(), "log"), "retire v2\n", "v1 keeps serving");
}

#[test]
fn a_rolled_back_version_is_not_promoted_again() {
    let dir = TempDir::new().unwrap();
    record(dir.path(), "rolled_back", 0, None);
    greenlight(dir.path(), &["promote"])
        .code(1)
        .stderr(contains("nothing to promote"));
    assert_eq!(read(dir.path(), "weight").trim(), "0");
}

/// What a person sees on the console when promoting by hand: the same event
/// lines as `run`, then the outcome. Clock times and paths are masked.
#[test]
fn the_console_output_of_promote() {
    let dir = TempDir::new().unwrap();
    record(dir.path(), "halted", 20, None);
    let assert = greenlight(dir.path(), &["promote"]).code(0);
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).into_owned();
    masked(&[dir.path()]).bind(|| insta::assert_snapshot!("promote_console", stderr));
}
