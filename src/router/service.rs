//! `router: service`: blue/green by switching a Service's `spec.selector`
//! (seed 002). Traffic moves all at once, so only 0% and 100% exist. The
//! selector is replaced whole, on the Service's `resourceVersion`. The
//! red/black variant (`redBlack`) is in `service_red_black.rs`.

use async_trait::async_trait;
use serde_json::json;

use super::{Router, Weight, split};
use crate::kubernetes::json::map_mut;
use crate::kubernetes::objects::Objects;
use crate::kubernetes::update::read_modify_write;
use crate::kubernetes::{LazyCluster, Resource};
use crate::provider::ProviderError;
use crate::spec::types::ServiceRouter;

pub struct ServiceRouterProvider {
    spec: ServiceRouter,
    cluster: LazyCluster,
}

/// `key=value,…`: how kubectl and label selectors write labels.
pub(super) fn selector_text(selector: &std::collections::BTreeMap<String, String>) -> String {
    selector
        .iter()
        .map(|(key, value)| format!("{key}={value}"))
        .collect::<Vec<_>>()
        .join(",")
}

impl ServiceRouterProvider {
    pub fn new(spec: ServiceRouter) -> Self {
        let cluster = LazyCluster::new(spec.cluster());
        Self { spec, cluster }
    }
}

#[async_trait]
impl Router for ServiceRouterProvider {
    fn describe(&self) -> String {
        format!(
            "Service {}/{} (selector switch)",
            self.cluster.namespace_hint(),
            self.spec.name
        )
    }

    fn plan(&self, weight: Weight) -> Vec<String> {
        let selector = if weight == Weight::ZERO {
            &self.spec.stable_selector
        } else {
            &self.spec.new_selector
        };
        vec![format!(
            "Service {}: spec.selector = {}",
            self.spec.name,
            selector_text(selector)
        )]
    }

    async fn weight(&self) -> Result<Weight, ProviderError> {
        let cluster = self.cluster.get().await?;
        let services = Objects::new(cluster, Resource::service(), None);
        let service = services.get_existing(&self.spec.name).await?;
        let selector = service
            .pointer("/spec/selector")
            .cloned()
            .unwrap_or_default();
        if selector == json!(self.spec.new_selector) {
            Ok(Weight::FULL)
        } else if selector == json!(self.spec.stable_selector) {
            Ok(Weight::ZERO)
        } else {
            Err(ProviderError::new(format!(
                "{} selects {selector}, neither the stable ({}) nor the new ({}) version",
                services.what(&self.spec.name),
                selector_text(&self.spec.stable_selector),
                selector_text(&self.spec.new_selector)
            ))
            .with_hint("someone changed the selector by hand; set it back to the stable one"))
        }
    }

    async fn set_weight(&self, weight: Weight) -> Result<(), ProviderError> {
        let to_new = split::all_or_nothing(weight, &format!("Service {}", self.spec.name))?;
        split::distinct(
            &selector_text(&self.spec.stable_selector),
            &selector_text(&self.spec.new_selector),
            &self.describe(),
        )?;
        let selector = if to_new {
            &self.spec.new_selector
        } else {
            &self.spec.stable_selector
        };
        let cluster = self.cluster.get().await?;
        let services = Objects::new(cluster, Resource::service(), None);
        let what = services.what(&self.spec.name);
        read_modify_write(&services, &self.spec.name, |service| {
            map_mut(service, &["spec"], &what)?.insert("selector".into(), json!(selector));
            Ok(())
        })
        .await
        .map(drop)
    }
}
