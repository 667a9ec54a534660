//! `router: openshift`: a Route's `spec.to` and `alternateBackends`.
//! Weights run 0–256 and a Route has at most 3 alternate backends. greenlight
//! writes a percentage ×2 (its own choice: 99%/1% is 198/2, so every whole
//! percentage is exact). Blue/green (`switch`) changes `spec.to.name`.
//!
//! Every backend counts: one that is neither version and still has a weight
//! is refused before anything is written, and a backend greenlight did not add
//! is never removed while it has ready endpoints (weight 0 still serves open
//! persistent connections). The OpenShift router weighs endpoints, not
//! Services, and gives each at least weight 1, so the real share can differ
//! from the one written: greenlight computes it from the ready endpoints and
//! warns. Weighted backends need `haproxy.router.openshift.io/balance:
//! roundrobin`; it is checked before the rollout.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{Router, Weight, split};
use crate::clock::Clock;
use crate::kubernetes::json::{array_mut, map_mut, str_at, weight_at};
use crate::kubernetes::managed;
use crate::kubernetes::objects::Objects;
use crate::kubernetes::observed::{self, Observer, Verdict};
use crate::kubernetes::update::read_modify_write;
use crate::kubernetes::{Cluster, LazyCluster, Resource, endpoints};
use crate::provider::ProviderError;

/// `router: openshift`: a Route's `spec.to` and `alternateBackends`.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct OpenshiftRouter {
    /// The Route's name.
    pub route: String,
    pub stable_service: String,
    pub new_service: String,
    /// Blue/green: switch `spec.to.name` instead of splitting by weights.
    #[serde(default)]
    pub switch: bool,
    pub context: Option<String>,
    pub namespace: Option<String>,
}

super::cluster_of!(OpenshiftRouter);

impl OpenshiftRouter {
    /// `switch: true` moves `spec.to` whole: no weight between 0 and 100.
    fn all_at_once(&self) -> Option<&'static str> {
        self.switch.then_some("an OpenShift Route switch")
    }
}

/// `RouteSpec.alternateBackends` maxItems.
pub const MAX_ALTERNATE_BACKENDS: usize = 3;
/// Percent to Route weight: 100% is 200, inside the 0–256 range.
const SCALE: i64 = 2;
/// The API's default `weight`.
const DEFAULT_WEIGHT: i64 = 100;
/// The annotation that picks the router's balancing algorithm.
pub const BALANCE_ANNOTATION: &str = "haproxy.router.openshift.io/balance";
/// The highest weight the OpenShift router gives one endpoint.
const ENDPOINT_SCALE: f64 = 256.0;
/// How far (in percentage points) the real share may be from the one written
/// before greenlight warns.
const ROUNDING_TOLERANCE: f64 = 1.0;

/// The fields greenlight rewrites.
const OWNED_FIELDS: [[&str; 2]; 2] = [["spec", "to"], ["spec", "alternateBackends"]];

/// Refuses a Route whose backends a GitOps controller owns.
fn refuse_gitops_owners(route: &Value) -> Result<(), ProviderError> {
    OWNED_FIELDS.iter().try_for_each(|field| {
        managed::refuse_gitops_owner(route, &Resource::openshift_route(), field)
    })
}

/// Ready endpoints per Service name.
type Ready = BTreeMap<String, usize>;

pub struct OpenshiftRouterProvider {
    spec: OpenshiftRouter,
    cluster: LazyCluster,
    observer: Observer,
}

/// Every backend of a Route: `spec.to` first, then the alternates, as (name, weight).
fn backends(route: &Value) -> Vec<(String, i64)> {
    let to = route.pointer("/spec/to").into_iter();
    let alternates = route
        .pointer("/spec/alternateBackends")
        .and_then(Value::as_array)
        .into_iter()
        .flatten();
    to.chain(alternates)
        .map(|backend| {
            (
                str_at(backend, "name").unwrap_or_default().to_owned(),
                weight_at(backend, DEFAULT_WEIGHT),
            )
        })
        .collect()
}

/// The share (percent) each backend really gets from the OpenShift router:
/// it divides a Service's weight among its ready endpoints, scales the
/// largest endpoint weight to 256, truncates, and gives every endpoint of a
/// weighted Service at least 1 (openshift/router `calculateServiceWeights`).
/// `backends` are (weight, ready endpoints); `None` when nothing is served.
pub fn endpoint_shares(backends: &[(i64, usize)]) -> Option<Vec<f64>> {
    let per_endpoint: Vec<f64> = backends
        .iter()
        .map(|&(weight, ready)| {
            if ready == 0 {
                0.0
            } else {
                weight as f64 / ready as f64
            }
        })
        .collect();
    let max = per_endpoint.iter().copied().fold(0.0, f64::max);
    if max <= 0.0 {
        return None;
    }
    let served: Vec<f64> = backends
        .iter()
        .zip(&per_endpoint)
        .map(|(&(_, ready), &each)| {
            let scaled = (each * ENDPOINT_SCALE / max).trunc();
            let scaled = if each > 0.0 { scaled.max(1.0) } else { 0.0 };
            scaled * ready as f64
        })
        .collect();
    let total: f64 = served.iter().sum();
    Some(served.iter().map(|each| each * 100.0 / total).collect())
}

impl OpenshiftRouterProvider {
    /// Waits for the controller on `clock`, the command's one clock.
    pub fn new(spec: OpenshiftRouter, clock: Arc<dyn Clock>) -> Self {
        let cluster = LazyCluster::new(spec.cluster());
        Self {
            spec,
            cluster,
            observer: Observer::new(clock),
        }
    }

    fn is_ours(&self, name: &str) -> bool {
        name == self.spec.stable_service || name == self.spec.new_service
    }

    /// A backend that is neither version and still has a weight makes every
    /// split greenlight reads or writes a lie: refused.
    fn refuse_foreign_traffic(&self, route: &Value) -> Result<(), ProviderError> {
        let Some((name, weight)) = backends(route)
            .into_iter()
            .find(|(name, weight)| !self.is_ours(name) && *weight > 0)
        else {
            return Ok(());
        };
        let mut others: Vec<String> = backends(route)
            .into_iter()
            .filter(|(other, _)| *other != name)
            .map(|(other, weight)| format!("{other}={weight}"))
            .collect();
        others.push(format!("{name}=0"));
        Err(ProviderError::new(format!(
            "{} also sends traffic to `{name}` (weight {weight}), which is neither the stable `{}` nor the new `{}`; the split greenlight sets would not be the one users get",
            self.what(),
            self.spec.stable_service,
            self.spec.new_service
        ))
        .with_hint(format!(
            "finish or roll back the rollout that added it, or take its traffic away first: `oc set route-backends {} {}`",
            self.spec.route,
            others.join(" ")
        )))
    }

    /// Warns when the annotation weighted backends need is missing.
    fn check_balance(&self, route: &Value) {
        if self.spec.switch {
            return;
        }
        let balance = route
            .pointer("/metadata/annotations")
            .and_then(|annotations| annotations.get(BALANCE_ANNOTATION))
            .and_then(Value::as_str);
        if balance != Some("roundrobin") {
            tracing::warn!(
                "{} has `{BALANCE_ANNOTATION}: {}`; weighted backends are split as set only with `roundrobin`. Set it with `oc annotate route {} {BALANCE_ANNOTATION}=roundrobin --overwrite` (or in the Route's manifest)",
                self.what(),
                balance.unwrap_or("(not set)"),
                self.spec.route
            );
        }
    }

    /// Ready endpoints of every Service the Route names.
    async fn ready_endpoints(
        &self,
        cluster: &Cluster,
        route: &Value,
    ) -> Result<Ready, ProviderError> {
        let mut ready = Ready::new();
        let mut names: Vec<String> = backends(route).into_iter().map(|(name, _)| name).collect();
        names.push(self.spec.new_service.clone());
        names.sort();
        names.dedup();
        for name in names {
            let count = endpoints::ready(cluster, None, &name).await?;
            ready.insert(name, count);
        }
        Ok(ready)
    }

    /// Warns when endpoint weighting makes the new version's real share
    /// differ from `weight` by more than a point.
    fn check_rounding(&self, route: &Value, ready: &Ready, weight: Weight) {
        if self.spec.switch {
            return;
        }
        let listed = backends(route);
        let counted: Vec<(i64, usize)> = listed
            .iter()
            .map(|(name, weight)| (*weight, ready.get(name).copied().unwrap_or(0)))
            .collect();
        let Some(shares) = endpoint_shares(&counted) else {
            return;
        };
        let real: f64 = listed
            .iter()
            .zip(&shares)
            .filter(|((name, _), _)| *name == self.spec.new_service)
            .map(|(_, share)| share)
            .sum();
        let set = f64::from(weight.percent());
        if (real - set).abs() > ROUNDING_TOLERANCE {
            let endpoints: Vec<String> = listed
                .iter()
                .map(|(name, _)| format!("{name}: {}", ready.get(name).copied().unwrap_or(0)))
                .collect();
            tracing::warn!(
                "{} sends the new version about {real:.1}% of requests, not {set}%: the OpenShift router weighs each endpoint and gives every one at least weight 1 (ready endpoints {})",
                self.what(),
                endpoints.join(", ")
            );
        }
    }

    fn what(&self) -> String {
        format!("Route {}", self.spec.route)
    }

    fn set(&self, route: &mut Value, weight: Weight, ready: &Ready) -> Result<(), ProviderError> {
        self.refuse_foreign_traffic(route)?;
        let what = self.what();
        let (stable_name, new_name) = (&self.spec.stable_service, &self.spec.new_service);
        if self.spec.switch {
            let to_new = split::all_or_nothing(weight, &format!("{what} (switch)"))?;
            let to = map_mut(route, &["spec", "to"], &what)?;
            to.insert(
                "name".into(),
                json!(if to_new { new_name } else { stable_name }),
            );
            return Ok(());
        }
        let (stable, new) = split::weights(weight, SCALE);
        self.put_stable_first(route);
        let to = map_mut(route, &["spec", "to"], &what)?;
        if to.get("name").and_then(Value::as_str) != Some(stable_name) {
            return Err(ProviderError::new(format!(
                "{what} sends `spec.to` to {}, not to the stable Service `{stable_name}`",
                to.get("name").and_then(Value::as_str).unwrap_or("nothing")
            ))
            .with_hint(
                "point `spec.to` at the stable Service, or fix `router.openshift.stableService`",
            ));
        }
        to.insert("weight".into(), json!(stable));
        let spec = map_mut(route, &["spec"], &what)?;
        spec.entry("alternateBackends").or_insert_with(|| json!([]));
        let alternates = array_mut(route, &["spec", "alternateBackends"], &what)?;
        match alternates
            .iter_mut()
            .find(|backend| str_at(backend, "name") == Some(new_name))
        {
            Some(backend) => backend["weight"] = json!(new),
            None if new > 0 => {
                alternates.push(json!({"kind": "Service", "name": new_name, "weight": new}))
            }
            None => {}
        }
        // Leftovers at weight 0 whose Service serves nothing (no ready
        // endpoints, so no open connection either) make room for this one;
        // any other backend is kept.
        alternates.retain(|backend| {
            let name = str_at(backend, "name").unwrap_or_default();
            self.is_ours(name)
                || weight_at(backend, DEFAULT_WEIGHT) != 0
                || ready.get(name).is_none_or(|count| *count > 0)
        });
        if alternates.len() > MAX_ALTERNATE_BACKENDS {
            return Err(ProviderError::new(format!(
                "{what} would have {} alternateBackends; a Route allows at most {MAX_ALTERNATE_BACKENDS}",
                alternates.len()
            ))
            .with_hint("remove alternate backends of other versions from the Route once their connections are gone (greenlight removes only those with no ready endpoints)"));
        }
        Ok(())
    }

    /// A promotion leaves `spec.to` on the version it replaced (at weight 0) and
    /// the promoted Service among the alternates; on the next rollout that
    /// Service is the stable one. Make it `spec.to` again, so every rollout,
    /// and a rollback from 100%, starts from the same shape. A `spec.to` that
    /// still carries traffic and is neither version is left for the check
    /// that refuses it. The backend moved out of `spec.to` stays among the
    /// alternates (the clean-up in `set` decides whether it can go).
    fn put_stable_first(&self, route: &mut Value) {
        let stable_name = &self.spec.stable_service;
        let old_to = route.pointer("/spec/to").cloned().unwrap_or_default();
        let old_name = str_at(&old_to, "name");
        if old_name == Some(stable_name) {
            return;
        }
        if old_name != Some(&self.spec.new_service) && weight_at(&old_to, DEFAULT_WEIGHT) != 0 {
            return;
        }
        let Some(alternates) = route
            .pointer_mut("/spec/alternateBackends")
            .and_then(Value::as_array_mut)
        else {
            return;
        };
        let Some(index) = alternates
            .iter()
            .position(|backend| str_at(backend, "name") == Some(stable_name))
        else {
            return;
        };
        let stable_entry = alternates.remove(index);
        alternates.push(old_to);
        if let Some(to) = route.pointer_mut("/spec/to") {
            *to = stable_entry;
        }
    }

    fn read(&self, route: &Value) -> Result<Weight, ProviderError> {
        self.refuse_foreign_traffic(route)?;
        let what = self.what();
        let to = route.pointer("/spec/to").cloned().unwrap_or_default();
        let to_name = str_at(&to, "name");
        if to_name == Some(&self.spec.new_service) {
            return Ok(Weight::FULL);
        }
        if to_name != Some(&self.spec.stable_service) {
            return Err(ProviderError::new(format!(
                "{what} sends `spec.to` to neither `{}` nor `{}`",
                self.spec.stable_service, self.spec.new_service
            )));
        }
        if self.spec.switch {
            return Ok(Weight::ZERO);
        }
        // Every backend counts: the new version's share of all of them.
        let all = backends(route);
        let total: i64 = all.iter().map(|(_, weight)| weight).sum();
        let new: i64 = all
            .iter()
            .filter(|(name, _)| *name == self.spec.new_service)
            .map(|(_, weight)| weight)
            .sum();
        split::percent(total - new, new, &what)
    }
}

/// What `status.ingress` says: a router that refuses the Route
/// (`Admitted=False`) voids the change; one that has not admitted it yet is
/// waited for. Route conditions carry no generation, and a router rewrites
/// them only when its verdict changes, so an admitted Route cannot show that
/// this change was applied: that is said once, and the read-back decides.
pub fn judge_ingress(route: &Value, _generation: i64, what: &str) -> Verdict {
    let ingresses = match observed::status_entries(route, "ingress", "OpenShift router", what) {
        Ok(ingresses) => ingresses,
        Err(silent) => return silent,
    };
    let mut pending = None;
    for ingress in ingresses {
        let router = str_at(ingress, "routerName").unwrap_or("?");
        match observed::condition(observed::conditions(ingress), "Admitted") {
            Some(admitted) if str_at(admitted, "status") == Some("True") => {}
            Some(admitted) if str_at(admitted, "status") == Some("False") => {
                return Verdict::Bad(
                    ProviderError::new(format!(
                        "{what} is not admitted by router {router}: {}",
                        str_at(admitted, "message").unwrap_or_default()
                    ))
                    .with_hint("`oc describe route` shows why the router refused it"),
                );
            }
            _ => {
                pending
                    .get_or_insert_with(|| format!("waiting for router {router} to admit {what}"));
            }
        }
    }
    pending.map_or_else(
        || {
            Verdict::Silent(format!(
                "the status of {what} carries no generation (an admitted Route does not show that a change was applied)"
            ))
        },
        Verdict::Pending,
    )
}

#[async_trait]
impl Router for OpenshiftRouterProvider {
    fn describe(&self) -> String {
        format!(
            "Route {}/{} (OpenShift)",
            self.cluster.namespace_hint(),
            self.spec.route
        )
    }

    fn plan(&self, weight: Weight) -> Vec<String> {
        if self.spec.switch {
            let to = if weight == Weight::ZERO {
                &self.spec.stable_service
            } else {
                &self.spec.new_service
            };
            return vec![format!("Route {}: spec.to.name = {to}", self.spec.route)];
        }
        let (stable, new) = split::weights(weight, SCALE);
        vec![format!(
            "Route {}: spec.to {} weight {stable}, alternateBackends {} weight {new}",
            self.spec.route, self.spec.stable_service, self.spec.new_service
        )]
    }

    async fn weight(&self) -> Result<Weight, ProviderError> {
        let cluster = self.cluster.get().await?;
        let routes = Objects::new(cluster, Resource::openshift_route(), None);
        let route = routes.get_existing(&self.spec.route).await?;
        let what = routes.what(&self.spec.route);
        observed::unless_refused(self.read(&route)?, &route, &what, judge_ingress)
    }

    /// Before anything is deployed: the Route exists, sends no traffic to a
    /// third backend, and has the balance annotation weights need.
    async fn preflight(&self) -> Result<(), ProviderError> {
        let cluster = self.cluster.get().await?;
        let routes = Objects::new(cluster, Resource::openshift_route(), None);
        let route = routes.get_existing(&self.spec.route).await?;
        self.refuse_foreign_traffic(&route)?;
        refuse_gitops_owners(&route)?;
        self.check_balance(&route);
        if let Some(warning) = managed::gitops_warning(
            &route,
            &Resource::openshift_route(),
            &["/spec/to", "/spec/alternateBackends"],
        ) {
            tracing::warn!("{warning}");
        }
        Ok(())
    }

    async fn set_weight(&self, weight: Weight) -> Result<(), ProviderError> {
        split::distinct(
            &self.spec.stable_service,
            &self.spec.new_service,
            &self.describe(),
        )?;
        let cluster = self.cluster.get().await?;
        let routes = Objects::new(cluster, Resource::openshift_route(), None);
        let current = routes.get_existing(&self.spec.route).await?;
        self.refuse_foreign_traffic(&current)?;
        let ready = self.ready_endpoints(cluster, &current).await?;
        let written = read_modify_write(&routes, &self.spec.route, |route| {
            let before = route.clone();
            self.set(route, weight, &ready)?;
            if *route != before {
                refuse_gitops_owners(&before)?;
            }
            Ok(())
        })
        .await?;
        self.observer
            .after_write(&routes, &self.spec.route, &written, weight, judge_ingress)
            .await?;
        self.check_rounding(&written, &ready, weight);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_weighting_follows_the_openshift_router() {
        // 99/1 over 2 and 10 pods: each new pod still gets weight 1.
        let shares = endpoint_shares(&[(198, 2), (2, 10)]).unwrap();
        assert!(
            (shares[1] - 10.0 * 100.0 / 522.0).abs() < 1e-9,
            "{shares:?}"
        );
        // 90/10 over 2 pods each: truncation costs a little, under a point.
        let shares = endpoint_shares(&[(180, 2), (20, 2)]).unwrap();
        assert!(
            (shares[1] - 56.0 * 100.0 / 568.0).abs() < 1e-9,
            "{shares:?}"
        );
        // A Service without ready endpoints serves nothing, whatever its weight.
        assert_eq!(
            endpoint_shares(&[(100, 3), (100, 0)]).unwrap(),
            vec![100.0, 0.0]
        );
        assert_eq!(endpoint_shares(&[(100, 0)]), None);
    }

    #[test]
    fn a_refusing_router_fails_and_an_admitted_route_cannot_tell() {
        let route = |status: &str| {
            json!({"status": {"ingress": [{"routerName": "default",
                "conditions": [{"type": "Admitted", "status": status, "message": "host taken"}]}]}})
        };
        match judge_ingress(&route("False"), 3, "Route shop/web") {
            Verdict::Bad(error) => assert_eq!(
                error.message,
                "Route shop/web is not admitted by router default: host taken"
            ),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            judge_ingress(&route("True"), 3, "r"),
            Verdict::Silent(_)
        ));
        assert!(matches!(
            judge_ingress(&route("Unknown"), 3, "r"),
            Verdict::Pending(_)
        ));
        assert!(matches!(
            judge_ingress(&json!({}), 3, "r"),
            Verdict::Silent(_)
        ));
    }
}

super::kubernetes_router_settings!(route OpenshiftRouter, "openshift", OpenshiftRouterProvider);
