//! Bad input: one clear error naming file:line:column and the field, exit 1,
//! and nothing changed anywhere.

use assert_cmd::prelude::*;
use predicates::str::contains;
use tempfile::TempDir;

use crate::support::binary::Greenlight;

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

fn greenlight() -> Greenlight {
    Greenlight::new()
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
fn pools_that_are_not_two_different_names() {
    for (to, expected) in [
        (
            "name: checkout\npools: [blue]",
            "5:8: pools: `pools` names two pools",
        ),
        (
            "name: checkout\npools: [blue, blue]",
            "5:15: pools[1]: both pools are `blue`",
        ),
        (
            "name: checkout\npools: [blue, 'a/b']",
            "5:15: pools[1]: `a/b` is not a pool name",
        ),
    ] {
        assert_rejected(&Case {
            from: "name: checkout",
            to,
            expected,
        });
    }
}

#[test]
fn a_pool_in_a_template_without_pools_says_how_to_name_them() {
    assert_rejected(&Case {
        from: "get: echo 0",
        to: "get: echo {{ pool.new }}",
        expected: "11:10: router.command.get: template uses undefined variable `pool`",
    });
    let dir = TempDir::new().unwrap();
    let spec = dir.path().join("greenlight.yaml");
    std::fs::write(
        &spec,
        GOOD.replace("get: echo 0", "get: echo {{ pool.new }}"),
    )
    .unwrap();
    Greenlight::on("validate", &spec)
        .args(["--var", "marker=touched"])
        .assert()
        .code(1)
        .stderr(contains("e.g. `pools: [blue, green]`"));
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

const COMMAND_ROUTER: &str = "router:\n  command:\n    set: touch {{ marker }}\n    get: echo 0\n";

fn haproxy_router(servers: &str) -> String {
    format!("router:\n  haproxy:\n    socket: /run/haproxy/admin.sock\n    backend: app\n{servers}")
}

#[test]
fn an_haproxy_server_listed_on_both_sides() {
    let to = haproxy_router("    stableServers: [blue1]\n    newServers: [green1, blue1]\n");
    assert_rejected(&Case {
        from: COMMAND_ROUTER,
        to: Box::leak(to.into_boxed_str()),
        expected: "13:26: router.haproxy.newServers[1]: server blue1 is listed twice (a server is either stable or new)",
    });
}

#[test]
fn an_haproxy_socket_that_is_no_address() {
    let to = haproxy_router("    stableServers: [blue1]\n    newServers: [green1]\n")
        .replace("/run/haproxy/admin.sock", "'tcp:lb'");
    assert_rejected(&Case {
        from: COMMAND_ROUTER,
        to: Box::leak(to.into_boxed_str()),
        expected: "10:13: router.haproxy.socket: `tcp:lb` is not a runtime API address",
    });
}

#[test]
fn an_haproxy_weight_per_side_out_of_range() {
    let to = haproxy_router(
        "    stableServers: [blue1]\n    newServers: [green1]\n    weightPerSide: 50\n",
    );
    assert_rejected(&Case {
        from: COMMAND_ROUTER,
        to: Box::leak(to.into_boxed_str()),
        expected: "14:20: router.haproxy.weightPerSide: must be between 100 and 256, got 50",
    });
}

#[test]
fn a_prometheus_query_without_a_prometheus_server() {
    assert_rejected(&Case {
        from: "        command: echo 0\n",
        to: "        prometheus: sum(rate(x[1m]))\n",
        expected: "23:21: analysis.metrics[0].query.prometheus: a prometheus query needs `analysis.prometheus`, the server to ask",
    });
}

#[test]
fn prometheus_auth_with_both_kinds() {
    assert_rejected(&Case {
        from: "analysis:\n",
        to: "analysis:\n  prometheus:\n    address: http://prom:9090\n    auth:\n      bearerTokenEnv: TOKEN\n      basic: {usernameEnv: U, passwordEnv: P}\n",
        expected: "24:15: analysis.prometheus.auth.basic: give either `bearerTokenEnv` or `basic`, not both",
    });
}

#[test]
fn an_http_query_with_a_relative_pointer() {
    assert_rejected(&Case {
        from: "        command: echo 0\n",
        to: "        http: {url: 'http://status/x', pointer: data/0}\n",
        expected: "23:49: analysis.metrics[0].query.http.pointer: JSON pointer \"data/0\" must be empty or start with `/`",
    });
}

#[test]
fn a_wait_gate_defined_twice() {
    assert_rejected(&Case {
        from: "      max: 0.05\n",
        to: "      max: 0.05\n  beforeRetire:\n    - {name: jobs, query: {command: echo 0}, max: 0}\n    - {name: jobs, query: {command: echo 0}, max: 0}\n",
        expected: "27:14: analysis.beforeRetire[1].name: wait gate `jobs` is defined twice",
    });
}

#[test]
fn a_comparison_on_a_query_that_does_not_count_each_version() {
    assert_rejected(&Case {
        from: "      max: 0.05\n",
        to: "      compare: stable\n",
        expected: "23:9: analysis.metrics[0].query: metric `error-rate` compares with stable but its query does not count each version",
    });
}

#[test]
fn comparison_fields_on_a_threshold_gate() {
    assert_rejected(&Case {
        from: "      max: 0.05\n",
        to: "      max: 0.05\n      maxIncrease: 50%\n",
        expected: "25:20: analysis.metrics[0].maxIncrease: `maxIncrease` only applies to a comparison gate",
    });
    assert_rejected(&Case {
        from: "      max: 0.05\n",
        to: "      max: 0.05\n      minRequests: 100\n",
        expected: "25:20: analysis.metrics[0].minRequests: `minRequests` needs a query that counts requests",
    });
}

#[test]
fn a_margin_that_is_no_percentage() {
    assert_rejected(&Case {
        from: "      max: 0.05\n",
        to: "      compare: stable\n      maxIncrease: lots\n",
        expected: "25:20: analysis.metrics[0].maxIncrease: `lots` is not a margin; write a percentage like `50%`",
    });
}

#[test]
fn a_webhook_url_in_place_of_its_variable_is_refused_without_echoing_it() {
    use predicates::prelude::PredicateBooleanExt;
    let case = Case {
        from: "analysis:\n",
        to: "report:\n  webhook: {urlEnv: 'https://hooks.slack.com/services/T0/B0/secret', format: slack}\nanalysis:\n",
        expected: "20:21: report.webhook.urlEnv: name the environment variable that holds the webhook URL (letters, digits and `_`), not the URL itself",
    };
    assert_rejected(&case);
    let dir = TempDir::new().unwrap();
    std::fs::write(
        dir.path().join("greenlight.yaml"),
        GOOD.replacen(case.from, case.to, 1),
    )
    .unwrap();
    greenlight()
        .current_dir(dir.path())
        .args(["validate", "--var", "marker=/dev/null"])
        .assert()
        .code(1)
        .stderr(contains("services/T0/B0/secret").not());
}

#[test]
fn a_migration_needs_a_target_and_router_that_know_single_tasks() {
    assert_rejected(&Case {
        from: "strategy:\n  canary:\n    steps:\n      - weight: 10\n        hold: 30s\n      - weight: 50\n        hold: 1m\n",
        to: "strategy:\n  migrate:\n    batchSize: 1\n",
        expected: "14:5: strategy.migrate: a migration kills the old version's tasks one batch at a time: it needs `target: marathon`",
    });
}
