//! Which URL an object kind lives under. greenlight does no discovery: the
//! kinds it edits are listed here, and manifest kinds get kubectl's usual plural.

/// An API kind and where its objects are served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resource {
    pub api_version: String,
    pub kind: String,
    pub plural: String,
    pub namespaced: bool,
}

/// Kinds that live outside namespaces (the ones a manifest is likely to hold).
const CLUSTER_SCOPED: [&str; 8] = [
    "Namespace",
    "ClusterRole",
    "ClusterRoleBinding",
    "CustomResourceDefinition",
    "PersistentVolume",
    "StorageClass",
    "PriorityClass",
    "IngressClass",
];

impl Resource {
    pub fn new(api_version: &str, kind: &str, plural: &str) -> Self {
        Self {
            api_version: api_version.to_owned(),
            kind: kind.to_owned(),
            plural: plural.to_owned(),
            namespaced: !CLUSTER_SCOPED.contains(&kind),
        }
    }

    /// The resource of a manifest's `apiVersion` and `kind`, pluralised the way
    /// Kubernetes names nearly every built-in and CRD resource.
    pub fn of_kind(api_version: &str, kind: &str) -> Self {
        let lower = kind.to_ascii_lowercase();
        let plural = if lower.ends_with('s') || lower.ends_with('x') {
            format!("{lower}es")
        } else if let Some(stem) = lower.strip_suffix('y') {
            format!("{stem}ies")
        } else {
            format!("{lower}s")
        };
        Self::new(api_version, kind, &plural)
    }

    pub fn service() -> Self {
        Self::new("v1", "Service", "services")
    }
    pub fn config_map() -> Self {
        Self::new("v1", "ConfigMap", "configmaps")
    }
    pub fn pod() -> Self {
        Self::new("v1", "Pod", "pods")
    }
    pub fn replica_set() -> Self {
        Self::new("apps/v1", "ReplicaSet", "replicasets")
    }
    pub fn endpoint_slice() -> Self {
        Self::new("discovery.k8s.io/v1", "EndpointSlice", "endpointslices")
    }
    pub fn deployment() -> Self {
        Self::new("apps/v1", "Deployment", "deployments")
    }
    pub fn http_route() -> Self {
        Self::new("gateway.networking.k8s.io/v1", "HTTPRoute", "httproutes")
    }
    pub fn http_proxy() -> Self {
        Self::new("projectcontour.io/v1", "HTTPProxy", "httpproxies")
    }
    pub fn ingress_route() -> Self {
        Self::new(
            "contour.heptio.com/v1beta1",
            "IngressRoute",
            "ingressroutes",
        )
    }
    pub fn openshift_route() -> Self {
        Self::new("route.openshift.io/v1", "Route", "routes")
    }

    /// `/api/v1/namespaces/ns/services` or `/apis/group/v/namespaces/ns/plural`.
    pub fn collection_path(&self, namespace: &str) -> String {
        let prefix = if self.api_version.contains('/') {
            format!("/apis/{}", self.api_version)
        } else {
            format!("/api/{}", self.api_version)
        };
        if self.namespaced {
            format!("{prefix}/namespaces/{namespace}/{}", self.plural)
        } else {
            format!("{prefix}/{}", self.plural)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plurals_and_paths_follow_kubernetes() {
        assert_eq!(
            Resource::of_kind("networking.k8s.io/v1", "Ingress").plural,
            "ingresses"
        );
        assert_eq!(
            Resource::of_kind("networking.k8s.io/v1", "NetworkPolicy").plural,
            "networkpolicies"
        );
        assert_eq!(
            Resource::http_route().collection_path("shop"),
            "/apis/gateway.networking.k8s.io/v1/namespaces/shop/httproutes"
        );
        assert_eq!(
            Resource::service().collection_path("shop"),
            "/api/v1/namespaces/shop/services"
        );
        assert_eq!(
            Resource::of_kind("v1", "Namespace").collection_path("x"),
            "/api/v1/namespaces"
        );
    }
}
