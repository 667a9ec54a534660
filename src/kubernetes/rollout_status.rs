//! When a Deployment is ready, the way `kubectl rollout status` decides it
//! (kubectl's DeploymentStatusViewer), plus the pod states that will never
//! get better on their own, so a broken image fails in seconds, not at the
//! progress deadline.

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

/// Container states that need a person (a new image, a fixed config).
const HOPELESS: [&str; 7] = [
    "CrashLoopBackOff",
    "ImagePullBackOff",
    "ErrImagePull",
    "InvalidImageName",
    "CreateContainerConfigError",
    "CreateContainerError",
    "RunContainerError",
];

/// The first pod whose container is stuck in a hopeless state, with its reason.
pub fn pods(pods: &[Value]) -> Option<String> {
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
                HOPELESS.contains(&reason).then(|| {
                    format!(
                        "pod {name}: container {} is {reason}: {}",
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
            pods(&[pod]).unwrap(),
            "pod web-1: container app is ImagePullBackOff: Back-off pulling image \"web:v9\""
        );
        assert_eq!(
            pods(&[
                json!({"status": {"containerStatuses": [{"state": {"waiting": {"reason": "ContainerCreating"}}}]}})
            ]),
            None
        );
    }
}
