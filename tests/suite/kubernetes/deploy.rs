//! `target: kubernetes` through the binary: server-side apply without taking
//! other managers' fields, waiting like `kubectl rollout status` on the new
//! ReplicaSet's pods, and failing fast only when a pod cannot recover.

use super::gateway_api::{route, routes};
use serde_json::json;

use super::{Cluster, DEPLOYMENTS, SERVICES, canary};
use crate::support::binary::Greenlight;
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
        .filter(|logged| logged.status == 200)
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
        Greenlight::new()
            .current_dir(cluster.dir.path())
            .env("KUBECONFIG", &path)
            .env("HOME", cluster.dir.path())
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

#[test]
fn a_few_crash_loop_restarts_are_waited_out_like_kubectl_does() {
    let cluster = cluster();
    // Two restarts (a dependency still starting), then ready.
    cluster.fake.deployment(
        "web-v2",
        Behaviour::Restarting {
            restarts: 2,
            reads: 3,
        },
    );
    let run = cluster.run();
    assert_eq!(run.code(), 0, "{}", run.stderr());
    assert_eq!(run.report["outcome"], "promoted");
}

#[test]
fn a_crash_loop_fails_fast_once_it_reaches_the_restarts_allowed() {
    let cluster = cluster();
    cluster.fake.deployment(
        "web-v2",
        Behaviour::Restarting {
            restarts: 2,
            reads: 1000,
        },
    );
    let spec = std::fs::read_to_string(cluster.dir.path().join("greenlight.yaml")).unwrap();
    std::fs::write(
        cluster.dir.path().join("greenlight.yaml"),
        spec.replace(
            "    timeout: 5s
",
            "    timeout: 5s
    crashLoopRestarts: 2
",
        ),
    )
    .unwrap();
    let run = cluster.run();
    assert_eq!(run.code(), 2, "{}", run.stderr());
    let report = run.report.to_string();
    assert!(
        report.contains("container app is CrashLoopBackOff after 2 restarts"),
        "{report}"
    );
}

#[test]
fn only_the_new_replica_sets_pods_matching_the_whole_selector_are_judged() {
    let cluster = cluster();
    // The manifest selects with an expression too.
    let manifests = cluster.dir.path().join("k8s/web.yaml");
    let text = std::fs::read_to_string(&manifests).unwrap();
    std::fs::write(
        &manifests,
        text.replace(
            "    matchLabels: {app: web, version: \"{{ version }}\"}\n",
            "    matchLabels: {app: web}\n    matchExpressions: [{key: version, operator: In, values: [\"{{ version }}\"]}]\n",
        ),
    )
    .unwrap();
    // A crash-looping pod of another app with the same `app` label, and an
    // old pod of web-v2 itself, are none of this rollout's business.
    for (name, labels) in [
        ("batch-1", json!({"app": "web", "version": "batch"})),
        (
            "web-v2-old-1",
            json!({"app": "web", "version": "v2", "pod-template-hash": "0ld"}),
        ),
    ] {
        cluster.fake.insert(
            "/api/v1/namespaces/shop/pods",
            json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": labels},
                   "status": {"containerStatuses": [{"name": "app", "restartCount": 9,
                       "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "exit 1"}}}]}}),
        );
    }
    let run = cluster.run();
    assert_eq!(run.code(), 0, "{}{}", run.stderr(), run.report);
    assert_eq!(run.report["outcome"], "promoted");
}

/// Deployment web-v2 exists already (an earlier attempt, or git), running `image`.
fn existing_v2(cluster: &Cluster, image: &str) {
    cluster.fake.insert(
        DEPLOYMENTS,
        json!({"apiVersion": "apps/v1", "kind": "Deployment",
               "metadata": {"name": "web-v2", "labels": {"app": "web", "version": "v2"}},
               "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web", "version": "v2"}},
                        "template": {"metadata": {"labels": {"app": "web", "version": "v2"}},
                                     "spec": {"containers": [{"name": "app", "image": image}]}}}}),
    );
}

#[test]
fn the_target_leaves_an_autoscalers_replicas_alone() {
    let cluster = cluster();
    // web-v2 exists from an earlier attempt, and an HPA scaled it to 5.
    existing_v2(&cluster, "registry.example/web:v2");
    cluster.fake.autoscale("web-v2", 5);
    let run = cluster.run();
    assert_eq!(run.code(), 0, "{}", run.stderr());
    assert_eq!(cluster.object(DEPLOYMENTS, "web-v2")["spec"]["replicas"], 5);
    assert!(
        run.stderr().contains(
            "spec.replicas is owned by `kube-controller-manager` through /scale (an autoscaler, or someone scaling by hand); greenlight leaves it at 5"
        ),
        "{}",
        run.stderr()
    );
}

#[test]
fn a_field_applied_by_argo_cd_is_a_conflict_naming_it_not_taken_silently() {
    let cluster = cluster();
    existing_v2(&cluster, "registry.example/web:git");
    cluster.fake.applied_by(
        DEPLOYMENTS,
        "web-v2",
        "argocd-controller",
        json!({"f:spec": {"f:template": {"f:spec": {"f:containers": {}}}}}),
    );
    let run = cluster.run();
    assert_ne!(run.code(), 0, "{}", run.stderr());
    let said = format!("{}{}", run.stderr(), run.report);
    assert!(
        said.contains(r#"conflict with \"argocd-controller\": .spec.template.spec.containers"#)
            || said
                .contains(r#"conflict with "argocd-controller": .spec.template.spec.containers"#),
        "{said}"
    );
    assert!(said.contains("target.kubernetes.force: true"), "{said}");
    assert!(said.contains("Argo CD"), "{said}");
    // Nothing was taken over: every apply of it was refused.
    let applies = cluster.statuses("PATCH", "/deployments/web-v2");
    assert_eq!(applies, vec![409]);
}
