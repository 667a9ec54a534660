//! Who owns which field of an object (`metadata.managedFields`), and the
//! GitOps controllers among them. Argo CD and Flux keep a cluster equal to
//! git: when one of them applied the object greenlight shifts, it puts git's
//! weights back mid-canary (self-heal) unless told to leave them alone, so
//! greenlight says what to add to its configuration, and refuses to write
//! fields such a controller owns.

use serde_json::Value;

use super::resource::Resource;
use crate::provider::ProviderError;

/// One `managedFields` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manager {
    pub name: String,
    /// `Apply` (server-side apply) or `Update` (PUT, PATCH).
    pub operation: String,
    pub subresource: Option<String>,
    fields: Value,
}

/// A GitOps controller that keeps an object in line with git.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GitOps {
    ArgoCd,
    Flux,
}

impl GitOps {
    /// Which one a field manager is, if any (the names their controllers use).
    pub fn of_manager(name: &str) -> Option<Self> {
        match name {
            "argocd-controller" | "argocd-application-controller" => Some(Self::ArgoCd),
            "kustomize-controller" | "helm-controller" | "flux-client-side-apply" => {
                Some(Self::Flux)
            }
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::ArgoCd => "Argo CD",
            Self::Flux => "Flux",
        }
    }

    /// What to add to its configuration so it leaves `pointers` of the object to greenlight.
    pub fn advice(self, resource: &Resource, name: &str, pointers: &[&str]) -> String {
        let group = resource
            .api_version
            .rsplit_once('/')
            .map_or("", |(group, _)| group);
        match self {
            Self::ArgoCd => format!(
                "add to the Argo CD Application `spec.ignoreDifferences: [{{group: \"{group}\", kind: {}, name: {name}, jsonPointers: [{}]}}]` and `syncOptions: [RespectIgnoreDifferences=true]` (docs/kubernetes-gitops.md)",
                resource.kind,
                pointers.join(", ")
            ),
            Self::Flux => format!(
                "annotate {} {name} in git with `kustomize.toolkit.fluxcd.io/ssa: IfNotPresent`, so Flux creates it but no longer overrides it (docs/kubernetes-gitops.md)",
                resource.kind
            ),
        }
    }
}

/// The object's field managers.
pub fn managers(object: &Value) -> Vec<Manager> {
    object
        .pointer("/metadata/managedFields")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|entry| Manager {
            name: text(entry, "manager").to_owned(),
            operation: text(entry, "operation").to_owned(),
            subresource: entry
                .get("subresource")
                .and_then(Value::as_str)
                .map(str::to_owned),
            fields: entry.get("fieldsV1").cloned().unwrap_or_default(),
        })
        .collect()
}

fn text<'a>(entry: &'a Value, key: &str) -> &'a str {
    entry.get(key).and_then(Value::as_str).unwrap_or_default()
}

impl Manager {
    /// Whether this manager owns the field at `path` (or something inside it).
    pub fn owns(&self, path: &[&str]) -> bool {
        let mut at = &self.fields;
        for key in path {
            match at.get(format!("f:{key}")) {
                Some(inner) => at = inner,
                None => return false,
            }
        }
        true
    }
}

/// The managers other than greenlight that own the field at `path`.
pub fn other_owners(object: &Value, path: &[&str]) -> Vec<Manager> {
    managers(object)
        .into_iter()
        .filter(|manager| manager.name != super::FIELD_MANAGER && manager.owns(path))
        .collect()
}

/// The GitOps controller that manages the object, if one does.
pub fn gitops(object: &Value) -> Option<(GitOps, String)> {
    managers(object)
        .into_iter()
        .find_map(|manager| GitOps::of_manager(&manager.name).map(|gitops| (gitops, manager.name)))
}

/// The warning for the run's first lines when a GitOps controller manages
/// the object greenlight changes, with what to add to its configuration.
pub fn gitops_warning(object: &Value, resource: &Resource, pointers: &[&str]) -> Option<String> {
    let name = object.pointer("/metadata/name").and_then(Value::as_str)?;
    let (gitops, manager) = gitops(object)?;
    Some(format!(
        "{} {name} is managed by {} (field manager `{manager}`): it would put its own {} back during the rollout; {}",
        resource.kind,
        gitops.name(),
        pointers.join(", "),
        gitops.advice(resource, name, pointers)
    ))
}

/// Refuses to write `path` when a GitOps controller owns it: it would fight
/// greenlight (self-heal puts git's values back mid-rollout). The error
/// names the manager and says what to add to its configuration.
pub fn refuse_gitops_owner(
    object: &Value,
    resource: &Resource,
    path: &[&str],
) -> Result<(), ProviderError> {
    let name = object
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("?");
    let owner = other_owners(object, path)
        .into_iter()
        .find_map(|manager| GitOps::of_manager(&manager.name).map(|gitops| (gitops, manager)));
    let Some((gitops, manager)) = owner else {
        return Ok(());
    };
    let pointer = format!("/{}", path.join("/"));
    Err(ProviderError::new(format!(
        "{} {name}: `{}` is owned by field manager `{}` ({}, {}); greenlight will not take it over, or {} would put git's value back mid-rollout",
        resource.kind,
        path.join("."),
        manager.name,
        gitops.name(),
        manager.operation,
        gitops.name()
    ))
    .with_hint(gitops.advice(resource, name, &[pointer.as_str()])))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn route(manager: &str) -> Value {
        json!({"metadata": {"name": "web", "managedFields": [
            {"manager": manager, "operation": "Apply", "apiVersion": "gateway.networking.k8s.io/v1",
             "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {"f:rules": {}, "f:hostnames": {}}}},
            {"manager": "greenlight", "operation": "Update", "fieldsV1": {"f:spec": {"f:rules": {}}}}]}})
    }

    #[test]
    fn ownership_is_read_from_fields_v1() {
        let managers = managers(&route("argocd-controller"));
        assert!(managers[0].owns(&["spec", "rules"]));
        assert!(!managers[0].owns(&["spec", "parentRefs"]));
        assert_eq!(
            other_owners(&route("kubectl"), &["spec", "rules"])
                .iter()
                .map(|manager| manager.name.as_str())
                .collect::<Vec<_>>(),
            ["kubectl"]
        );
    }

    #[test]
    fn a_gitops_owner_is_named_with_what_to_configure() {
        let resource = Resource::http_route();
        let error = refuse_gitops_owner(&route("argocd-controller"), &resource, &["spec", "rules"])
            .unwrap_err();
        assert!(
            error.message.starts_with(
                "HTTPRoute web: `spec.rules` is owned by field manager `argocd-controller` (Argo CD, Apply)"
            ),
            "{}",
            error.message
        );
        assert!(
            error.hint.as_deref().is_some_and(|hint| hint.contains(
                "ignoreDifferences: [{group: \"gateway.networking.k8s.io\", kind: HTTPRoute, name: web, jsonPointers: [/spec/rules]}]"
            )),
            "{:?}",
            error.hint
        );
        assert!(refuse_gitops_owner(&route("kubectl"), &resource, &["spec", "rules"]).is_ok());
        let flux = gitops_warning(&route("kustomize-controller"), &resource, &["/spec/rules"]);
        assert!(flux.is_some_and(|warning| {
            warning.contains("kustomize.toolkit.fluxcd.io/ssa: IfNotPresent")
        }),);
    }
}
