//! `target: kubernetes`: render the manifests for a version, server-side apply
//! them (field manager `greenlight`), and wait for their Deployments like
//! `kubectl rollout status`. Retiring acts on the version's own objects: those
//! whose name changes with the version (shared ones, such as the Service the
//! router switches, are never touched).

pub mod manifests;
pub mod settings;

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use serde_json::{Value, json};

use self::manifests::Manifest;
use self::settings::{KubernetesTarget, RetireMode};
use super::Target;
use crate::clock::Clock;
use crate::kubernetes::error::{code, describe};
use crate::kubernetes::managed;
use crate::kubernetes::objects::Objects;
use crate::kubernetes::rollout::{self, Patience};
use crate::kubernetes::{Cluster, LazyCluster};
use crate::provider::ProviderError;
use crate::release::Release;
use crate::template::TemplateContext;

pub struct KubernetesTargetProvider {
    spec: KubernetesTarget,
    release: Release,
    context: TemplateContext,
    /// Manifest paths are relative to it (the spec's folder).
    base: PathBuf,
    cluster: LazyCluster,
    clock: Arc<dyn Clock>,
}

impl KubernetesTargetProvider {
    pub fn new(
        spec: KubernetesTarget,
        release: Release,
        context: TemplateContext,
        base: PathBuf,
        clock: Arc<dyn Clock>,
    ) -> Self {
        let cluster = LazyCluster::new(spec.cluster());
        Self {
            spec,
            release,
            context,
            base,
            cluster,
            clock,
        }
    }

    fn render(&self, version: &str) -> Result<Vec<Manifest>, ProviderError> {
        manifests::render(
            &self.base,
            &self.spec.manifests,
            &self.context.for_version(version),
        )
    }

    /// The objects that belong to `version` only: their name differs when the
    /// manifests are rendered for the release's other version.
    fn own(&self, version: &str) -> Result<Vec<Manifest>, ProviderError> {
        let other = if version == self.release.new_version {
            &self.release.stable_version
        } else {
            &self.release.new_version
        };
        let shared: Vec<(String, String)> = self
            .render(other)?
            .into_iter()
            .map(|manifest| (manifest.resource.kind, manifest.name))
            .collect();
        Ok(self
            .render(version)?
            .into_iter()
            .filter(|manifest| {
                !shared.contains(&(manifest.resource.kind.clone(), manifest.name.clone()))
            })
            .collect())
    }

    async fn wait(&self, cluster: &Cluster, manifest: &Manifest) -> Result<(), ProviderError> {
        let patience = Patience {
            clock: self.clock.as_ref(),
            timeout: self.spec.timeout.get(),
            poll: self.spec.poll_interval.get(),
            setting: "target.kubernetes.timeout",
            restarts: self.spec.crash_loop_restarts,
        };
        rollout::rolled_out(
            cluster,
            manifest.namespace.as_deref(),
            &manifest.name,
            &patience,
        )
        .await
    }
}

impl KubernetesTargetProvider {
    /// Leaves `spec.replicas` to whoever else owns it (a HorizontalPodAutoscaler
    /// writes it through the scale subresource), and names a GitOps
    /// controller that manages the object.
    fn leave_others_fields(&self, live: &Value, object: &mut Value, manifest: &Manifest) {
        if let Some(warning) = managed::gitops_warning(live, &manifest.resource, &["/spec"]) {
            tracing::warn!("{warning}");
        }
        let owners = managed::other_owners(live, &["spec", "replicas"]);
        if is_deployment(manifest)
            && let Some(owner) = owners.first()
            && let Some(spec) = object.get_mut("spec").and_then(Value::as_object_mut)
            && spec.remove("replicas").is_some()
        {
            let via = owner
                .subresource
                .as_deref()
                .map(|subresource| format!(" through /{subresource}"))
                .unwrap_or_default();
            let replicas = live.pointer("/spec/replicas").cloned().unwrap_or_default();
            tracing::warn!(
                "{}: spec.replicas is owned by `{}`{via} (an autoscaler, or someone scaling by hand); greenlight leaves it at {replicas}",
                manifest.title(),
                owner.name,
            );
        }
    }
}

fn is_deployment(manifest: &Manifest) -> bool {
    manifest.resource.kind == "Deployment" && manifest.resource.api_version == "apps/v1"
}

#[async_trait]
impl Target for KubernetesTargetProvider {
    fn describe(&self) -> String {
        format!(
            "Kubernetes (manifests {}, namespace {})",
            self.spec.manifests.join(", "),
            self.cluster.namespace_hint()
        )
    }

    fn plan_deploy(&self, version: &str) -> Vec<String> {
        match self.render(version) {
            Ok(manifests) => manifests
                .iter()
                .map(|manifest| {
                    let wait = if is_deployment(manifest) {
                        ", then wait until it is rolled out"
                    } else {
                        ""
                    };
                    format!(
                        "server-side apply {} (field manager greenlight){wait}",
                        manifest.title()
                    )
                })
                .collect(),
            Err(error) => vec![format!("cannot render the manifests: {error}")],
        }
    }

    fn plan_retire(&self, version: &str) -> Vec<String> {
        let delete = version == self.release.new_version || self.spec.retire == RetireMode::Delete;
        match self.own(version) {
            Ok(own) => own
                .iter()
                .filter(|manifest| delete || is_deployment(manifest))
                .map(|manifest| {
                    if delete {
                        format!("delete {}", manifest.title())
                    } else {
                        format!("scale {} to 0 replicas", manifest.title())
                    }
                })
                .collect(),
            Err(error) => vec![format!("cannot render the manifests: {error}")],
        }
    }

    async fn deploy(&self, version: &str) -> Result<(), ProviderError> {
        let manifests = self.render(version)?;
        let cluster = self.cluster.get().await?;
        for manifest in &manifests {
            let objects = Objects::new(
                cluster,
                manifest.resource.clone(),
                manifest.namespace.as_deref(),
            );
            let mut object = manifest.object.clone();
            if let Some(live) = objects.get(&manifest.name).await? {
                self.leave_others_fields(&live, &mut object, manifest);
            }
            objects
                .apply(&manifest.name, &object, self.spec.force)
                .await?;
        }
        for manifest in manifests.iter().filter(|manifest| is_deployment(manifest)) {
            self.wait(cluster, manifest).await?;
        }
        Ok(())
    }

    async fn retire(&self, version: &str) -> Result<(), ProviderError> {
        // After a rollback the new version goes; after promotion the old one
        // goes the way the spec says.
        let delete = version == self.release.new_version || self.spec.retire == RetireMode::Delete;
        let own = self.own(version)?;
        let cluster = self.cluster.get().await?;
        for manifest in own.iter().rev() {
            let objects = Objects::new(
                cluster,
                manifest.resource.clone(),
                manifest.namespace.as_deref(),
            );
            if delete {
                objects.delete(&manifest.name).await?;
            } else if is_deployment(manifest) {
                match objects
                    .merge_patch(&manifest.name, &json!({"spec": {"replicas": 0}}))
                    .await
                {
                    Ok(_) => {}
                    Err(error) if code(&error) == Some(404) => {}
                    Err(error) => {
                        return Err(describe(
                            &error,
                            "scaling down",
                            &objects.what(&manifest.name),
                        ));
                    }
                }
            }
        }
        Ok(())
    }
}
