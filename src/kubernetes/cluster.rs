//! Connecting to a cluster: kubeconfig (KUBECONFIG, then ~/.kube/config) with
//! an optional context, else the pod's service account. The connection is made
//! on first use, so `plan` and `validate` never touch the network.

use kube::config::{Config, KubeConfigOptions};
use tokio::sync::OnceCell;

use crate::provider::ProviderError;

/// Which cluster and namespace an object lives in.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClusterSpec {
    pub context: Option<String>,
    pub namespace: Option<String>,
}

/// A client and the namespace objects default to.
pub struct Cluster {
    pub client: kube::Client,
    pub namespace: String,
}

/// A cluster connected on first use.
pub struct LazyCluster {
    spec: ClusterSpec,
    cell: OnceCell<Cluster>,
}

impl LazyCluster {
    pub fn new(spec: ClusterSpec) -> Self {
        Self {
            spec,
            cell: OnceCell::new(),
        }
    }

    /// The namespace as far as it is known without connecting, for `plan`.
    pub fn namespace_hint(&self) -> &str {
        self.spec
            .namespace
            .as_deref()
            .unwrap_or("<context's namespace>")
    }

    pub async fn get(&self) -> Result<&Cluster, ProviderError> {
        self.cell.get_or_try_init(|| connect(&self.spec)).await
    }
}

async fn connect(spec: &ClusterSpec) -> Result<Cluster, ProviderError> {
    let options = KubeConfigOptions {
        context: spec.context.clone(),
        ..KubeConfigOptions::default()
    };
    let config = match Config::from_kubeconfig(&options).await {
        Ok(config) => config,
        // No kubeconfig and no context asked for: maybe we run inside a pod.
        Err(kubeconfig) if spec.context.is_none() => Config::incluster().map_err(|incluster| {
            ProviderError::new(format!(
                "no Kubernetes configuration: kubeconfig: {kubeconfig}; in-cluster: {incluster}"
            ))
            .with_hint("set KUBECONFIG or write ~/.kube/config, or run inside a pod with a service account")
        })?,
        Err(error) => {
            return Err(ProviderError::new(format!(
                "cannot use kubeconfig context {:?}: {error}",
                spec.context.as_deref().unwrap_or_default()
            ))
            .with_hint("`kubectl config get-contexts` lists the contexts of your kubeconfig"));
        }
    };
    let namespace = spec
        .namespace
        .clone()
        .unwrap_or_else(|| config.default_namespace.clone());
    let client = kube::Client::try_from(config).map_err(|error| {
        ProviderError::new(format!("cannot build the Kubernetes client: {error}"))
    })?;
    Ok(Cluster { client, namespace })
}
