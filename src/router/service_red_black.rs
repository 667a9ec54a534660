//! `router: service` with `redBlack` (seed 002's variant): the Service keeps
//! its selector, which requires a serving label; greenlight moves that label
//! between the two Deployments' pod templates. The side that gains it is
//! rolled out completely before the other side loses it, so the Service never
//! runs out of ready endpoints. Only 0% and 100% exist. The read-back counts
//! the ready pods the Service really selects, per Deployment.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use serde_json::Value;

use super::service::selector_text;
use super::{Router, Weight, split};
use crate::clock::Clock;
use crate::kubernetes::json::map_mut;
use crate::kubernetes::objects::Objects;
use crate::kubernetes::rollout::{self, Patience};
use crate::kubernetes::update::read_modify_write;
use crate::kubernetes::{Cluster, LazyCluster, Resource};
use crate::provider::ProviderError;
use crate::spec::duration::display;
use crate::spec::types::{RedBlack, ServiceRouter};

type Labels = BTreeMap<String, String>;

pub struct RedBlackRouter {
    service: String,
    spec: RedBlack,
    cluster: LazyCluster,
    clock: Arc<dyn Clock>,
}

fn string_map(value: Option<&Value>) -> Labels {
    value
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .filter_map(|(key, value)| Some((key.clone(), value.as_str()?.to_owned())))
        .collect()
}

/// Ready and not terminating: what the endpoints controller publishes.
fn is_ready(pod: &Value) -> bool {
    pod.pointer("/metadata/deletionTimestamp").is_none()
        && pod
            .pointer("/status/conditions")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .any(|condition| condition["type"] == "Ready" && condition["status"] == "True")
}

impl RedBlackRouter {
    pub fn new(service: &ServiceRouter, spec: RedBlack, clock: Arc<dyn Clock>) -> Self {
        Self {
            service: service.name.clone(),
            spec,
            cluster: LazyCluster::new(service.cluster()),
            clock,
        }
    }

    fn label(&self) -> String {
        selector_text(&self.spec.label)
    }

    fn patience(&self) -> Patience<'_> {
        Patience {
            clock: self.clock.as_ref(),
            timeout: self.spec.timeout.get(),
            poll: self.spec.poll_interval.get(),
            setting: "router.service.redBlack.timeout",
        }
    }

    /// (gains the label, loses it) for a switch to `to_new`.
    fn sides(&self, to_new: bool) -> (&str, &str) {
        if to_new {
            (&self.spec.new_deployment, &self.spec.stable_deployment)
        } else {
            (&self.spec.stable_deployment, &self.spec.new_deployment)
        }
    }

    /// The Service's selector; it must require the serving label, or moving
    /// the label would not move any traffic.
    async fn service_selector(&self, cluster: &Cluster) -> Result<Labels, ProviderError> {
        let services = Objects::new(cluster, Resource::service(), None);
        let service = services.get_existing(&self.service).await?;
        let selector = string_map(service.pointer("/spec/selector"));
        let missing = self
            .spec
            .label
            .iter()
            .any(|(key, value)| selector.get(key) != Some(value));
        if missing {
            return Err(ProviderError::new(format!(
                "{} selects {{{}}}, which does not require the serving label {}",
                services.what(&self.service),
                selector_text(&selector),
                self.label()
            ))
            .with_hint(format!(
                "add {} to the Service's spec.selector once, by hand, while the stable pods carry it",
                self.label()
            )));
        }
        Ok(selector)
    }

    /// How many ready pods of `deployment` the Service routes to (none when
    /// the Deployment does not exist).
    async fn serving(
        &self,
        cluster: &Cluster,
        service_selector: &Labels,
        deployment: &str,
    ) -> Result<usize, ProviderError> {
        let deployments = Objects::new(cluster, Resource::deployment(), None);
        let Some(object) = deployments.get(deployment).await? else {
            return Ok(0);
        };
        let mut selector = string_map(object.pointer("/spec/selector/matchLabels"));
        for (key, value) in service_selector {
            if selector
                .insert(key.clone(), value.clone())
                .is_some_and(|own| own != *value)
            {
                // The Deployment's own selector rules out the Service's.
                return Ok(0);
            }
        }
        let pods = Objects::new(cluster, Resource::pod(), None)
            .list(&selector_text(&selector))
            .await?;
        Ok(pods.iter().filter(|pod| is_ready(pod)).count())
    }

    /// Puts the serving label on (or takes it off) `deployment`'s pod template.
    async fn set_label(
        &self,
        cluster: &Cluster,
        deployment: &str,
        on: bool,
    ) -> Result<(), ProviderError> {
        let deployments = Objects::new(cluster, Resource::deployment(), None);
        let what = deployments.what(deployment);
        read_modify_write(&deployments, deployment, |object| {
            let own = string_map(object.pointer("/spec/selector/matchLabels"));
            if let Some(key) = self.spec.label.keys().find(|key| own.contains_key(*key)) {
                // A Deployment's selector is immutable and must match its template.
                return Err(ProviderError::new(format!(
                    "{what} selects its own pods by `{key}`, the serving label; greenlight cannot move it"
                ))
                .with_hint("choose a serving label that no Deployment's spec.selector uses"));
            }
            let labels = map_mut(object, &["spec", "template", "metadata", "labels"], &what)?;
            for (key, value) in &self.spec.label {
                if on {
                    labels.insert(key.clone(), Value::String(value.clone()));
                } else {
                    labels.remove(key);
                }
            }
            Ok(())
        })
        .await
        .map(drop)
    }

    /// Waits until no ready pod of `deployment` is selected by the Service.
    async fn drained(
        &self,
        cluster: &Cluster,
        service_selector: &Labels,
        deployment: &str,
    ) -> Result<(), ProviderError> {
        let patience = self.patience();
        let deadline = patience.clock.now() + patience.timeout;
        loop {
            let left = self.serving(cluster, service_selector, deployment).await?;
            if left == 0 {
                return Ok(());
            }
            let now = patience.clock.now();
            if now >= deadline {
                return Err(ProviderError::new(format!(
                    "{left} ready pods of Deployment {deployment} still carry {} after {}",
                    self.label(),
                    display(patience.timeout)
                ))
                .with_hint(format!(
                    "its rollout without the label is stuck: `kubectl rollout status deployment/{deployment}`; or raise `{}`",
                    patience.setting
                )));
            }
            tracing::info!(
                "{left} ready pods of Deployment {deployment} still carry the serving label"
            );
            patience.clock.sleep_until(now + patience.poll).await;
        }
    }
}

#[async_trait]
impl Router for RedBlackRouter {
    fn describe(&self) -> String {
        format!(
            "Service {}/{} (red/black on label {})",
            self.cluster.namespace_hint(),
            self.service,
            self.label()
        )
    }

    fn plan(&self, weight: Weight) -> Vec<String> {
        let (gains, loses) = self.sides(weight != Weight::ZERO);
        vec![
            format!(
                "Deployment {gains}: add {} to the pod template, then wait until it is rolled out",
                self.label()
            ),
            format!(
                "Deployment {loses}: remove {} from the pod template, then wait until Service {} selects none of its pods",
                self.label(),
                self.service
            ),
        ]
    }

    async fn weight(&self) -> Result<Weight, ProviderError> {
        let cluster = self.cluster.get().await?;
        let selector = self.service_selector(cluster).await?;
        let stable = &self.spec.stable_deployment;
        let new = &self.spec.new_deployment;
        let on_stable = self.serving(cluster, &selector, stable).await?;
        let on_new = self.serving(cluster, &selector, new).await?;
        match (on_stable, on_new) {
            (0, 0) => Err(ProviderError::new(format!(
                "no ready pod of {stable} or {new} carries {}: Service {} has no endpoints",
                self.label(),
                self.service
            ))
            .with_hint("run `greenlight rollback`, or check both Deployments' pods")),
            (0, _) => Ok(Weight::FULL),
            (_, 0) => Ok(Weight::ZERO),
            (on_stable, on_new) => Err(ProviderError::new(format!(
                "both versions serve: {on_stable} ready pods of {stable} and {on_new} of {new} carry {}",
                self.label()
            ))
            .with_hint("a switch was interrupted; run `greenlight rollback` or `greenlight promote` to finish it")),
        }
    }

    async fn set_weight(&self, weight: Weight) -> Result<(), ProviderError> {
        let to_new = split::all_or_nothing(weight, &format!("Service {}", self.service))?;
        split::distinct(
            &self.spec.stable_deployment,
            &self.spec.new_deployment,
            &self.describe(),
        )?;
        let (gains, loses) = self.sides(to_new);
        let cluster = self.cluster.get().await?;
        let selector = self.service_selector(cluster).await?;
        self.set_label(cluster, gains, true).await?;
        rollout::rolled_out(cluster, None, gains, &self.patience())
            .await
            .map_err(|error| {
                error.context(format!(
                    "Deployment {gains} got {} but its pods did not all become ready",
                    self.label()
                ))
            })?;
        // The side losing the label may be gone already (retired, first rollout).
        let deployments = Objects::new(cluster, Resource::deployment(), None);
        if deployments.get(loses).await?.is_some() {
            self.set_label(cluster, loses, false).await?;
        }
        self.drained(cluster, &selector, loses).await
    }
}
