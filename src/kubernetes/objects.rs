//! Requests on one kind of object in one namespace, as untyped JSON.

use kube::api::{DeleteParams, GetParams, ListParams, Patch, PatchParams, PostParams};
use kube::core::Request;
use serde_json::Value;

use super::error::{code, describe};
use super::{Cluster, FIELD_MANAGER, Resource};
use crate::provider::ProviderError;

/// Objects of `resource` in `namespace`.
pub struct Objects<'a> {
    cluster: &'a Cluster,
    resource: Resource,
    namespace: String,
}

impl<'a> Objects<'a> {
    pub fn new(cluster: &'a Cluster, resource: Resource, namespace: Option<&str>) -> Self {
        let namespace = namespace.unwrap_or(&cluster.namespace).to_owned();
        Self {
            cluster,
            resource,
            namespace,
        }
    }

    /// "HTTPRoute shop/checkout", for messages.
    pub fn what(&self, name: &str) -> String {
        if self.resource.namespaced {
            format!("{} {}/{name}", self.resource.kind, self.namespace)
        } else {
            format!("{} {name}", self.resource.kind)
        }
    }

    fn request(&self) -> Request {
        Request::new(self.resource.collection_path(&self.namespace))
    }

    async fn send(
        &self,
        request: Result<http::Request<Vec<u8>>, kube::core::request::Error>,
    ) -> Result<Value, kube::Error> {
        let request = request.map_err(kube::Error::BuildRequest)?;
        self.cluster.client.request::<Value>(request).await
    }

    /// The object, or `None` when it does not exist.
    pub async fn get(&self, name: &str) -> Result<Option<Value>, ProviderError> {
        match self
            .send(self.request().get(name, &GetParams::default()))
            .await
        {
            Ok(object) => Ok(Some(object)),
            Err(error) if code(&error) == Some(404) => Ok(None),
            Err(error) => Err(describe(&error, "reading", &self.what(name))),
        }
    }

    /// The object, which must exist.
    pub async fn get_existing(&self, name: &str) -> Result<Value, ProviderError> {
        self.get(name).await?.ok_or_else(|| {
            ProviderError::new(format!("{} does not exist", self.what(name)))
                .with_hint("create it first (greenlight edits it, it does not create it)")
        })
    }

    /// PUT: replaces the object; its `metadata.resourceVersion` makes the write
    /// conditional, so a concurrent change answers 409.
    pub async fn replace(&self, name: &str, object: &Value) -> Result<Value, kube::Error> {
        let body = serde_json::to_vec(object).map_err(kube::Error::SerdeError)?;
        self.send(self.request().replace(name, &write_params(), body))
            .await
    }

    pub async fn create(&self, object: &Value) -> Result<Value, kube::Error> {
        let body = serde_json::to_vec(object).map_err(kube::Error::SerdeError)?;
        self.send(self.request().create(&write_params(), body))
            .await
    }

    /// Server-side apply as field manager `greenlight`. Without `force`, a
    /// field another manager owns with another value is a 409 naming that
    /// manager, reported with what to do; `force` takes such fields over.
    pub async fn apply(
        &self,
        name: &str,
        object: &Value,
        force: bool,
    ) -> Result<Value, ProviderError> {
        let mut params = PatchParams::apply(FIELD_MANAGER);
        if force {
            params = params.force();
        }
        self.send(self.request().patch(name, &params, &Patch::Apply(object)))
            .await
            .map_err(|error| {
                let described = describe(&error, "applying", &self.what(name));
                if code(&error) == Some(409) {
                    described.with_hint("another field manager owns these fields with other values: stop it from managing them, drop them from the manifest, or set `target.kubernetes.force: true` to take them over")
                } else {
                    described
                }
            })
    }

    /// JSON merge patch (RFC 7386).
    pub async fn merge_patch(&self, name: &str, patch: &Value) -> Result<Value, kube::Error> {
        let params = PatchParams {
            field_manager: Some(FIELD_MANAGER.to_owned()),
            ..PatchParams::default()
        };
        self.send(self.request().patch(name, &params, &Patch::Merge(patch)))
            .await
    }

    /// Deletes the object; one that is already gone is fine.
    pub async fn delete(&self, name: &str) -> Result<(), ProviderError> {
        match self
            .send(self.request().delete(name, &DeleteParams::background()))
            .await
        {
            Ok(_) => Ok(()),
            Err(error) if code(&error) == Some(404) => Ok(()),
            Err(error) => Err(describe(&error, "deleting", &self.what(name))),
        }
    }

    /// The objects whose labels match `selector` (`app=checkout,version=v2`).
    pub async fn list(&self, selector: &str) -> Result<Vec<Value>, ProviderError> {
        let params = ListParams::default().labels(selector);
        let list = self
            .send(self.request().list(&params))
            .await
            .map_err(|error| {
                describe(
                    &error,
                    "listing",
                    &format!(
                        "{} in {} ({selector})",
                        self.resource.plural, self.namespace
                    ),
                )
            })?;
        Ok(match list.get("items") {
            Some(Value::Array(items)) => items.clone(),
            _ => Vec::new(),
        })
    }
}

fn write_params() -> PostParams {
    PostParams {
        dry_run: false,
        field_manager: Some(FIELD_MANAGER.to_owned()),
    }
}
