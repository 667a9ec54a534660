//! When a Deployment is ready, the way `kubectl rollout status` decides it
//! (kubectl's DeploymentStatusViewer), plus the two pod states that will not
//! get better on their own, so they fail in seconds rather than at the
//! progress deadline: an image that cannot be pulled, and a container that
//! keeps crashing after a number of restarts. Anything else (a missing
//! ConfigMap, a slow start, a crash or two) is left to the progress
//! deadline, as kubectl leaves it.

use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rollout {
    Ready,
    /// Still progressing: what it waits for.
    Waiting(String),
    /// It will not become ready: why.
    Failed(String),
}

fn int(object: &Value, pointer: &str) -> i64 {
    object.pointer(pointer).and_then(Value::as_i64).unwrap_or(0)
}

/// The Deployment's own verdict (kubectl's logic, condition for condition).
pub fn deployment(deployment: &Value) -> Rollout {
    let name = deployment
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("?");
    if int(deployment, "/metadata/generation") > int(deployment, "/status/observedGeneration") {
        return Rollout::Waiting(format!(
            "deployment {name}: waiting for the spec update to be observed"
        ));
    }
    let conditions = deployment
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let progressing = conditions
        .iter()
        .find(|condition| condition.get("type").and_then(Value::as_str) == Some("Progressing"));
    if let Some(condition) = progressing
        && condition.get("reason").and_then(Value::as_str) == Some("ProgressDeadlineExceeded")
    {
        let message = condition
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or_default();
        return Rollout::Failed(format!(
            "deployment {name} exceeded its progress deadline (ProgressDeadlineExceeded): {message}"
        ));
    }
    // `spec.replicas` defaults to 1 when absent.
    let wanted = deployment
        .pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .unwrap_or(1);
    let updated = int(deployment, "/status/updatedReplicas");
    let replicas = int(deployment, "/status/replicas");
    let available = int(deployment, "/status/availableReplicas");
    if updated < wanted {
        Rollout::Waiting(format!(
            "deployment {name}: {updated} of {wanted} new replicas have been updated"
        ))
    } else if replicas > updated {
        Rollout::Waiting(format!(
            "deployment {name}: {} old replicas are pending termination",
            replicas - updated
        ))
    } else if available < updated {
        Rollout::Waiting(format!(
            "deployment {name}: {available} of {updated} updated replicas are available"
        ))
    } else {
        Rollout::Ready
    }
}

/// Container states that mean the image cannot be pulled: no retry will fix them.
const IMAGE_UNPULLABLE: [&str; 3] = ["ImagePullBackOff", "ErrImagePull", "InvalidImageName"];
/// The state of a container that keeps exiting.
const CRASH_LOOP: &str = "CrashLoopBackOff";
/// Restarts in a crash loop before a pod is judged broken, where no setting says.
pub const DEFAULT_CRASH_LOOP_RESTARTS: u32 = 3;

/// The first pod whose container cannot be pulled, or crash-loops with at
/// least `restarts` restarts, with its reason.
pub fn pods(pods: &[Value], restarts: u32) -> Option<String> {
    pods.iter().find_map(|pod| {
        let name = pod
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("?");
        ["/status/initContainerStatuses", "/status/containerStatuses"]
            .iter()
            .filter_map(|pointer| pod.pointer(pointer).and_then(Value::as_array))
            .flatten()
            .find_map(|container| {
                let waiting = container.pointer("/state/waiting")?;
                let reason = waiting.get("reason").and_then(Value::as_str)?;
                let restarted = container
                    .get("restartCount")
                    .and_then(Value::as_u64)
                    .unwrap_or(0);
                let broken = IMAGE_UNPULLABLE.contains(&reason)
                    || (reason == CRASH_LOOP && restarted >= u64::from(restarts));
                broken.then(|| {
                    let restarts = if reason == CRASH_LOOP {
                        format!(" after {restarted} restarts")
                    } else {
                        String::new()
                    };
                    format!(
                        "pod {name}: container {} is {reason}{restarts}: {}",
                        container.get("name").and_then(Value::as_str).unwrap_or("?"),
                        waiting
                            .get("message")
                            .and_then(Value::as_str)
                            .unwrap_or("no message")
                    )
                })
            })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn with(status: Value) -> Value {
        json!({"metadata": {"name": "web", "generation": 2}, "spec": {"replicas": 3}, "status": status})
    }

    #[test]
    fn follows_kubectl_rollout_status() {
        assert!(matches!(
            deployment(&with(json!({"observedGeneration": 1}))),
            Rollout::Waiting(_)
        ));
        assert_eq!(
            deployment(&with(
                json!({"observedGeneration": 2, "updatedReplicas": 3, "replicas": 4, "availableReplicas": 3})
            )),
            Rollout::Waiting("deployment web: 1 old replicas are pending termination".into())
        );
        assert_eq!(
            deployment(&with(
                json!({"observedGeneration": 2, "updatedReplicas": 3, "replicas": 3, "availableReplicas": 2})
            )),
            Rollout::Waiting("deployment web: 2 of 3 updated replicas are available".into())
        );
        assert_eq!(
            deployment(&with(
                json!({"observedGeneration": 2, "updatedReplicas": 3, "replicas": 3, "availableReplicas": 3})
            )),
            Rollout::Ready
        );
        let stuck = with(json!({"observedGeneration": 2, "conditions": [
            {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded", "message": "ReplicaSet \"web-1\" has timed out progressing."}
        ]}));
        assert!(
            matches!(deployment(&stuck), Rollout::Failed(message) if message.contains("ProgressDeadlineExceeded"))
        );
    }

    #[test]
    fn names_the_pod_and_its_reason() {
        let pod = json!({"metadata": {"name": "web-1"}, "status": {"containerStatuses": [
            {"name": "app", "state": {"waiting": {"reason": "ImagePullBackOff", "message": "Back-off pulling image \"web:v9\""}}}
        ]}});
        assert_eq!(
            pods(&[pod], 3).unwrap(),
            "pod web-1: container app is ImagePullBackOff: Back-off pulling image \"web:v9\""
        );
        assert_eq!(
            pods(
                &[
                    json!({"status": {"containerStatuses": [{"state": {"waiting": {"reason": "ContainerCreating"}}}]}})
                ],
                3
            ),
            None
        );
    }

    #[test]
    fn a_crash_loop_fails_only_after_the_restarts_allowed() {
        let crashing = |restarts: u64| {
            json!({"metadata": {"name": "web-1"}, "status": {"containerStatuses": [
                {"name": "app", "restartCount": restarts,
                 "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 10s"}}}]}})
        };
        assert_eq!(pods(&[crashing(2)], 3), None);
        assert_eq!(
            pods(&[crashing(3)], 3).unwrap(),
            "pod web-1: container app is CrashLoopBackOff after 3 restarts: back-off 10s"
        );
        // A missing ConfigMap may yet appear: the progress deadline decides.
        let config = json!({"status": {"containerStatuses": [
            {"state": {"waiting": {"reason": "CreateContainerConfigError"}}}]}});
        assert_eq!(pods(&[config], 0), None);
    }
}
