//! The crash matrix: the real binary with the command router and the file
//! store, `kill -9` at each phase of a rollout (a runner that dies), then the
//! same command again. Every case must end `promoted` or `rolled_back` with no
//! person touching a file, never with traffic back on a version that failed a
//! gate, and never with the record lost.

use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::Value;
use tempfile::TempDir;

use crate::support::binary::Greenlight;

/// A canary whose every command can kill greenlight (`kill -9 $PPID`: the
/// command's shell is greenlight's child) once, when `kill-<point>` exists.
fn spec(dir: &Path) -> PathBuf {
    let d = dir.display();
    let kill = |point: &str| kill_once(dir, point);
    let spec = format!(
        "apiVersion: greenlight.dev/v1alpha1
kind: Rollout
metadata:
  name: checkout
target:
  command:
    deploy: echo deploy $GREENLIGHT_VERSION >> {d}/log; {deploy}
    retire: echo retire $GREENLIGHT_VERSION >> {d}/log; {retire}
router:
  command:
    set: echo $GREENLIGHT_WEIGHT > {d}/weight; echo $GREENLIGHT_WEIGHT >> {d}/history; {set}
    get: cat {d}/weight
{canary}",
        deploy = kill("deploy"),
        retire = kill("retire"),
        set = kill("set-$GREENLIGHT_WEIGHT"),
        canary = gated_canary(dir, ("600ms", "200ms")),
    );
    std::fs::write(dir.join("weight"), "0\n").expect("write the weight");
    let path = dir.join("greenlight.yaml");
    std::fs::write(&path, spec).expect("write the spec");
    path
}

/// A command that kills greenlight (`kill -9 $PPID`: the command's shell is
/// greenlight's child) once, when `kill-<point>` exists in `dir`.
pub(crate) fn kill_once(dir: &Path, point: &str) -> String {
    let d = dir.display();
    format!("if [ -f {d}/kill-{point} ]; then rm {d}/kill-{point}; kill -9 $PPID; fi")
}

/// The spec's two-step canary (20%, 60%), each step held `hold`, gated on the
/// error rate in `dir/error-rate` measured every `interval` by a command that
/// can kill greenlight (`kill-measure`), with the record in `dir/state.json`.
pub(crate) fn gated_canary(dir: &Path, (hold, interval): (&str, &str)) -> String {
    let d = dir.display();
    let measure = kill_once(dir, "measure");
    format!(
        "strategy:
  canary:
    steps:
      - {{weight: 20, hold: {hold}}}
      - {{weight: 60, hold: {hold}}}
analysis:
  interval: {interval}
  metrics:
    - name: error-rate
      query: {{command: '{measure}; cat {d}/error-rate'}}
      max: 0.05
state:
  file: {d}/state.json
"
    )
}

fn run(spec: &Path) -> Output {
    Greenlight::on("run", spec)
        .args(["--version", "v2", "--stable-version", "v1"])
        .output()
        .expect("greenlight runs")
}

fn read(dir: &Path, file: &str) -> String {
    std::fs::read_to_string(dir.join(file)).unwrap_or_default()
}

struct Case {
    name: &'static str,
    kill_at: &'static str,
    error_rate: &'static str,
    /// The outcome the re-run must reach, and its exit code.
    ends: (&'static str, i32),
}

/// A healthy new version, killed at `kill_at`: the re-run promotes it.
const fn promoted(name: &'static str, kill_at: &'static str) -> Case {
    Case {
        name,
        kill_at,
        error_rate: "0",
        ends: ("promoted", 0),
    }
}

/// A new version that fails its gate, killed at `kill_at` during the
/// rollback: the re-run finishes the rollback.
const fn rolled_back(name: &'static str, kill_at: &'static str) -> Case {
    Case {
        name,
        kill_at,
        error_rate: "0.5",
        ends: ("rolled_back", 2),
    }
}

const CASES: [Case; 8] = [
    promoted("after deploy", "deploy"),
    promoted("after setting step 1 (20%)", "set-20"),
    promoted("during the analysis hold", "measure"),
    promoted("after setting step 2 (60%)", "set-60"),
    promoted("during promotion (100%)", "set-100"),
    promoted("during retire of the old version", "retire"),
    rolled_back("during rollback (gate failed, 0% set)", "set-0"),
    rolled_back("during rollback's removal of the new version", "retire"),
];

/// The re-run `again` of a case ended as `ends` (outcome, exit code), kept
/// its record and released the lock: the record and stderr, for more checks.
pub fn converged(dir: &Path, case: &str, again: &Output, ends: (&str, i32)) -> (Value, String) {
    let stderr = String::from_utf8_lossy(&again.stderr).into_owned();
    let record: Value = serde_json::from_str(&read(dir, "state.json"))
        .unwrap_or_else(|error| panic!("{case}: the record is lost: {error}"));
    let (outcome, code) = ends;
    assert_eq!(
        (record["phase"].as_str(), again.status.code()),
        (Some(outcome), Some(code)),
        "{case}: {stderr}\nrecord: {record}"
    );
    assert!(
        !dir.join("state.json.lock").exists(),
        "{case}: the lock was released"
    );
    (record, stderr)
}

#[test]
fn a_rollout_killed_at_any_phase_converges_when_run_again() {
    let mut table = vec!["| kill -9 | first run | re-run | traffic after |".to_owned()];
    for case in CASES {
        let dir = TempDir::new().expect("temp dir");
        let spec = spec(dir.path());
        std::fs::write(dir.path().join("error-rate"), case.error_rate).expect("error rate");
        std::fs::write(dir.path().join(format!("kill-{}", case.kill_at)), "").expect("trigger");

        let first = run(&spec);
        assert_eq!(
            first.status.code(),
            None,
            "{}: greenlight was not killed: {}",
            case.name,
            String::from_utf8_lossy(&first.stderr)
        );
        let history = read(dir.path(), "history");
        let history_at_kill = history.lines().count();
        let weight_at_kill: u8 = history
            .lines()
            .last()
            .and_then(|line| line.parse().ok())
            .unwrap_or(0);

        let again = run(&spec);
        let (outcome, code) = case.ends;
        let (record, stderr) = converged(dir.path(), case.name, &again, case.ends);
        let weight = read(dir.path(), "weight").trim().to_owned();
        let log = read(dir.path(), "log");
        let after: Vec<u8> = read(dir.path(), "history")
            .lines()
            .skip(history_at_kill)
            .filter_map(|line| line.parse().ok())
            .collect();
        if case.kill_at != "deploy" {
            assert!(
                stderr.contains("resumed an interrupted rollout"),
                "{}: the re-run does not say it resumed:\n{stderr}",
                case.name
            );
        }
        if outcome == "promoted" {
            // No step below the weight the crash left is repeated.
            assert!(
                after.iter().all(|weight| *weight >= weight_at_kill) && after.is_sorted(),
                "{}: weights set after the crash at {weight_at_kill}%: {after:?}",
                case.name
            );
            assert_eq!(weight, "100", "{}", case.name);
            assert!(log.ends_with("retire v1\n"), "{}: {log}", case.name);
            assert_eq!(record["stableVersion"], "v2", "{}", case.name);
        } else {
            assert_eq!(weight, "0", "{}", case.name);
            assert!(log.contains("retire v2"), "{}: {log}", case.name);
            // The version that failed its gate never got traffic again.
            assert!(
                after.iter().all(|weight| *weight == 0),
                "{}: weights set after the crash: {after:?}",
                case.name
            );
        }
        table.push(format!(
            "| {} | killed | {outcome}, exit {code} | {weight}% on v2 |",
            case.name
        ));
    }
    eprintln!("{}", table.join("\n"));
}

#[test]
fn a_run_for_the_version_already_promoted_does_nothing() {
    let dir = TempDir::new().expect("temp dir");
    let spec = spec(dir.path());
    std::fs::write(dir.path().join("error-rate"), "0").expect("error rate");
    assert_eq!(run(&spec).status.code(), Some(0));
    let log = read(dir.path(), "log");
    let history = read(dir.path(), "history");

    for args in [
        vec!["--version", "v2"],
        vec!["--version", "v2", "--stable-version", "v1"],
    ] {
        let again = Greenlight::on("run", &spec)
            .args(&args)
            .output()
            .expect("greenlight runs");
        assert_eq!(again.status.code(), Some(0), "{args:?}");
        assert!(
            String::from_utf8_lossy(&again.stderr).contains("v2 is already stable"),
            "{}",
            String::from_utf8_lossy(&again.stderr)
        );
        assert_eq!(read(dir.path(), "log"), log, "nothing deployed or removed");
        assert_eq!(read(dir.path(), "history"), history, "no traffic moved");
    }
}

#[test]
fn a_new_version_supersedes_an_interrupted_rollout_only_when_asked() {
    let dir = TempDir::new().expect("temp dir");
    let spec = crate::support::file_driven_spec(dir.path());
    std::fs::write(dir.path().join("error-rate"), "0").expect("error rate");
    // v2's job died at 20% (its lock is gone with it).
    std::fs::write(
        dir.path().join("state.json"),
        r#"{"name":"checkout","stableVersion":"v1","newVersion":"v2","phase":"in_progress","weight":20,"updatedAt":"2026-01-01T00:00:00.000Z"}"#,
    )
    .expect("write the record");
    std::fs::write(dir.path().join("weight"), "20\n").expect("write the weight");
    let v3 = |extra: &[&str]| {
        Greenlight::on("run", &spec)
            .args(["--version", "v3"])
            .args(extra)
            .output()
            .expect("greenlight runs")
    };
    let refused = v3(&[]);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("a rollout of checkout to v2 is already in progress")
            && stderr.contains("--supersede to roll v2 back first"),
        "{stderr}"
    );
    assert_eq!(read(dir.path(), "log"), "", "nothing deployed");
    assert_eq!(read(dir.path(), "weight").trim(), "20");

    let superseded = v3(&["--supersede"]);
    let stderr = String::from_utf8_lossy(&superseded.stderr);
    assert_eq!(superseded.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("--supersede: rolling v2 back first"),
        "{stderr}"
    );
    // v2 went back to 0% and was removed before v3 was deployed.
    assert_eq!(read(dir.path(), "log"), "retire v2\ndeploy v3\nretire v1\n");
    assert_eq!(read(dir.path(), "weight").trim(), "100");
    let record: Value = serde_json::from_str(&read(dir.path(), "state.json")).expect("record");
    assert_eq!(
        (record["phase"].as_str(), record["stableVersion"].as_str()),
        (Some("promoted"), Some("v3")),
        "{record}"
    );
}
