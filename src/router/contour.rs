//! `router: contour`: an HTTPProxy (projectcontour.io/v1) or a legacy
//! IngressRoute (contour.heptio.com/v1beta1). Canary by the weights of two
//! `routes[].services[]`; blue/green by delegation (seed 001): the root proxy
//! includes (`includes[].name`, IngressRoute `routes[].delegate.name`) either
//! the stable or the new child. Read-modify-write keeps everything else.

use async_trait::async_trait;
use serde_json::{Value, json};

use super::backends::Pair;
use super::{Router, Weight, split};
use crate::kubernetes::json::{array_mut, str_at};
use crate::kubernetes::objects::Objects;
use crate::kubernetes::update::read_modify_write;
use crate::kubernetes::{LazyCluster, Resource};
use crate::provider::ProviderError;
use crate::spec::types::{ContourRouter, StablePair};

/// Contour sets no maxItems on `services`; this bound only stops runaway lists.
const MAX_SERVICES: usize = 64;

pub struct ContourRouterProvider {
    spec: ContourRouter,
    cluster: LazyCluster,
}

impl ContourRouterProvider {
    pub fn new(spec: ContourRouter) -> Self {
        let cluster = LazyCluster::new(spec.cluster());
        Self { spec, cluster }
    }

    fn resource(&self) -> Resource {
        if self.spec.legacy {
            Resource::ingress_route()
        } else {
            Resource::http_proxy()
        }
    }

    fn kind(&self) -> &'static str {
        if self.spec.legacy {
            "IngressRoute"
        } else {
            "HTTPProxy"
        }
    }

    /// Where the name of the delegated-to child proxy lives.
    fn delegations<'a>(&self, proxy: &'a mut Value) -> Vec<&'a mut Value> {
        let names = |entries: Option<&'a mut Value>, key: Option<&str>| -> Vec<&'a mut Value> {
            entries
                .and_then(Value::as_array_mut)
                .map(|entries| {
                    entries
                        .iter_mut()
                        .filter_map(|entry| match key {
                            Some(key) => entry.get_mut(key).and_then(|inner| inner.get_mut("name")),
                            None => entry.get_mut("name"),
                        })
                        .collect()
                })
                .unwrap_or_default()
        };
        if self.spec.legacy {
            names(proxy.pointer_mut("/spec/routes"), Some("delegate"))
        } else {
            names(proxy.pointer_mut("/spec/includes"), None)
        }
    }

    fn set(&self, proxy: &mut Value, weight: Weight) -> Result<(), ProviderError> {
        let what = format!("{} {}", self.kind(), self.spec.proxy);
        if let Some(children) = &self.spec.delegation {
            let to_new = split::all_or_nothing(weight, &format!("delegation in {what}"))?;
            let target = if to_new {
                &children.new
            } else {
                &children.stable
            };
            let mut found = false;
            for name in self.delegations(proxy) {
                if name.as_str() == Some(&children.stable) || name.as_str() == Some(&children.new) {
                    *name = json!(target);
                    found = true;
                }
            }
            return if found {
                Ok(())
            } else {
                Err(no_delegation(&what, children))
            };
        }
        let pair = self.pair()?;
        let (stable, new) = split::weights(weight, 1);
        let routes = array_mut(proxy, &["spec", "routes"], &what)?;
        let mut owned = 0;
        for (index, route) in routes.iter_mut().enumerate() {
            let route_what = format!("route {index} of {what}");
            let Some(services) = route.get_mut("services").and_then(Value::as_array_mut) else {
                continue;
            };
            if pair.involves(services) {
                pair.write(services, stable, new, &route_what)?;
                owned += 1;
            }
        }
        if owned == 0 {
            return Err(no_service(&what, &pair));
        }
        Ok(())
    }

    fn read(&self, proxy: &mut Value) -> Result<Weight, ProviderError> {
        let what = format!("{} {}", self.kind(), self.spec.proxy);
        if let Some(children) = &self.spec.delegation {
            let names: Vec<String> = self
                .delegations(proxy)
                .into_iter()
                .filter_map(|name| name.as_str().map(str::to_owned))
                .collect();
            return if names.contains(&children.new) {
                Ok(Weight::FULL)
            } else if names.contains(&children.stable) {
                Ok(Weight::ZERO)
            } else {
                Err(no_delegation(&what, children))
            };
        }
        let pair = self.pair()?;
        let routes = proxy
            .pointer("/spec/routes")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default();
        // Every route that routes to either version must split alike.
        let mut seen: Option<Weight> = None;
        for services in routes
            .iter()
            .filter_map(|route| route.get("services").and_then(Value::as_array))
        {
            if !pair.involves(services) {
                continue;
            }
            let (stable, new) = pair.read(services, &what)?;
            let weight = split::percent(stable, new, &what)?;
            if seen.is_some_and(|seen| seen != weight) {
                return Err(ProviderError::new(format!("the routes of {what} split traffic differently"))
                    .with_hint("greenlight sets every route that names the stable or new Service alike; check for hand edits"));
            }
            seen = Some(weight);
        }
        seen.ok_or_else(|| no_service(&what, &pair))
    }

    fn pair(&self) -> Result<Pair<'_>, ProviderError> {
        let names =
            self.spec.weights.as_ref().ok_or_else(|| {
                ProviderError::new("router.contour needs `weights` or `delegation`")
            })?;
        Ok(Pair {
            stable: &names.stable,
            new: &names.new,
            // Contour: a service without a weight gets an even share only
            // when no service of the route has one; greenlight always sets both.
            default_weight: 0,
            max_items: MAX_SERVICES,
        })
    }
}

fn no_delegation(what: &str, children: &StablePair) -> ProviderError {
    ProviderError::new(format!(
        "{what} delegates to neither `{}` nor `{}`",
        children.stable, children.new
    ))
    .with_hint("make the root proxy include the stable child proxy first")
}

fn no_service(what: &str, pair: &Pair<'_>) -> ProviderError {
    ProviderError::new(format!(
        "no route of {what} sends traffic to `{}` or `{}`",
        pair.stable, pair.new
    ))
    .with_hint("add the stable Service to the route's `services`")
}

#[async_trait]
impl Router for ContourRouterProvider {
    fn describe(&self) -> String {
        format!(
            "{} {}/{} (Contour)",
            self.kind(),
            self.cluster.namespace_hint(),
            self.spec.proxy
        )
    }

    fn plan(&self, weight: Weight) -> Vec<String> {
        match (&self.spec.delegation, &self.spec.weights) {
            (Some(children), _) => vec![format!(
                "{} {}: delegate to `{}`",
                self.kind(),
                self.spec.proxy,
                if weight == Weight::ZERO {
                    &children.stable
                } else {
                    &children.new
                }
            )],
            (None, Some(names)) => {
                let (stable, new) = split::weights(weight, 1);
                vec![format!(
                    "{} {}: services {} weight {stable}, {} weight {new}",
                    self.kind(),
                    self.spec.proxy,
                    names.stable,
                    names.new
                )]
            }
            (None, None) => Vec::new(),
        }
    }

    async fn weight(&self) -> Result<Weight, ProviderError> {
        let cluster = self.cluster.get().await?;
        let proxies = Objects::new(cluster, self.resource(), None);
        let mut proxy = proxies.get_existing(&self.spec.proxy).await?;
        if let Some(status) = proxy
            .pointer("/status/currentStatus")
            .and_then(Value::as_str)
            && status == "invalid"
        {
            return Err(ProviderError::new(format!(
                "{} reports status invalid: {}",
                proxies.what(&self.spec.proxy),
                str_at(&proxy["status"], "description").unwrap_or_default()
            ))
            .with_hint("Contour refused the proxy; `kubectl describe` it for the reason"));
        }
        self.read(&mut proxy)
    }

    async fn set_weight(&self, weight: Weight) -> Result<(), ProviderError> {
        if let Some(names) = self.spec.weights.as_ref().or(self.spec.delegation.as_ref()) {
            split::distinct(&names.stable, &names.new, &self.describe())?;
        }
        let cluster = self.cluster.get().await?;
        let proxies = Objects::new(cluster, self.resource(), None);
        read_modify_write(&proxies, &self.spec.proxy, |proxy| self.set(proxy, weight))
            .await
            .map(drop)
    }
}
