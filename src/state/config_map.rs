//! `state: configMap`: the record in ConfigMap `greenlight-<name>`, in the
//! cluster being changed, so any job with access to it resumes or rolls back.
//! Saves are read-modify-write on the ConfigMap's `resourceVersion`.

use async_trait::async_trait;
use serde_json::{Value, json};

use super::{Record, StateStore};
use crate::kubernetes::ClusterSpec;
use crate::kubernetes::error::{code, describe};
use crate::kubernetes::objects::Objects;
use crate::kubernetes::update::read_modify_write;
use crate::kubernetes::{LazyCluster, Resource};
use crate::provider::ProviderError;

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
}
