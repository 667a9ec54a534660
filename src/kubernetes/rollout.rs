//! Waiting for one Deployment to be rolled out, polling like `kubectl rollout
//! status` on an injected clock. The target waits for what it applied; the
//! red/black Service router waits for the Deployment it just labelled.

use std::time::Duration;

use serde_json::Value;

use super::objects::Objects;
use super::rollout_status::{self, Rollout};
use super::{Cluster, Resource};
use crate::clock::Clock;
use crate::provider::ProviderError;

/// How long to wait, how often to look, and the spec field that sets the limit
/// (named in the hint when it runs out).
pub struct Patience<'a> {
    pub clock: &'a dyn Clock,
    pub timeout: Duration,
    pub poll: Duration,
    pub setting: &'a str,
}

/// Returns once Deployment `name` is rolled out; fails at once when it never
/// will be (with the pod's reason), or when `patience` runs out.
pub async fn rolled_out(
    cluster: &Cluster,
    namespace: Option<&str>,
    name: &str,
    patience: &Patience<'_>,
) -> Result<(), ProviderError> {
    let deployments = Objects::new(cluster, Resource::deployment(), namespace);
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
            && let Some(reason) = rollout_status::pods(&pods.list(&selector).await?)
        {
            return Err(not_ready(reason));
        }
        let now = patience.clock.now();
        if now >= deadline {
            return Err(ProviderError::new(format!(
                "{} was not ready within {}: {waiting}",
                deployments.what(name),
                crate::spec::duration::display(patience.timeout)
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

/// `spec.selector.matchLabels` as a label selector.
pub fn selector(deployment: &Value) -> String {
    deployment
        .pointer("/spec/selector/matchLabels")
        .and_then(Value::as_object)
        .map(|labels| {
            labels
                .iter()
                .filter_map(|(key, value)| value.as_str().map(|value| format!("{key}={value}")))
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default()
}
