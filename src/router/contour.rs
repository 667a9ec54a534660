//! `router: contour`: an HTTPProxy (projectcontour.io/v1) or a legacy
//! IngressRoute (contour.heptio.com/v1beta1). Canary by the weights of two
//! `routes[].services[]`; blue/green by delegation: the root proxy
//! includes (`includes[].name`, IngressRoute `routes[].delegate.name`) either
//! the stable or the new child. Read-modify-write keeps everything else.
//! After each write greenlight waits until Contour has observed the new
//! generation (`status.conditions[type=Valid].observedGeneration`) and judges
//! `status.currentStatus` (`kubernetes::observed`).

use std::sync::Arc;

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::backends::Pair;
use super::{Router, Weight, split};
use crate::clock::Clock;
use crate::field::{FieldPath, Problem, problem, require_pair, require_text};
use crate::kubernetes::json::{array_mut, str_at};
use crate::kubernetes::managed;
use crate::kubernetes::objects::Objects;
use crate::kubernetes::observed::{self, Observer, Verdict};
use crate::kubernetes::update::read_modify_write;
use crate::kubernetes::{LazyCluster, Resource};
use crate::provider::ProviderError;

/// `router: contour`: an HTTPProxy (or a legacy IngressRoute), by weights or by delegation.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ContourRouter {
    /// The HTTPProxy (or IngressRoute) greenlight edits.
    pub proxy: String,
    /// Edit a legacy `IngressRoute` (contour.heptio.com/v1beta1) instead of an HTTPProxy.
    #[serde(default)]
    pub legacy: bool,
    /// Canary: `routes[].services[].weight` of these two Services.
    pub weights: Option<StablePair>,
    /// Blue/green: the root proxy includes (`includes[].name`; `delegate.name` on an
    /// IngressRoute) the stable or the new child proxy.
    pub delegation: Option<StablePair>,
    pub context: Option<String>,
    pub namespace: Option<String>,
}

/// Two object names: the stable version's and the new version's.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct StablePair {
    pub stable: String,
    pub new: String,
}

super::cluster_of!(ContourRouter);

impl ContourRouter {
    /// The proxy must be named, and exactly one of `weights` and `delegation`
    /// given, with both of its names.
    fn check_settings(&self, path: FieldPath, problems: &mut Vec<Problem>) {
        require_text(&self.proxy, path.key("proxy"), problems);
        match (&self.weights, &self.delegation) {
            (Some(pair), None) => pair.check(&path.key("weights"), problems),
            (None, Some(pair)) => pair.check(&path.key("delegation"), problems),
            (Some(_), Some(_)) => problems.push(problem(
                path.key("delegation"),
                "give `weights` or `delegation`, not both",
            )),
            (None, None) => problems.push(
                problem(path, "give `weights` (canary) or `delegation` (blue/green)").hint(
                    "e.g. `weights: {stable: 'web-{{ stable_version }}', new: 'web-{{ version }}'}`",
                ),
            ),
        }
    }

    /// Delegation includes one child proxy or the other: no weight between 0 and 100.
    fn all_at_once(&self) -> Option<&'static str> {
        (self.weights.is_none() && self.delegation.is_some()).then_some("Contour delegation")
    }
}

impl StablePair {
    fn check(&self, path: &FieldPath, problems: &mut Vec<Problem>) {
        require_pair((&self.stable, &self.new), path, ("stable", "new"), problems);
    }
}

/// Contour sets no maxItems on `services`; this bound only stops runaway lists.
const MAX_SERVICES: usize = 64;

pub struct ContourRouterProvider {
    spec: ContourRouter,
    cluster: LazyCluster,
    observer: Observer,
}

impl ContourRouterProvider {
    /// Waits for the controller on `clock`, the command's one clock.
    pub fn new(spec: ContourRouter, clock: Arc<dyn Clock>) -> Self {
        let cluster = LazyCluster::new(spec.cluster());
        Self {
            spec,
            cluster,
            observer: Observer::new(clock),
        }
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

    /// The field greenlight rewrites: the root's includes, or the routes.
    fn owned_field(&self) -> [&'static str; 2] {
        if self.spec.delegation.is_some() && !self.spec.legacy {
            ["spec", "includes"]
        } else {
            ["spec", "routes"]
        }
    }

    /// Sets `weight`, unless a GitOps controller owns what would change.
    fn set_owned(&self, proxy: &mut Value, weight: Weight) -> Result<(), ProviderError> {
        let before = proxy.clone();
        self.set(proxy, weight)?;
        if *proxy != before {
            managed::refuse_gitops_owner(&before, &self.resource(), &self.owned_field())?;
        }
        Ok(())
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

/// What Contour's status says about `generation`: `currentStatus` is the
/// verdict, and the `Valid` condition's `observedGeneration` says which
/// generation it is about. IngressRoute and old Contour versions write no
/// generation: only a refusal can be told then.
pub fn judge_proxy(proxy: &Value, generation: i64, what: &str) -> Verdict {
    let Some(current) = proxy
        .pointer("/status/currentStatus")
        .and_then(Value::as_str)
    else {
        return Verdict::Silent(format!("Contour writes no status of {what}"));
    };
    let valid = observed::condition(observed::conditions(&proxy["status"]), "Valid");
    let seen = valid
        .and_then(|valid| valid.get("observedGeneration"))
        .and_then(Value::as_i64);
    let refused = || {
        let errors: Vec<&str> = valid
            .and_then(|valid| valid.get("errors"))
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|error| str_at(error, "message"))
            .collect();
        let detail = if errors.is_empty() {
            str_at(&proxy["status"], "description")
                .unwrap_or_default()
                .to_owned()
        } else {
            errors.join("; ")
        };
        Verdict::Bad(
            ProviderError::new(format!("{what} reports status {current}: {detail}"))
                .with_hint("Contour refused the proxy; `kubectl describe` it for the reason"),
        )
    };
    match seen {
        None if current == "invalid" => refused(),
        None => Verdict::Silent(format!(
            "the status of {what} carries no observedGeneration (IngressRoute, or Contour older than 1.17)"
        )),
        Some(seen) if seen < generation => Verdict::Pending(format!(
            "waiting for Contour to observe generation {generation} of {what}"
        )),
        Some(_) if current == "valid" => Verdict::Good,
        Some(_) => refused(),
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

    /// Before anything is deployed: the proxy exists, and a GitOps
    /// controller that manages it is named with what to configure.
    async fn preflight(&self) -> Result<(), ProviderError> {
        let cluster = self.cluster.get().await?;
        let proxies = Objects::new(cluster, self.resource(), None);
        let proxy = proxies.get_existing(&self.spec.proxy).await?;
        managed::refuse_gitops_owner(&proxy, &self.resource(), &self.owned_field())?;
        let pointer = format!("/{}", self.owned_field().join("/"));
        if let Some(warning) = managed::gitops_warning(&proxy, &self.resource(), &[&pointer]) {
            tracing::warn!("{warning}");
        }
        Ok(())
    }

    async fn weight(&self) -> Result<Weight, ProviderError> {
        let cluster = self.cluster.get().await?;
        let proxies = Objects::new(cluster, self.resource(), None);
        let mut proxy = proxies.get_existing(&self.spec.proxy).await?;
        let weight = self.read(&mut proxy)?;
        observed::unless_refused(weight, &proxy, &proxies.what(&self.spec.proxy), judge_proxy)
    }

    async fn set_weight(&self, weight: Weight) -> Result<(), ProviderError> {
        if let Some(names) = self.spec.weights.as_ref().or(self.spec.delegation.as_ref()) {
            split::distinct(&names.stable, &names.new, &self.describe())?;
        }
        let cluster = self.cluster.get().await?;
        let proxies = Objects::new(cluster, self.resource(), None);
        let written = read_modify_write(&proxies, &self.spec.proxy, |proxy| {
            self.set_owned(proxy, weight)
        })
        .await?;
        self.observer
            .after_write(&proxies, &self.spec.proxy, &written, weight, judge_proxy)
            .await
    }
}

super::kubernetes_router_settings!(ContourRouter, "contour", ContourRouterProvider);
