//! `state: configMap`: the record in ConfigMap `greenlight-<name>`, in the
//! cluster being changed, so any job with access to it resumes or rolls back.
//! Saves are read-modify-write on the ConfigMap's `resourceVersion`; the lock
//! is a Lease of the same name (`lease.rs`).

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::lease::Lease;
use super::lock::{Acquired, Held, Request};
use super::{Record, StateStore, StoreSettings};
use crate::kubernetes::ClusterSpec;
use crate::kubernetes::error::{code, describe};
use crate::kubernetes::objects::Objects;
use crate::kubernetes::update::read_modify_write;
use crate::kubernetes::{LazyCluster, Resource};
use crate::provider::ProviderError;

/// `state: configMap`: the record in ConfigMap `greenlight-<name>`.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ConfigMapState {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

impl ConfigMapState {
    pub fn cluster(&self) -> ClusterSpec {
        ClusterSpec {
            context: self.context.clone(),
            namespace: self.namespace.clone(),
        }
    }
}

impl StoreSettings for ConfigMapState {
    fn build(&self, service: &str) -> Box<dyn StateStore> {
        Box::new(ConfigMapStateStore::new(service, self.cluster()))
    }
}

/// The data key holding the record as JSON.
const KEY: &str = "record";

pub struct ConfigMapStateStore {
    name: String,
    cluster: LazyCluster,
}

impl ConfigMapStateStore {
    pub fn new(service: &str, cluster: ClusterSpec) -> Self {
        Self {
            name: format!("greenlight-{service}"),
            cluster: LazyCluster::new(cluster),
        }
    }
}

#[async_trait]
impl StateStore for ConfigMapStateStore {
    fn describe(&self) -> String {
        format!("ConfigMap {}/{}", self.cluster.namespace_hint(), self.name)
    }

    async fn load(&self) -> Result<Option<Record>, ProviderError> {
        let cluster = self.cluster.get().await?;
        let maps = Objects::new(cluster, Resource::config_map(), None);
        let Some(map) = maps.get(&self.name).await? else {
            return Ok(None);
        };
        let Some(text) = map.pointer("/data/record").and_then(Value::as_str) else {
            return Ok(None);
        };
        serde_json::from_str(text).map(Some).map_err(|error| {
            ProviderError::new(format!(
                "{} holds no greenlight record: {error}",
                maps.what(&self.name)
            ))
            .with_hint("delete it only if no rollout of this service is in progress")
        })
    }

    async fn save(&self, record: &Record) -> Result<(), ProviderError> {
        let text = serde_json::to_string(record).map_err(|error| {
            ProviderError::new(format!("cannot encode the state record: {error}"))
        })?;
        let cluster = self.cluster.get().await?;
        let maps = Objects::new(cluster, Resource::config_map(), None);
        if maps.get(&self.name).await?.is_none() {
            let map = json!({
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": self.name, "labels": {"app.kubernetes.io/managed-by": "greenlight"}},
                "data": {KEY: text},
            });
            match maps.create(&map).await {
                Ok(_) => return Ok(()),
                // Created by someone else meanwhile: update it below.
                Err(error) if code(&error) == Some(409) => {}
                Err(error) => return Err(describe(&error, "creating", &maps.what(&self.name))),
            }
        }
        read_modify_write(&maps, &self.name, |map| {
            if !map.get("data").is_some_and(Value::is_object) {
                map["data"] = json!({});
            }
            map["data"][KEY] = json!(text);
            Ok(())
        })
        .await
        .map(drop)
    }

    async fn acquire(&self, request: &Request) -> Result<Acquired, ProviderError> {
        let cluster = self.cluster.get().await?;
        Lease::new(cluster, &self.name).acquire(request).await
    }

    async fn renew(&self, held: &Held, now: std::time::SystemTime) -> Result<Held, ProviderError> {
        let cluster = self.cluster.get().await?;
        Lease::new(cluster, &self.name).renew(held, now).await
    }

    async fn release(&self, held: &Held) -> Result<(), ProviderError> {
        let cluster = self.cluster.get().await?;
        Lease::new(cluster, &self.name).release(held).await
    }
}
