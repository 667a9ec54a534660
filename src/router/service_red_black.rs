//! `router: service` with `redBlack`: the Service keeps its selector, which
//! requires a serving label; greenlight moves that label between the two
//! versions' running pods, so a switch (and a rollback from 100%) is one round
//! of label patches and no pod is recreated. The templates are kept
//! consistent for a later scale-up without a rollout: with the Deployment
//! paused, its template and its current ReplicaSet's template get the same
//! label change (the Deployment controller then still finds that ReplicaSet
//! as the one of its template), then the pods are relabelled and the
//! Deployment resumed. The side that gains the label serves before the other
//! side loses it, so the Service never runs out of ready endpoints. Only 0%
//! and 100% exist. The read-back counts, per Deployment, the ready endpoints
//! of the Service's EndpointSlices.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use serde_json::{Value, json};

use super::service::selector_text;
use super::service::{RedBlack, ServiceRouter};
use super::{Router, Weight, split};
use crate::clock::Clock;
use crate::duration::display;
use crate::kubernetes::error::describe;
use crate::kubernetes::json::map_mut;
use crate::kubernetes::objects::Objects;
use crate::kubernetes::rollout::{self, Patience};
use crate::kubernetes::update::read_modify_write;
use crate::kubernetes::{Cluster, LazyCluster, Resource, endpoints};
use crate::provider::ProviderError;

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
            restarts: crate::kubernetes::rollout_status::DEFAULT_CRASH_LOOP_RESTARTS,
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

    /// How many ready endpoints of the Service are pods of `deployment`
    /// (none when the Deployment does not exist), from its EndpointSlices.
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
        let own = string_map(object.pointer("/spec/selector/matchLabels"));
        if own.iter().any(|(key, value)| {
            service_selector
                .get(key)
                .is_some_and(|wanted| wanted != value)
        }) {
            // The Deployment's own selector rules out the Service's.
            return Ok(0);
        }
        let pods: Vec<String> = Objects::new(cluster, Resource::pod(), None)
            .list(&rollout::selector(&object))
            .await?
            .iter()
            .filter_map(|pod| pod.pointer("/metadata/name").and_then(Value::as_str))
            .map(str::to_owned)
            .collect();
        Ok(endpoints::of_service(cluster, None, &self.service)
            .await?
            .iter()
            .filter(|endpoint| endpoint.ready)
            .filter(|endpoint| endpoint.pod.as_ref().is_some_and(|pod| pods.contains(pod)))
            .count())
    }

    /// The serving label as a merge patch of a `labels` map: on, or removed.
    fn label_patch(&self, on: bool) -> Value {
        let labels: serde_json::Map<String, Value> = self
            .spec
            .label
            .iter()
            .map(|(key, value)| (key.clone(), if on { json!(value) } else { Value::Null }))
            .collect();
        Value::Object(labels)
    }

    /// Puts the serving label on (or takes it off) `deployment`'s running
    /// pods, keeping its template and its current ReplicaSet's template alike
    /// so neither a rollout nor a later scale-up undoes it.
    async fn set_label(
        &self,
        cluster: &Cluster,
        deployment: &str,
        on: bool,
    ) -> Result<(), ProviderError> {
        let deployments = Objects::new(cluster, Resource::deployment(), None);
        let replica_sets = Objects::new(cluster, Resource::replica_set(), None);
        let pods = Objects::new(cluster, Resource::pod(), None);
        let what = deployments.what(deployment);
        let live = deployments.get_existing(deployment).await?;
        let selector = rollout::selector(&live);
        let sets = replica_sets.list(&selector).await?;
        let current = rollout::new_replica_set(&live, &sets)
            .and_then(|set| set.pointer("/metadata/name").and_then(Value::as_str))
            .map(str::to_owned);
        let was_paused = live.pointer("/spec/paused").and_then(Value::as_bool) == Some(true);
        // 1. Paused, the controller makes no ReplicaSet for the changed template.
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
            if current.is_some() {
                map_mut(object, &["spec"], &what)?.insert("paused".into(), json!(true));
            }
            Ok(())
        })
        .await?;
        let Some(current) = current else {
            // No ReplicaSet yet: the template change is all there is to make.
            return Ok(());
        };
        // 2. The ReplicaSet's template matches the Deployment's again.
        let template =
            json!({"spec": {"template": {"metadata": {"labels": self.label_patch(on)}}}});
        replica_sets
            .merge_patch(&current, &template)
            .await
            .map_err(|error| describe(&error, "labelling", &replica_sets.what(&current)))?;
        // The Deployment controller takes the oldest ReplicaSet whose template
        // is the Deployment's: a scaled-down one of an earlier template that
        // now matches again would be scaled up in place of the running one.
        let wanted = rollout::template_without_hash(
            deployments
                .get_existing(deployment)
                .await?
                .pointer("/spec/template"),
        );
        for set in &sets {
            let name = set.pointer("/metadata/name").and_then(Value::as_str);
            let idle = set.pointer("/spec/replicas").and_then(Value::as_i64) == Some(0);
            if let Some(name) = name
                && name != current
                && idle
                && rollout::template_without_hash(set.pointer("/spec/template")) == wanted
            {
                tracing::info!(
                    "deleting ReplicaSet {name} (0 replicas): its template is the one {what} now has"
                );
                replica_sets.delete(name).await?;
            }
        }
        // 3. The running pods: the Service's endpoints follow their labels.
        let relabel = json!({"metadata": {"labels": self.label_patch(on)}});
        for pod in pods.list(&selector).await? {
            let Some(name) = pod.pointer("/metadata/name").and_then(Value::as_str) else {
                continue;
            };
            pods.merge_patch(name, &relabel)
                .await
                .map_err(|error| describe(&error, "labelling", &pods.what(name)))?;
        }
        // 4. Resumed, the controller finds that ReplicaSet as the current one.
        if !was_paused {
            deployments
                .merge_patch(deployment, &json!({"spec": {"paused": null}}))
                .await
                .map_err(|error| describe(&error, "resuming", &what))?;
        }
        Ok(())
    }

    /// Waits until the Service's ready endpoints that are pods of
    /// `deployment` reach `wanted`: some (`true`) or none (`false`).
    async fn endpoints_become(
        &self,
        cluster: &Cluster,
        service_selector: &Labels,
        deployment: &str,
        wanted: bool,
    ) -> Result<(), ProviderError> {
        let patience = self.patience();
        let deadline = patience.clock.now() + patience.timeout;
        loop {
            let serving = self.serving(cluster, service_selector, deployment).await?;
            if (serving > 0) == wanted {
                return Ok(());
            }
            let now = patience.clock.now();
            let waiting = if wanted {
                format!(
                    "no ready pod of Deployment {deployment} is an endpoint of Service {}",
                    self.service
                )
            } else {
                format!(
                    "{serving} ready pods of Deployment {deployment} are still endpoints of Service {}",
                    self.service
                )
            };
            if now >= deadline {
                return Err(ProviderError::new(format!(
                    "{waiting} after {}",
                    display(patience.timeout)
                ))
                .with_hint(format!(
                    "check which of its pods carry {} (`kubectl get pods -L ...`); or raise `{}`",
                    self.label(),
                    patience.setting
                )));
            }
            tracing::info!("{waiting}");
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
                "Deployment {gains}: add {} to its running pods (and, paused, to its template and ReplicaSet's), then wait until they are endpoints of Service {}",
                self.label(),
                self.service
            ),
            format!(
                "Deployment {loses}: remove {} from its running pods (and templates), then wait until Service {} has none of them as endpoints",
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
        self.endpoints_become(cluster, &selector, gains, true)
            .await?;
        // The side losing the label may be gone already (retired, first rollout).
        let deployments = Objects::new(cluster, Resource::deployment(), None);
        if deployments.get(loses).await?.is_some() {
            self.set_label(cluster, loses, false).await?;
        }
        self.endpoints_become(cluster, &selector, loses, false)
            .await
    }
}
