//! `target: kubernetes` through the binary: server-side apply, waiting like
//! `kubectl rollout status`, and failing fast with the pod's reason.

use super::gateway_api::{route, routes};
use super::{Cluster, DEPLOYMENTS, SERVICES, canary};
use crate::support::kube_api::{Behaviour, TOKEN};

const ROUTER: &str = "  gatewayApi:\n    route: web\n    stableService: 'web-{{ stable_version }}'\n    newService: 'web-{{ version }}'";

fn cluster() -> Cluster {
    let cluster = Cluster::new();
    cluster.fake.insert(&routes(), route());
    cluster.spec(ROUTER, &canary(0.1));
    cluster
}

#[test]
fn applies_rendered_manifests_server_side_as_greenlight() {
    let cluster = cluster();
    let run = cluster.run();
    assert_eq!(run.code(), 0, "{}", run.stderr());
    let deployment = cluster.object(DEPLOYMENTS, "web-v2");
    assert_eq!(
        deployment["spec"]["template"]["spec"]["containers"][0]["image"],
        "registry.example/web:v2"
    );
    assert_eq!(
        deployment["metadata"]["managedFields"][0]["manager"],
        "greenlight"
    );
    assert_eq!(
        cluster.object(SERVICES, "web-v2")["spec"]["selector"]["version"],
        "v2"
    );
    let applies = cluster
        .fake
        .requests()
        .into_iter()
        .filter(|logged| {
            logged.method == "PATCH" && logged.content_type.starts_with("application/apply-patch")
        })
        .count();
    assert_eq!(applies, 2);
}

#[test]
fn waits_for_the_deployment_to_become_available() {
    let cluster = cluster();
    cluster.fake.deployment("web-v2", Behaviour::ReadyAfter(3));
    let run = cluster.run();
    assert_eq!(run.code(), 0, "{}", run.stderr());
    let reads = cluster
        .fake
        .requests()
        .into_iter()
        .filter(|logged| logged.method == "GET" && logged.path.ends_with("/deployments/web-v2"))
        .count();
    assert_eq!(reads, 4, "three reads still waiting, the fourth ready");
}

#[test]
fn a_deployment_that_never_becomes_ready_is_rolled_back_with_the_pods_reason() {
    let cluster = cluster();
    cluster.fake.deployment(
        "web-v2",
        Behaviour::Stuck {
            reason: "ImagePullBackOff".into(),
            message: "Back-off pulling image \"registry.example/web:v2\"".into(),
        },
    );
    let run = cluster.run();
    assert_eq!(run.code(), 2, "{}", run.stderr());
    assert_eq!(run.report["outcome"], "rolled_back");
    let report = run.report.to_string();
    assert!(
        report.contains("container app is ImagePullBackOff"),
        "{report}"
    );
    assert!(report.contains("web-v2-7d9f8-x2x4q"), "{report}");
    // No traffic ever went to it, and it is removed.
    assert!(
        run.weights().iter().all(|weight| *weight == 0),
        "{:?}",
        run.weights()
    );
    assert!(cluster.fake.object(DEPLOYMENTS, "web-v2").is_none());
    run.assert_no_token();
}

#[test]
fn the_context_named_in_the_spec_is_used_instead_of_the_current_one() {
    let cluster = cluster();
    // The current context points nowhere; only context `fake` reaches the fake.
    let path = cluster.dir.path().join("two-contexts");
    std::fs::write(
        &path,
        format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: nowhere\nclusters:\n- name: nowhere\n  cluster: {{server: 'http://127.0.0.1:1'}}\n- name: fake\n  cluster: {{server: '{}'}}\ncontexts:\n- name: nowhere\n  context: {{cluster: nowhere, user: ci}}\n- name: fake\n  context: {{cluster: fake, user: ci, namespace: shop}}\nusers:\n- name: ci\n  user: {{token: {TOKEN}}}\n",
            cluster.fake.server()
        ),
    )
    .unwrap();
    let run = |contexts: &[&str]| {
        assert_cmd::Command::cargo_bin("greenlight")
            .unwrap()
            .current_dir(cluster.dir.path())
            .env("KUBECONFIG", &path)
            .env("HOME", cluster.dir.path())
            .env_remove("GITHUB_ACTIONS")
            .args([
                "run",
                "-f",
                "greenlight.yaml",
                "--version",
                "v2",
                "--stable-version",
                "v1",
            ])
            .args(contexts)
            .output()
            .unwrap()
    };
    assert!(
        !run(&[]).status.success(),
        "the current context must not reach the fake"
    );
    assert!(cluster.fake.requests().is_empty());
    let output = run(&[
        "--set",
        "target.kubernetes.context=fake",
        "--set",
        "router.gatewayApi.context=fake",
    ]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(cluster.fake.object(DEPLOYMENTS, "web-v2").is_some());
}
