//! `router: edgelb`: one backend of a DC/OS Edge-LB pool (API version V2).
//!
//! The pool is read (`GET /service/edgelb/v2/pools/{name}`), the backend's service
//! entries for the stable and the new Marathon service are rewritten, and the whole pool
//! is written back (`PUT`), then read back. Blue/green (`mode: switch`) moves the entry's
//! `marathon.serviceID` from one service to the other; a canary (`mode: weighted`)
//! keeps both entries with `endpoint.miscStr: "weight N"`. Everything else in the pool
//! is written back exactly as it was read, so going back to 0% restores the pool.

use std::time::Duration;

use async_trait::async_trait;
use reqwest::Method;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Router, Weight};
use crate::dcos;
use crate::duration::Span;
use crate::field::{FieldPath, Problem, problem};
use crate::provider::ProviderError;

/// A backend of an Edge-LB pool (API version V2) that load-balances the stable
/// version's Marathon service. Only that backend's entries for the two services change;
/// the rest of the pool is written back as it was read.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct EdgeLbRouterSpec {
    /// The cluster's base URL; the pools API is under `/service/edgelb/v2/pools`.
    pub url: String,
    /// The environment variable holding a DC/OS ACS token, sent as
    /// `Authorization: token=…` and never shown.
    pub token_env: Option<String>,
    /// A PEM file of CA certificates to trust besides the system's (the cluster's CA).
    pub ca_file: Option<String>,
    pub pool: String,
    /// `haproxy.backends[].name`.
    pub backend: String,
    /// The stable version's Marathon service ID, e.g. `/svc-{{ stable_version }}`.
    pub stable_service: String,
    /// The new version's Marathon service ID, e.g. `/svc-{{ version }}`.
    pub new_service: String,
    /// `switch`: the backend serves one service at a time (blue/green, 0% or 100%).
    /// `weighted`: both services with `endpoint.miscStr: "weight N"` (canary).
    #[serde(default)]
    pub mode: EdgeLbMode,
    /// Bound on one API request (default 10s).
    #[serde(default = "default_timeout")]
    pub timeout: Span,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum EdgeLbMode {
    #[default]
    Switch,
    Weighted,
}

fn default_timeout() -> Span {
    Span::from_secs(10)
}

impl super::RouterSettings for EdgeLbRouterSpec {
    fn kind(&self) -> &'static str {
        "edgelb"
    }

    /// A backend entry can be narrowed to some tasks (`mesos.taskIDPattern`).
    fn serves_single_tasks(&self) -> bool {
        true
    }

    /// Every name must be given.
    fn check(&self, path: FieldPath, problems: &mut Vec<Problem>) {
        for (text, field) in [
            (&self.url, "url"),
            (&self.pool, "pool"),
            (&self.backend, "backend"),
            (&self.stable_service, "stableService"),
            (&self.new_service, "newService"),
        ] {
            if text.trim().is_empty() {
                problems.push(problem(path.key(field), "must not be empty"));
            }
        }
    }

    /// `mode: switch` moves the backend's Marathon service whole.
    fn switches(&self) -> Option<&'static str> {
        (self.mode == EdgeLbMode::Switch).then_some("an Edge-LB service switch")
    }

    fn build(
        &self,
        context: &crate::provider::ProviderContext,
    ) -> Result<Box<dyn Router>, ProviderError> {
        Ok(Box::new(EdgeLbRouter::new(
            self.clone(),
            &context.base_dir,
        )?))
    }
}

pub struct EdgeLbRouter {
    spec: EdgeLbRouterSpec,
    client: dcos::Client,
}

impl EdgeLbRouter {
    pub fn new(spec: EdgeLbRouterSpec, base_dir: &std::path::Path) -> Result<Self, ProviderError> {
        let client = dcos::Client::new(
            "Edge-LB",
            dcos::Connection {
                url: &spec.url,
                token_env: spec.token_env.as_deref(),
                ca_file: spec.ca_file.as_deref(),
            },
            base_dir,
            spec.timeout.get().max(Duration::from_secs(1)),
        )?;
        Ok(Self { spec, client })
    }

    fn pool_path(&self) -> String {
        format!("/service/edgelb/v2/pools/{}", self.spec.pool)
    }

    pub async fn read_pool(&self) -> Result<Value, ProviderError> {
        self.client
            .expect_success(Method::GET, &self.pool_path(), None)
            .await
            .map_err(|error| error.context(format!("reading Edge-LB pool {}", self.spec.pool)))
    }

    /// The backend's service entries, or an error naming what the pool holds.
    fn services<'a>(&self, pool: &'a Value) -> Result<&'a Vec<Value>, ProviderError> {
        let backends = pool
            .pointer("/haproxy/backends")
            .and_then(Value::as_array)
            .ok_or_else(|| {
                ProviderError::new(format!(
                    "Edge-LB pool {} has no haproxy.backends",
                    self.spec.pool
                ))
            })?;
        let backend = backends
            .iter()
            .find(|backend| backend.get("name").and_then(Value::as_str) == Some(&self.spec.backend))
            .ok_or_else(|| {
                let names: Vec<&str> = backends
                    .iter()
                    .filter_map(|backend| backend.get("name").and_then(Value::as_str))
                    .collect();
                ProviderError::new(format!(
                    "Edge-LB pool {} has no backend `{}` (it has: {})",
                    self.spec.pool,
                    self.spec.backend,
                    names.join(", ")
                ))
            })?;
        backend
            .get("services")
            .and_then(Value::as_array)
            .ok_or_else(|| {
                ProviderError::new(format!(
                    "backend `{}` of Edge-LB pool {} has no services",
                    self.spec.backend, self.spec.pool
                ))
            })
    }

    fn services_mut<'a>(&self, pool: &'a mut Value) -> Option<&'a mut Vec<Value>> {
        pool.pointer_mut("/haproxy/backends")?
            .as_array_mut()?
            .iter_mut()
            .find(|backend| {
                backend.get("name").and_then(Value::as_str) == Some(&self.spec.backend)
            })?
            .get_mut("services")?
            .as_array_mut()
    }

    /// The new version's share of the backend as the pool holds it.
    pub fn weight_of(&self, pool: &Value) -> Result<Weight, ProviderError> {
        let services = self.services(pool)?;
        let weight_of = |id: &str| -> u32 {
            services
                .iter()
                .filter(|service| service_id(service) == Some(id))
                .map(|service| endpoint_weight(service).unwrap_or(1))
                .sum()
        };
        let stable = weight_of(&self.spec.stable_service);
        let new = weight_of(&self.spec.new_service);
        let percent = match (stable, new) {
            (0, 0) => {
                return Err(ProviderError::new(format!(
                    "backend `{}` of Edge-LB pool {} serves neither {} nor {}",
                    self.spec.backend,
                    self.spec.pool,
                    self.spec.stable_service,
                    self.spec.new_service
                ))
                .with_hint("point the backend's marathon.serviceID at the stable version's app"));
            }
            (_, 0) => 0,
            (0, _) => 100,
            (stable, new) => (f64::from(new) * 100.0 / f64::from(stable + new)).round() as u8,
        };
        Weight::new(percent.min(100))
            .ok_or_else(|| ProviderError::new(format!("{percent}% is not a weight")))
    }

    /// `pool` with the backend sending `weight` to the new service. The stable entry is
    /// the template of the new one, so both keep the endpoint settings the user chose.
    pub fn with_weight(&self, pool: &Value, weight: Weight) -> Result<Value, ProviderError> {
        let template = self.template_entry(pool)?;
        let percent = u32::from(weight.percent());
        let entry = |id: &str, share: Option<u32>| {
            let mut service = template.clone();
            set_service_id(&mut service, id);
            set_task_filter(&mut service, None);
            set_endpoint_weight(&mut service, share);
            service
        };
        let ours: Vec<Value> = match percent {
            0 => vec![entry(&self.spec.stable_service, None)],
            100 => vec![entry(&self.spec.new_service, None)],
            _ => vec![
                entry(&self.spec.stable_service, Some(100 - percent)),
                entry(&self.spec.new_service, Some(percent)),
            ],
        };
        self.with_ours(pool, ours)
    }

    /// `pool` with the backend serving the new service beside the stable
    /// service's tasks `keep` only (`mesos.taskIDPattern`), both unweighted, so
    /// each task takes an equal share; with none kept, the new service alone.
    pub fn with_tasks(&self, pool: &Value, keep: &[String]) -> Result<Value, ProviderError> {
        let template = self.template_entry(pool)?;
        let entry = |id: &str, tasks: Option<&[String]>| {
            let mut service = template.clone();
            set_service_id(&mut service, id);
            set_task_filter(&mut service, tasks);
            set_endpoint_weight(&mut service, None);
            service
        };
        let mut ours = Vec::new();
        if !keep.is_empty() {
            ours.push(entry(&self.spec.stable_service, Some(keep)));
        }
        ours.push(entry(&self.spec.new_service, None));
        self.with_ours(pool, ours)
    }

    /// The entry our entries are made from: the stable one, else the new one,
    /// so both keep the endpoint settings the user chose.
    fn template_entry(&self, pool: &Value) -> Result<Value, ProviderError> {
        let current = self.services(pool)?;
        current
            .iter()
            .find(|service| service_id(service) == Some(&self.spec.stable_service))
            .or_else(|| {
                current
                    .iter()
                    .find(|service| service_id(service) == Some(&self.spec.new_service))
            })
            .cloned()
            .ok_or_else(|| {
                ProviderError::new(format!(
                    "backend `{}` of Edge-LB pool {} serves neither {} nor {}",
                    self.spec.backend,
                    self.spec.pool,
                    self.spec.stable_service,
                    self.spec.new_service
                ))
            })
    }

    /// `pool` with our entries in the backend in place of the first of the
    /// current ones; other services stay where they are.
    fn with_ours(&self, pool: &Value, ours: Vec<Value>) -> Result<Value, ProviderError> {
        let mut updated = pool.clone();
        let services = self.services_mut(&mut updated).ok_or_else(|| {
            ProviderError::new(format!("backend `{}` vanished", self.spec.backend))
        })?;
        let first = services
            .iter()
            .position(|service| self.is_ours(service))
            .unwrap_or(services.len());
        services.retain(|service| !self.is_ours(service));
        for (offset, service) in ours.into_iter().enumerate() {
            services.insert(first + offset, service);
        }
        Ok(updated)
    }

    fn is_ours(&self, service: &Value) -> bool {
        let id = service_id(service);
        id == Some(&self.spec.stable_service) || id == Some(&self.spec.new_service)
    }

    async fn write_pool(&self, pool: &Value) -> Result<(), ProviderError> {
        self.client
            .expect_success(Method::PUT, &self.pool_path(), Some(pool))
            .await
            .map(drop)
            .map_err(|error| error.context(format!("updating Edge-LB pool {}", self.spec.pool)))
    }
}

fn set_service_id(service: &mut Value, id: &str) {
    if let Some(marathon) = service.get_mut("marathon").and_then(Value::as_object_mut) {
        marathon.insert("serviceID".into(), Value::String(id.to_owned()));
    }
}

/// Restricts an entry to the tasks `ids` with `mesos.taskIDPattern`, or with
/// `None` removes that restriction (and a `mesos` left empty by it): the entry
/// is then as it was before the migration touched it.
fn set_task_filter(service: &mut Value, ids: Option<&[String]>) {
    let Some(service) = service.as_object_mut() else {
        return;
    };
    match ids {
        Some(ids) => {
            let pattern = format!(
                "^({})$",
                ids.iter()
                    .map(|id| regex_escape(id))
                    .collect::<Vec<_>>()
                    .join("|")
            );
            let mesos = service
                .entry("mesos")
                .or_insert_with(|| Value::Object(serde_json::Map::new()));
            if let Some(mesos) = mesos.as_object_mut() {
                mesos.insert("taskIDPattern".into(), Value::String(pattern));
            }
        }
        None => {
            let emptied = service
                .get_mut("mesos")
                .and_then(Value::as_object_mut)
                .is_some_and(|mesos| mesos.remove("taskIDPattern").is_some() && mesos.is_empty());
            if emptied {
                service.remove("mesos");
            }
        }
    }
}

/// `text` matched literally by a regular expression (Go's RE2 syntax, which
/// Edge-LB uses).
fn regex_escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

fn service_id(service: &Value) -> Option<&str> {
    service
        .pointer("/marathon/serviceID")
        .and_then(Value::as_str)
}

/// The `weight N` in an entry's `endpoint.miscStr`, if it has one.
fn endpoint_weight(service: &Value) -> Option<u32> {
    let misc = service
        .pointer("/endpoint/miscStr")
        .and_then(Value::as_str)?;
    let mut words = misc.split_whitespace();
    while let Some(word) = words.next() {
        if word == "weight" {
            return words.next().and_then(|n| n.parse().ok());
        }
    }
    None
}

/// Sets (or, with `None`, removes) `weight N` in `endpoint.miscStr`, keeping the rest
/// of the string; an emptied `miscStr` is removed, as it was before we added it.
fn set_endpoint_weight(service: &mut Value, weight: Option<u32>) {
    let Some(service) = service.as_object_mut() else {
        return;
    };
    let endpoint = service
        .entry("endpoint")
        .or_insert_with(|| Value::Object(serde_json::Map::new()));
    let Some(endpoint) = endpoint.as_object_mut() else {
        return;
    };
    let misc = endpoint
        .get("miscStr")
        .and_then(Value::as_str)
        .unwrap_or("");
    let mut words: Vec<&str> = Vec::new();
    let mut skip = false;
    for word in misc.split_whitespace() {
        if skip {
            skip = false;
        } else if word == "weight" {
            skip = true;
        } else {
            words.push(word);
        }
    }
    let weight = weight.map(|n| format!("weight {n}"));
    if let Some(weight) = &weight {
        words.push(weight);
    }
    if words.is_empty() {
        endpoint.remove("miscStr");
    } else {
        endpoint.insert("miscStr".into(), Value::String(words.join(" ")));
    }
}

#[async_trait]
impl Router for EdgeLbRouter {
    fn describe(&self) -> String {
        format!(
            "edge-lb pool {} backend {} at {}",
            self.spec.pool, self.spec.backend, self.spec.url
        )
    }

    fn plan(&self, weight: Weight) -> Vec<String> {
        let url = self.client.url(&self.pool_path());
        let change = match (weight.percent(), self.spec.mode) {
            (0, _) => format!(
                "backend {} serves {} only",
                self.spec.backend, self.spec.stable_service
            ),
            (100, _) => format!(
                "backend {} serves {} only",
                self.spec.backend, self.spec.new_service
            ),
            (percent, _) => format!(
                "backend {} serves {} with \"weight {}\" and {} with \"weight {percent}\"",
                self.spec.backend,
                self.spec.stable_service,
                100 - percent,
                self.spec.new_service
            ),
        };
        vec![
            format!("GET {url}"),
            format!("PUT {url} ({change}; the rest of the pool as read)"),
            format!("GET {url} (read back)"),
        ]
    }

    fn plan_route_tasks(&self, keep: &str) -> Vec<String> {
        let url = self.client.url(&self.pool_path());
        vec![
            format!("GET {url}"),
            format!(
                "PUT {url} (backend {} serves {} beside {keep} of {}, by mesos.taskIDPattern; the rest of the pool as read)",
                self.spec.backend, self.spec.new_service, self.spec.stable_service
            ),
            format!("GET {url} (read back)"),
        ]
    }

    async fn route_tasks(&self, keep: &[String]) -> Result<(), ProviderError> {
        let pool = self.read_pool().await?;
        let updated = self.with_tasks(&pool, keep)?;
        if updated != pool {
            self.write_pool(&updated).await?;
        }
        let read_back = self.read_pool().await?;
        if self.services(&read_back)? != self.services(&updated)? {
            return Err(ProviderError::new(format!(
                "Edge-LB pool {} reads back other services in backend `{}` than were written: {}",
                self.spec.pool,
                self.spec.backend,
                Value::Array(self.services(&read_back)?.clone())
            ))
            .with_hint(
                "another writer changed the pool at the same time: look at `dcos edgelb show`",
            ));
        }
        Ok(())
    }

    async fn preflight(&self) -> Result<(), ProviderError> {
        let pool = self.read_pool().await?;
        self.weight_of(&pool).map(drop)
    }

    async fn weight(&self) -> Result<Weight, ProviderError> {
        let pool = self.read_pool().await?;
        self.weight_of(&pool)
    }

    async fn set_weight(&self, weight: Weight) -> Result<(), ProviderError> {
        let percent = weight.percent();
        if self.spec.mode == EdgeLbMode::Switch && percent != 0 && percent != 100 {
            return Err(ProviderError::new(format!(
                "Edge-LB backend {} switches between services and cannot send {percent}%",
                self.spec.backend
            ))
            .with_hint("set `mode: weighted` for a canary"));
        }
        let pool = self.read_pool().await?;
        let updated = self.with_weight(&pool, weight)?;
        if updated != pool {
            self.write_pool(&updated).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn router(mode: EdgeLbMode) -> EdgeLbRouter {
        EdgeLbRouter::new(
            EdgeLbRouterSpec {
                url: "http://127.0.0.1:1".into(),
                token_env: None,
                ca_file: None,
                pool: "sample-config".into(),
                backend: "svc".into(),
                stable_service: "/svc-blue".into(),
                new_service: "/svc-green".into(),
                mode,
                timeout: Span::from_secs(1),
            },
            std::path::Path::new("."),
        )
        .unwrap()
    }

    fn pool() -> Value {
        json!({"apiVersion": "V2", "name": "sample-config", "haproxy": {
        "frontends": [{"bindPort": 80, "protocol": "HTTP", "linkBackend": {"defaultBackend": "svc"}}],
        "backends": [
            {"name": "other", "services": [{"marathon": {"serviceID": "/svc-blue"}}]},
            {"name": "svc", "protocol": "HTTP", "services": [
                {"marathon": {"serviceID": "/svc-blue"}, "endpoint": {"portName": "web", "miscStr": "check inter 5s"}},
                {"marathon": {"serviceID": "/cache"}, "endpoint": {"portName": "web"}}
            ]}
        ]}})
    }

    fn pct(percent: u8) -> Weight {
        Weight::new(percent).unwrap()
    }

    #[test]
    fn weights_round_trip_and_zero_restores_the_pool() {
        let router = router(EdgeLbMode::Weighted);
        let original = pool();
        assert_eq!(router.weight_of(&original).unwrap(), pct(0));
        for percent in [1, 10, 50, 99, 100] {
            let updated = router.with_weight(&original, pct(percent)).unwrap();
            assert_eq!(router.weight_of(&updated).unwrap(), pct(percent));
            // Other backends and services are untouched.
            assert_eq!(
                updated["haproxy"]["backends"][0],
                original["haproxy"]["backends"][0]
            );
            assert_eq!(
                updated["haproxy"]["frontends"],
                original["haproxy"]["frontends"]
            );
            assert!(
                updated["haproxy"]["backends"][1]["services"]
                    .as_array()
                    .unwrap()
                    .contains(&original["haproxy"]["backends"][1]["services"][1])
            );
            assert_eq!(router.with_weight(&updated, pct(0)).unwrap(), original);
        }
        let canary = router.with_weight(&original, pct(10)).unwrap();
        assert_eq!(
            canary["haproxy"]["backends"][1]["services"][1]["endpoint"]["miscStr"],
            "check inter 5s weight 10"
        );
        assert_eq!(
            canary["haproxy"]["backends"][1]["services"][0]["endpoint"]["miscStr"],
            "check inter 5s weight 90"
        );
    }

    #[test]
    fn switch_moves_the_service_id_only() {
        let router = router(EdgeLbMode::Switch);
        let green = router.with_weight(&pool(), pct(100)).unwrap();
        let services = &green["haproxy"]["backends"][1]["services"];
        assert_eq!(services[0]["marathon"]["serviceID"], "/svc-green");
        assert_eq!(services[0]["endpoint"]["miscStr"], "check inter 5s");
        assert_eq!(services.as_array().unwrap().len(), 2);
    }
}
