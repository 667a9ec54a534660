//! `router: openshift`: a Route's `spec.to` and `alternateBackends` (seed 004).
//! Weights run 0–256 and a Route has at most 3 alternate backends. Percentages
//! map the way `oc set route-backends` does: ×2, so 99%/1% is 198/2 and every
//! whole percentage is exact. Blue/green (`switch`) changes `spec.to.name`.

use async_trait::async_trait;
use serde_json::{Value, json};

use super::{Router, Weight, split};
use crate::kubernetes::json::{array_mut, map_mut, str_at, weight_at};
use crate::kubernetes::objects::Objects;
use crate::kubernetes::update::read_modify_write;
use crate::kubernetes::{LazyCluster, Resource};
use crate::provider::ProviderError;
use crate::spec::types::OpenshiftRouter;

/// `RouteSpec.alternateBackends` maxItems.
pub const MAX_ALTERNATE_BACKENDS: usize = 3;
/// Percent to Route weight: 100% is 200, inside the 0–256 range.
const SCALE: i64 = 2;
/// The API's default `weight`.
const DEFAULT_WEIGHT: i64 = 100;

pub struct OpenshiftRouterProvider {
    spec: OpenshiftRouter,
    cluster: LazyCluster,
}

impl OpenshiftRouterProvider {
    pub fn new(spec: OpenshiftRouter) -> Self {
        let cluster = LazyCluster::new(spec.cluster());
        Self { spec, cluster }
    }

    fn what(&self) -> String {
        format!("Route {}", self.spec.route)
    }

    fn set(&self, route: &mut Value, weight: Weight) -> Result<(), ProviderError> {
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
        self.put_stable_first(route)?;
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
        // Leftovers of earlier rollouts at weight 0 make room for this one.
        alternates.retain(|backend| {
            str_at(backend, "name") == Some(new_name) || weight_at(backend, DEFAULT_WEIGHT) != 0
        });
        if alternates.len() > MAX_ALTERNATE_BACKENDS {
            return Err(ProviderError::new(format!(
                "{what} would have {} alternateBackends; a Route allows at most {MAX_ALTERNATE_BACKENDS}",
                alternates.len()
            ))
            .with_hint("remove alternate backends of other versions from the Route"));
        }
        Ok(())
    }

    /// A promotion leaves `spec.to` on the version it replaced (at weight 0) and
    /// the promoted Service among the alternates; on the next rollout that
    /// Service is the stable one. Make it `spec.to` again, so every rollout,
    /// and a rollback from 100%, starts from the same shape. A `spec.to` that
    /// still carries traffic and is neither version is left for the check
    /// that refuses it.
    fn put_stable_first(&self, route: &mut Value) -> Result<(), ProviderError> {
        let what = self.what();
        let (stable_name, new_name) = (&self.spec.stable_service, &self.spec.new_service);
        let old_to = route.pointer("/spec/to").cloned().unwrap_or_default();
        let old_name = str_at(&old_to, "name");
        if old_name == Some(stable_name) {
            return Ok(());
        }
        let old_is_new = old_name == Some(new_name);
        if !old_is_new && weight_at(&old_to, DEFAULT_WEIGHT) != 0 {
            return Ok(());
        }
        let alternates = array_mut(route, &["spec", "alternateBackends"], &what)?;
        let Some(index) = alternates
            .iter()
            .position(|backend| str_at(backend, "name") == Some(stable_name))
        else {
            return Ok(());
        };
        let stable_entry = alternates.remove(index);
        if old_is_new {
            alternates.push(old_to);
        }
        if let Some(to) = route.pointer_mut("/spec/to") {
            *to = stable_entry;
        }
        Ok(())
    }

    fn read(&self, route: &Value) -> Result<Weight, ProviderError> {
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
        let new = route
            .pointer("/spec/alternateBackends")
            .and_then(Value::as_array)
            .and_then(|alternates| {
                alternates
                    .iter()
                    .find(|backend| str_at(backend, "name") == Some(&self.spec.new_service))
            })
            .map_or(0, |backend| weight_at(backend, DEFAULT_WEIGHT));
        split::percent(weight_at(&to, DEFAULT_WEIGHT), new, &what)
    }
}

/// The router admits a Route per host; `Admitted=False` means the change is not live.
fn check_ingress(route: &Value, what: &str) -> Result<(), ProviderError> {
    let ingresses = route
        .pointer("/status/ingress")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    for ingress in ingresses {
        let conditions = ingress.get("conditions").and_then(Value::as_array);
        for condition in conditions.into_iter().flatten() {
            if str_at(condition, "type") == Some("Admitted")
                && str_at(condition, "status") == Some("False")
            {
                return Err(ProviderError::new(format!(
                    "{what} is not admitted by router {}: {}",
                    str_at(ingress, "routerName").unwrap_or("?"),
                    str_at(condition, "message").unwrap_or_default()
                ))
                .with_hint("`oc describe route` shows why the router refused it"));
            }
        }
    }
    Ok(())
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
        check_ingress(&route, &routes.what(&self.spec.route))?;
        self.read(&route)
    }

    async fn set_weight(&self, weight: Weight) -> Result<(), ProviderError> {
        split::distinct(
            &self.spec.stable_service,
            &self.spec.new_service,
            &self.describe(),
        )?;
        let cluster = self.cluster.get().await?;
        let routes = Objects::new(cluster, Resource::openshift_route(), None);
        read_modify_write(&routes, &self.spec.route, |route| self.set(route, weight))
            .await
            .map(drop)
    }
}
