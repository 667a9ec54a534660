//! The user's manifests: files or folders, each file a minijinja template
//! rendered with the rollout context, holding one or more YAML documents.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;

use crate::kubernetes::Resource;
use crate::provider::ProviderError;
use crate::spec::template::{TemplateContext, render_text};

/// One object to apply.
#[derive(Debug, Clone)]
pub struct Manifest {
    pub resource: Resource,
    pub name: String,
    /// As written; `None` means the target's namespace.
    pub namespace: Option<String>,
    pub object: Value,
    /// Which file it came from, for messages.
    pub file: PathBuf,
}

impl Manifest {
    /// "Deployment checkout-v2", for plans and messages.
    pub fn title(&self) -> String {
        format!("{} {}", self.resource.kind, self.name)
    }
}

/// The files named by `entries` (relative to `base`), folders expanded to their
/// `.yaml`, `.yml` and `.json` files in name order.
pub fn files(base: &Path, entries: &[String]) -> Result<Vec<PathBuf>, ProviderError> {
    let mut files = Vec::new();
    for entry in entries {
        let path = base.join(entry);
        if path.is_dir() {
            let read = std::fs::read_dir(&path).map_err(|error| {
                ProviderError::new(format!("cannot list {}: {error}", path.display()))
            })?;
            let mut inside: Vec<PathBuf> = read
                .filter_map(Result::ok)
                .map(|item| item.path())
                .filter(|item| {
                    item.is_file()
                        && item
                            .extension()
                            .and_then(|extension| extension.to_str())
                            .is_some_and(|extension| ["yaml", "yml", "json"].contains(&extension))
                })
                .collect();
            inside.sort();
            files.extend(inside);
        } else {
            files.push(path);
        }
    }
    Ok(files)
}

/// Every object of every file, rendered for `context`.
pub fn render(
    base: &Path,
    entries: &[String],
    context: &TemplateContext,
) -> Result<Vec<Manifest>, ProviderError> {
    let mut manifests = Vec::new();
    for file in files(base, entries)? {
        let source = std::fs::read_to_string(&file).map_err(|error| {
            ProviderError::new(format!("cannot read manifest {}: {error}", file.display()))
                .with_hint("manifest paths are relative to the spec's folder")
        })?;
        let text = render_text(&source, context).map_err(|(message, hint)| {
            let error = ProviderError::new(format!("{}: {message}", file.display()));
            match hint {
                Some(hint) => error.with_hint(hint),
                None => error,
            }
        })?;
        for document in serde_yaml::Deserializer::from_str(&text) {
            let value = Value::deserialize(document).map_err(|error| {
                ProviderError::new(format!(
                    "{} is not valid YAML once rendered: {error}",
                    file.display()
                ))
            })?;
            if value.is_null() {
                continue;
            }
            manifests.push(parse(value, &file)?);
        }
    }
    Ok(manifests)
}

fn parse(object: Value, file: &Path) -> Result<Manifest, ProviderError> {
    let text = |pointer: &str| {
        object
            .pointer(pointer)
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    let (Some(api_version), Some(kind), Some(name)) =
        (text("/apiVersion"), text("/kind"), text("/metadata/name"))
    else {
        return Err(ProviderError::new(format!(
            "{}: every object needs `apiVersion`, `kind` and `metadata.name`",
            file.display()
        )));
    };
    Ok(Manifest {
        resource: Resource::of_kind(&api_version, &kind),
        namespace: text("/metadata/namespace"),
        name,
        object,
        file: file.to_owned(),
    })
}
