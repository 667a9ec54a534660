//! `router: gatewayApi`: weights of the stable and new `backendRefs` in the
//! HTTPRoute rules greenlight owns. `rules` and `backendRefs` are atomic lists,
//! so the route is read, changed in memory and written back whole on its
//! `resourceVersion`: every other rule, match, filter and field is written back
//! exactly as read (Flagger rewrites them: fluxcd/flagger#1857). After each
//! write greenlight waits until the gateway controller has observed the new
//! generation in `status.parents[].conditions[]` (`kubernetes::observed`).

use std::sync::Arc;

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::backends::Pair;
use super::{Router, Weight, split};
use crate::clock::Clock;
use crate::kubernetes::json::{array_mut, str_at};
use crate::kubernetes::managed;
use crate::kubernetes::objects::Objects;
use crate::kubernetes::observed::{self, Observer, Verdict};
use crate::kubernetes::update::read_modify_write;
use crate::kubernetes::{LazyCluster, Resource};
use crate::provider::ProviderError;

/// `router: gatewayApi`: weights of an HTTPRoute's `backendRefs`.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct GatewayApiRouter {
    /// The HTTPRoute's name.
    pub route: String,
    /// Names (`rules[].name`) of the rules greenlight owns. Default: every rule
    /// with a backendRef to the stable or the new Service. Other rules are never touched.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<String>,
    /// The stable version's Service.
    pub stable_service: String,
    /// The new version's Service (added beside the stable one when missing).
    pub new_service: String,
    pub context: Option<String>,
    pub namespace: Option<String>,
}

super::cluster_of!(GatewayApiRouter);

impl GatewayApiRouter {
    /// It always splits by weight.
    fn all_at_once(&self) -> Option<&'static str> {
        None
    }
}

/// `HTTPRouteRule.backendRefs` maxItems in the Gateway API CRD.
pub const MAX_BACKEND_REFS: usize = 16;

pub struct GatewayApiRouterProvider {
    spec: GatewayApiRouter,
    cluster: LazyCluster,
    observer: Observer,
}

impl GatewayApiRouterProvider {
    /// Waits for the controller on `clock`, the command's one clock.
    pub fn new(spec: GatewayApiRouter, clock: Arc<dyn Clock>) -> Self {
        let cluster = LazyCluster::new(spec.cluster());
        Self {
            spec,
            cluster,
            observer: Observer::new(clock),
        }
    }

    fn pair(&self) -> Pair<'_> {
        Pair {
            stable: &self.spec.stable_service,
            new: &self.spec.new_service,
            default_weight: 1,
            max_items: MAX_BACKEND_REFS,
        }
    }

    /// Indexes of the rules greenlight owns.
    fn owned(&self, rules: &[Value]) -> Result<Vec<usize>, ProviderError> {
        let pair = self.pair();
        let mut owned = Vec::new();
        for (index, rule) in rules.iter().enumerate() {
            let named = str_at(rule, "name")
                .is_some_and(|name| self.spec.rules.iter().any(|own| own == name));
            let refs = rule.get("backendRefs").and_then(Value::as_array);
            let involved = refs.is_some_and(|refs| pair.involves(refs));
            if (self.spec.rules.is_empty() && involved) || named {
                owned.push(index);
            }
        }
        for name in &self.spec.rules {
            if !rules.iter().any(|rule| str_at(rule, "name") == Some(name)) {
                return Err(ProviderError::new(format!(
                    "HTTPRoute {} has no rule named `{name}`",
                    self.spec.route
                ))
                .with_hint("name the rule (`rules[].name`) or fix `router.gatewayApi.rules`"));
            }
        }
        if owned.is_empty() {
            return Err(ProviderError::new(format!(
                "no rule of HTTPRoute {} sends traffic to `{}` or `{}`",
                self.spec.route, self.spec.stable_service, self.spec.new_service
            ))
            .with_hint("add a backendRef to the stable Service, or list the rules in `router.gatewayApi.rules`"));
        }
        Ok(owned)
    }

    fn set_weights(&self, route: &mut Value, weight: Weight) -> Result<(), ProviderError> {
        let before = route.clone();
        let (stable, new) = split::weights(weight, 1);
        let rules = array_mut(route, &["spec", "rules"], "the HTTPRoute")?;
        for index in self.owned(rules)? {
            let what = format!("rule {index} of HTTPRoute {}", self.spec.route);
            let refs = array_mut(&mut rules[index], &["backendRefs"], &what)?;
            self.pair().write(refs, stable, new, &what)?;
        }
        if *route != before {
            managed::refuse_gitops_owner(&before, &Resource::http_route(), &["spec", "rules"])?;
        }
        Ok(())
    }

    fn read_weight(&self, route: &Value) -> Result<Weight, ProviderError> {
        let rules = route
            .pointer("/spec/rules")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let mut seen: Option<Weight> = None;
        for index in self.owned(rules)? {
            let refs = rules[index]
                .get("backendRefs")
                .and_then(Value::as_array)
                .map(Vec::as_slice)
                .unwrap_or_default();
            let what = format!("rule {index} of HTTPRoute {}", self.spec.route);
            let (stable, new) = self.pair().read(refs, &what)?;
            let weight = split::percent(stable, new, &what)?;
            if seen.is_some_and(|seen| seen != weight) {
                return Err(ProviderError::new(format!(
                    "the rules of HTTPRoute {} split traffic differently",
                    self.spec.route
                ))
                .with_hint("set the same weights in every owned rule, or list one in `router.gatewayApi.rules`"));
            }
            seen = Some(weight);
        }
        seen.ok_or_else(|| ProviderError::new("no owned rule"))
    }
}

/// The route conditions every Gateway API implementation writes per parent.
const CONDITIONS: [&str; 2] = ["Accepted", "ResolvedRefs"];

/// What `status.parents` says about `generation`: refused as soon as one
/// parent's controller refuses it (`Accepted` or `ResolvedRefs` False at that
/// generation), good once every parent has observed it and accepts it.
pub fn judge_parents(route: &Value, generation: i64, what: &str) -> Verdict {
    let parents = match observed::status_entries(route, "parents", "gateway controller", what) {
        Ok(parents) => parents,
        Err(silent) => return silent,
    };
    let mut pending = None;
    for parent in parents {
        let gateway = parent
            .pointer("/parentRef/name")
            .and_then(Value::as_str)
            .unwrap_or("its parent");
        let conditions = observed::conditions(parent);
        for kind in CONDITIONS {
            let condition = observed::condition(conditions, kind);
            let seen = condition
                .and_then(|condition| condition.get("observedGeneration"))
                .and_then(Value::as_i64);
            match condition {
                Some(condition)
                    if seen == Some(generation) && str_at(condition, "status") != Some("True") =>
                {
                    return Verdict::Bad(
                        ProviderError::new(format!(
                            "{what}: {gateway} reports {kind}={} ({}): {}",
                            str_at(condition, "status").unwrap_or("Unknown"),
                            str_at(condition, "reason").unwrap_or_default(),
                            str_at(condition, "message").unwrap_or_default()
                        ))
                        .with_hint("the gateway controller did not take the change; check that the route's backends exist (`kubectl describe httproute`)"),
                    );
                }
                // ResolvedRefs is left out by some implementations; Accepted never.
                None if kind != "Accepted" => {}
                _ if seen.is_some_and(|seen| seen >= generation) => {}
                _ => {
                    pending.get_or_insert_with(|| {
                        format!(
                            "waiting for the controller of {gateway} to observe generation {generation} of {what}"
                        )
                    });
                }
            }
        }
    }
    pending.map_or(Verdict::Good, Verdict::Pending)
}

#[async_trait]
impl Router for GatewayApiRouterProvider {
    fn describe(&self) -> String {
        format!(
            "HTTPRoute {}/{} (Gateway API)",
            self.cluster.namespace_hint(),
            self.spec.route
        )
    }

    fn plan(&self, weight: Weight) -> Vec<String> {
        let (stable, new) = split::weights(weight, 1);
        let rules = if self.spec.rules.is_empty() {
            "every rule routing to them".to_owned()
        } else {
            format!("rules {}", self.spec.rules.join(", "))
        };
        vec![format!(
            "HTTPRoute {}: backendRefs {} weight {stable}, {} weight {new} in {rules}; other rules and fields unchanged",
            self.spec.route, self.spec.stable_service, self.spec.new_service
        )]
    }

    /// Before anything is deployed: the route exists, and a GitOps
    /// controller that manages it is named with what to configure.
    async fn preflight(&self) -> Result<(), ProviderError> {
        let cluster = self.cluster.get().await?;
        let routes = Objects::new(cluster, Resource::http_route(), None);
        let route = routes.get_existing(&self.spec.route).await?;
        managed::refuse_gitops_owner(&route, &Resource::http_route(), &["spec", "rules"])?;
        if let Some(warning) =
            managed::gitops_warning(&route, &Resource::http_route(), &["/spec/rules"])
        {
            tracing::warn!("{warning}");
        }
        Ok(())
    }

    async fn weight(&self) -> Result<Weight, ProviderError> {
        let cluster = self.cluster.get().await?;
        let routes = Objects::new(cluster, Resource::http_route(), None);
        let route = routes.get_existing(&self.spec.route).await?;
        let what = routes.what(&self.spec.route);
        observed::unless_refused(self.read_weight(&route)?, &route, &what, judge_parents)
    }

    async fn set_weight(&self, weight: Weight) -> Result<(), ProviderError> {
        split::distinct(
            &self.spec.stable_service,
            &self.spec.new_service,
            &self.describe(),
        )?;
        let cluster = self.cluster.get().await?;
        let routes = Objects::new(cluster, Resource::http_route(), None);
        let written = read_modify_write(&routes, &self.spec.route, |route| {
            self.set_weights(route, weight)
        })
        .await?;
        self.observer
            .after_write(&routes, &self.spec.route, &written, weight, judge_parents)
            .await
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn route(accepted: (&str, i64), resolved: (&str, i64)) -> Value {
        json!({"metadata": {"generation": 3}, "status": {"parents": [{"parentRef": {"name": "public"},
            "conditions": [
                {"type": "Accepted", "status": accepted.0, "observedGeneration": accepted.1},
                {"type": "ResolvedRefs", "status": resolved.0, "observedGeneration": resolved.1,
                 "reason": "BackendNotFound", "message": "service \"webb-v2\" not found"}]}]}})
    }

    #[test]
    fn only_the_new_generations_conditions_decide() {
        assert_eq!(
            judge_parents(&route(("True", 3), ("True", 3)), 3, "r"),
            Verdict::Good
        );
        // The old generation was fine; the new one is not observed yet.
        assert!(matches!(
            judge_parents(&route(("True", 2), ("True", 2)), 3, "r"),
            Verdict::Pending(_)
        ));
        // A refusal of an old generation says nothing about this one.
        assert!(matches!(
            judge_parents(&route(("True", 2), ("False", 2)), 3, "r"),
            Verdict::Pending(_)
        ));
        match judge_parents(&route(("True", 3), ("False", 3)), 3, "HTTPRoute shop/web") {
            Verdict::Bad(error) => assert_eq!(
                error.message,
                "HTTPRoute shop/web: public reports ResolvedRefs=False (BackendNotFound): service \"webb-v2\" not found"
            ),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            judge_parents(&json!({}), 3, "r"),
            Verdict::Silent(_)
        ));
    }
}

super::kubernetes_router_settings!(route GatewayApiRouter, "gatewayApi", GatewayApiRouterProvider);
