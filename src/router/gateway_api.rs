//! `router: gatewayApi`: weights of the stable and new `backendRefs` in the
//! HTTPRoute rules greenlight owns. `rules` and `backendRefs` are atomic lists,
//! so the route is read, changed in memory and written back whole on its
//! `resourceVersion`: every other rule, match, filter and field is written back
//! exactly as read (Flagger rewrites them: fluxcd/flagger#1857).

use async_trait::async_trait;
use serde_json::Value;

use super::backends::Pair;
use super::{Router, Weight, split};
use crate::kubernetes::json::{array_mut, str_at};
use crate::kubernetes::objects::Objects;
use crate::kubernetes::update::read_modify_write;
use crate::kubernetes::{LazyCluster, Resource};
use crate::provider::ProviderError;
use crate::spec::types::GatewayApiRouter;

/// `HTTPRouteRule.backendRefs` maxItems in the Gateway API CRD.
pub const MAX_BACKEND_REFS: usize = 16;

pub struct GatewayApiRouterProvider {
    spec: GatewayApiRouter,
    cluster: LazyCluster,
}

impl GatewayApiRouterProvider {
    pub fn new(spec: GatewayApiRouter) -> Self {
        let cluster = LazyCluster::new(spec.cluster());
        Self { spec, cluster }
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
        let (stable, new) = split::weights(weight, 1);
        let rules = array_mut(route, &["spec", "rules"], "the HTTPRoute")?;
        for index in self.owned(rules)? {
            let what = format!("rule {index} of HTTPRoute {}", self.spec.route);
            let refs = array_mut(&mut rules[index], &["backendRefs"], &what)?;
            self.pair().write(refs, stable, new, &what)?;
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

/// A controller that writes `status.parents` and refuses the current
/// generation (not accepted, or its refs unresolved) makes the change void.
pub fn check_parents(route: &Value, what: &str) -> Result<(), ProviderError> {
    let generation = route
        .pointer("/metadata/generation")
        .and_then(Value::as_i64);
    let parents = route
        .pointer("/status/parents")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    for parent in parents {
        let conditions = parent
            .get("conditions")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default();
        for condition in conditions {
            let kind = str_at(condition, "type").unwrap_or_default();
            let current = condition.get("observedGeneration").and_then(Value::as_i64) == generation;
            if ["Accepted", "ResolvedRefs"].contains(&kind)
                && str_at(condition, "status") == Some("False")
                && current
            {
                let gateway = parent
                    .pointer("/parentRef/name")
                    .and_then(Value::as_str)
                    .unwrap_or("its parent");
                return Err(ProviderError::new(format!(
                    "{what}: {gateway} reports {kind}=False ({}): {}",
                    str_at(condition, "reason").unwrap_or_default(),
                    str_at(condition, "message").unwrap_or_default()
                ))
                .with_hint("the gateway controller did not take the change; check the route's backends exist"));
            }
        }
    }
    Ok(())
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

    async fn weight(&self) -> Result<Weight, ProviderError> {
        let cluster = self.cluster.get().await?;
        let routes = Objects::new(cluster, Resource::http_route(), None);
        let route = routes.get_existing(&self.spec.route).await?;
        check_parents(&route, &routes.what(&self.spec.route))?;
        self.read_weight(&route)
    }

    async fn set_weight(&self, weight: Weight) -> Result<(), ProviderError> {
        split::distinct(
            &self.spec.stable_service,
            &self.spec.new_service,
            &self.describe(),
        )?;
        let cluster = self.cluster.get().await?;
        let routes = Objects::new(cluster, Resource::http_route(), None);
        read_modify_write(&routes, &self.spec.route, |route| {
            self.set_weights(route, weight)
        })
        .await
        .map(drop)
    }
}
