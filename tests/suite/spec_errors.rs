//! Bad input: one clear error naming file:line:column and the field, exit 1,
//! and nothing changed anywhere.

use assert_cmd::Command;
use predicates::str::contains;
use tempfile::TempDir;

const GOOD: &str = "\
apiVersion: greenlight.dev/v1alpha1
kind: Rollout
metadata:
  name: checkout
target:
  command:
    deploy: touch {{ marker }}
router:
  command:
    set: touch {{ marker }}
    get: echo 0
strategy:
  canary:
    steps:
      - weight: 10
        hold: 30s
      - weight: 50
        hold: 1m
analysis:
  metrics:
    - name: error-rate
      query:
        command: echo 0
      max: 0.05
";

struct Case {
    /// Text replaced in GOOD to break it.
    from: &'static str,
    to: &'static str,
    expected: &'static str,
}

fn greenlight() -> Command {
    Command::cargo_bin("greenlight").expect("the greenlight binary is built")
}

/// Writes the broken spec, runs `validate` and `run` on it, and checks both
/// print `expected` (prefixed by the file name) and change nothing.
fn assert_rejected(case: &Case) {
    assert!(
        GOOD.contains(case.from),
        "the case must change GOOD: {}",
        case.from
    );
    let dir = TempDir::new().unwrap();
    let spec = dir.path().join("greenlight.yaml");
    let marker = dir.path().join("touched");
    std::fs::write(&spec, GOOD.replacen(case.from, case.to, 1)).unwrap();
    let expected = format!("greenlight.yaml:{}", case.expected);
    for command in ["validate", "run"] {
        greenlight()
            .current_dir(dir.path())
            .args([
                command,
                "--version",
                "v2",
                "--stable-version",
                "v1",
                "--var",
            ])
            .arg(format!("marker={}", marker.display()))
            .assert()
            .code(1)
            .stderr(contains(expected.clone()));
        assert!(
            !marker.exists(),
            "`{command}` changed something on bad input"
        );
        assert!(
            !dir.path().join(".greenlight").exists(),
            "`{command}` wrote state on bad input"
        );
    }
}

#[test]
fn the_good_spec_is_valid() {
    let dir = TempDir::new().unwrap();
    std::fs::write(dir.path().join("greenlight.yaml"), GOOD).unwrap();
    greenlight()
        .current_dir(dir.path())
        .args(["validate", "--var", "marker=/dev/null"])
        .assert()
        .success()
        .stdout(contains(
            "greenlight.yaml is valid: canary `checkout` in 2 step(s)",
        ));
}

#[test]
fn malformed_yaml() {
    assert_rejected(&Case {
        from: "      - weight: 50\n",
        to: "      - weight: 50: x\n",
        expected: "17:19: invalid YAML: mapping values are not allowed in this context",
    });
}

#[test]
fn an_unknown_field() {
    assert_rejected(&Case {
        from: "        hold: 1m\n",
        to: "        hold: 1m\n        pause: true\n",
        expected: "19:9: strategy.canary.steps[1].pause: unknown field `pause`, expected one of `weight`, `hold`, `analysis`",
    });
}

#[test]
fn a_wrong_type() {
    assert_rejected(&Case {
        from: "      max: 0.05",
        to: "      max: low",
        expected: "24:12: analysis.metrics[0].max: invalid type: string \"low\", expected f64",
    });
}

#[test]
fn a_weight_outside_0_to_100() {
    assert_rejected(&Case {
        from: "weight: 50",
        to: "weight: 150",
        expected: "17:17: strategy.canary.steps[1].weight: weight must be between 0 and 100, got 150",
    });
}

#[test]
fn steps_that_do_not_increase() {
    assert_rejected(&Case {
        from: "weight: 50",
        to: "weight: 5",
        expected: "17:17: strategy.canary.steps[1].weight: weights must increase: step 2 has 5 after 10",
    });
}

#[test]
fn a_zero_duration() {
    assert_rejected(&Case {
        from: "hold: 30s",
        to: "hold: 0s",
        expected: "16:15: strategy.canary.steps[0].hold: `0s` is zero; this duration must be greater than zero",
    });
}

#[test]
fn a_negative_duration() {
    assert_rejected(&Case {
        from: "hold: 1m",
        to: "hold: -1m",
        expected: "18:15: strategy.canary.steps[1].hold: `-1m` is negative; durations must be positive",
    });
}

#[test]
fn analysis_on_with_no_metric() {
    assert_rejected(&Case {
        from: "  metrics:\n    - name: error-rate\n      query:\n        command: echo 0\n      max: 0.05\n",
        to: "  metrics: []\n",
        expected: "20:12: analysis.metrics: analysis is on but no metric is defined",
    });
}

#[test]
fn a_template_with_an_undefined_variable() {
    assert_rejected(&Case {
        from: "get: echo 0",
        to: "get: echo {{ wieght }}",
        expected: "11:10: router.command.get: template uses undefined variable `wieght`",
    });
}

#[test]
fn an_unknown_router_kind_is_reported_at_its_key() {
    assert_rejected(&Case {
        from: "router:\n  command:",
        to: "router:\n  nginx:",
        expected: "9:3: router.nginx: unknown variant `nginx`, expected one of `command`",
    });
}

#[test]
fn a_bad_set_flag_names_the_flag() {
    let dir = TempDir::new().unwrap();
    std::fs::write(dir.path().join("greenlight.yaml"), GOOD).unwrap();
    greenlight()
        .current_dir(dir.path())
        .args(["validate", "--var", "marker=x", "--set", "strategy.canary.steps.1.weight=500"])
        .assert()
        .code(1)
        .stderr(contains(
            "--set strategy.canary.steps.1.weight=500: strategy.canary.steps[1].weight: weight must be between 0 and 100, got 500",
        ));
}

#[test]
fn a_set_flag_overrides_a_field() {
    let dir = TempDir::new().unwrap();
    std::fs::write(dir.path().join("greenlight.yaml"), GOOD).unwrap();
    greenlight()
        .current_dir(dir.path())
        .args([
            "plan",
            "--version",
            "v2",
            "--stable-version",
            "v1",
            "--var",
            "marker=x",
        ])
        .args(["--set", "strategy.canary.steps.0.weight=25"])
        .assert()
        .success()
        .stdout(contains("step 1: send 25% to v2"));
}

#[test]
fn errors_carry_hints() {
    assert_rejected(&Case {
        from: "        hold: 1m\n",
        to: "        hold: 1m\n        pause: true\n",
        expected: "19:9: strategy.canary.steps[1].pause: unknown field `pause`, expected one of `weight`, `hold`, `analysis`\n  hint: check the spelling; `greenlight schema` lists every field",
    });
}
