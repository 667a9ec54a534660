//! Waiting for one Deployment to be rolled out, polling like `kubectl rollout
//! status` on an injected clock. The target waits for what it applied; the
//! red/black Service router waits for the Deployment it just labelled. Pods
//! are judged only when they belong to the Deployment's new ReplicaSet (the
//! one whose template is the Deployment's, as the Deployment controller finds
//! it) and match its whole selector, `matchExpressions` included.

use std::time::Duration;

use serde_json::Value;

use super::objects::Objects;
use super::rollout_status::{self, Rollout};
use super::{Cluster, Resource};
use crate::clock::Clock;
use crate::provider::ProviderError;

/// How long a Deployment may take to roll out, unless the spec says (10 minutes).
pub fn default_timeout() -> crate::duration::Span {
    crate::duration::Span::from_secs(600)
}

/// Crash-loop restarts before a pod is judged broken, unless the spec says.
pub fn default_crash_loop_restarts() -> u32 {
    super::rollout_status::DEFAULT_CRASH_LOOP_RESTARTS
}

/// How often to look at a Deployment being rolled out, unless the spec says.
pub fn default_poll_interval() -> crate::duration::Span {
    crate::duration::Span::from_secs(2)
}

/// How long to wait, how often to look, and the spec field that sets the limit
/// (named in the hint when it runs out).
pub struct Patience<'a> {
    pub clock: &'a dyn Clock,
    pub timeout: Duration,
    pub poll: Duration,
    pub setting: &'a str,
    /// Restarts in a crash loop before a pod is judged broken.
    pub restarts: u32,
}

/// The label the Deployment controller gives a ReplicaSet and its pods.
const TEMPLATE_HASH: &str = "pod-template-hash";

/// Returns once Deployment `name` is rolled out; fails at once when it never
/// will be (with the pod's reason), or when `patience` runs out.
pub async fn rolled_out(
    cluster: &Cluster,
    namespace: Option<&str>,
    name: &str,
    patience: &Patience<'_>,
) -> Result<(), ProviderError> {
    let deployments = Objects::new(cluster, Resource::deployment(), namespace);
    let replica_sets = Objects::new(cluster, Resource::replica_set(), namespace);
    let pods = Objects::new(cluster, Resource::pod(), namespace);
    let deadline = patience.clock.now() + patience.timeout;
    loop {
        let deployment = deployments.get_existing(name).await?;
        let waiting = match rollout_status::deployment(&deployment) {
            Rollout::Ready => return Ok(()),
            Rollout::Failed(reason) => return Err(not_ready(reason)),
            Rollout::Waiting(what) => what,
        };
        let selector = selector(&deployment);
        if !selector.is_empty()
            && let Some(hash) =
                new_replica_set_hash(&deployment, &replica_sets.list(&selector).await?)
        {
            let own = pods
                .list(&format!("{selector},{TEMPLATE_HASH}={hash}"))
                .await?;
            if let Some(reason) = rollout_status::pods(&own, patience.restarts) {
                return Err(not_ready(reason));
            }
        }
        let now = patience.clock.now();
        if now >= deadline {
            return Err(ProviderError::new(format!(
                "{} was not ready within {}: {waiting}",
                deployments.what(name),
                crate::duration::display(patience.timeout)
            ))
            .with_hint(format!(
                "raise `{}`, or look at the pods' events",
                patience.setting
            )));
        }
        tracing::info!("{waiting}");
        patience.clock.sleep_until(now + patience.poll).await;
    }
}

fn not_ready(reason: String) -> ProviderError {
    ProviderError::new(reason).with_hint(
        "`kubectl describe` the pod for its events; fix the image or config and run again",
    )
}

/// `spec.selector` as a label selector string: `matchLabels` as equality
/// terms, `matchExpressions` as set-based ones (`In`, `NotIn`, `Exists`,
/// `DoesNotExist`).
pub fn selector(deployment: &Value) -> String {
    let mut terms: Vec<String> = deployment
        .pointer("/spec/selector/matchLabels")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .filter_map(|(key, value)| value.as_str().map(|value| format!("{key}={value}")))
        .collect();
    let expressions = deployment
        .pointer("/spec/selector/matchExpressions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten();
    for expression in expressions {
        let key = expression
            .get("key")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let values: Vec<&str> = expression
            .get("values")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        match expression.get("operator").and_then(Value::as_str) {
            Some("In") => terms.push(format!("{key} in ({})", values.join(","))),
            Some("NotIn") => terms.push(format!("{key} notin ({})", values.join(","))),
            Some("Exists") => terms.push(key.to_owned()),
            Some("DoesNotExist") => terms.push(format!("!{key}")),
            _ => {}
        }
    }
    terms.join(",")
}

/// A pod template without the label the controller adds, to compare two.
pub fn template_without_hash(template: Option<&Value>) -> Value {
    let mut template = template.cloned().unwrap_or_default();
    if let Some(labels) = template
        .pointer_mut("/metadata/labels")
        .and_then(Value::as_object_mut)
    {
        labels.remove(TEMPLATE_HASH);
    }
    template
}

/// The Deployment's new ReplicaSet: among those it owns, the one whose
/// template is the Deployment's (the Deployment controller's own test).
/// `None` until the controller has created it.
pub fn new_replica_set<'a>(deployment: &Value, replica_sets: &'a [Value]) -> Option<&'a Value> {
    let uid = deployment.pointer("/metadata/uid").and_then(Value::as_str);
    let template = template_without_hash(deployment.pointer("/spec/template"));
    replica_sets
        .iter()
        .filter(|set| {
            set.pointer("/metadata/ownerReferences")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .any(|owner| {
                    owner.get("kind").and_then(Value::as_str) == Some("Deployment")
                        && owner.get("uid").and_then(Value::as_str) == uid
                })
        })
        .find(|set| template_without_hash(set.pointer("/spec/template")) == template)
}

/// The `pod-template-hash` of the Deployment's new ReplicaSet.
pub fn new_replica_set_hash(deployment: &Value, replica_sets: &[Value]) -> Option<String> {
    new_replica_set(deployment, replica_sets).and_then(|set| {
        set.pointer(&format!("/metadata/labels/{TEMPLATE_HASH}"))
            .and_then(Value::as_str)
            .map(str::to_owned)
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_selector_keeps_its_expressions() {
        let deployment = json!({"spec": {"selector": {
            "matchLabels": {"app": "web"},
            "matchExpressions": [
                {"key": "track", "operator": "In", "values": ["stable", "canary"]},
                {"key": "legacy", "operator": "DoesNotExist"},
                {"key": "tier", "operator": "NotIn", "values": ["batch"]},
                {"key": "version", "operator": "Exists"}]}}});
        assert_eq!(
            selector(&deployment),
            "app=web,track in (stable,canary),!legacy,tier notin (batch),version"
        );
    }

    #[test]
    fn the_new_replica_set_is_the_one_with_the_deployments_template() {
        let template = |image: &str, hash: &str| {
            json!({"metadata": {"labels": {"app": "web", "pod-template-hash": hash}},
                   "spec": {"containers": [{"name": "app", "image": image}]}})
        };
        let deployment = json!({"metadata": {"uid": "d1"},
            "spec": {"template": {"metadata": {"labels": {"app": "web"}},
                                  "spec": {"containers": [{"name": "app", "image": "web:v2"}]}}}});
        let set = |hash: &str, image: &str, owner: &str| {
            json!({"metadata": {"labels": {"pod-template-hash": hash},
                                "ownerReferences": [{"kind": "Deployment", "uid": owner}]},
                   "spec": {"template": template(image, hash)}})
        };
        let sets = [
            set("old", "web:v1", "d1"),
            set("other", "web:v2", "d9"),
            set("new", "web:v2", "d1"),
        ];
        assert_eq!(
            new_replica_set_hash(&deployment, &sets).as_deref(),
            Some("new")
        );
        assert_eq!(new_replica_set_hash(&deployment, &sets[..2]), None);
    }
}
