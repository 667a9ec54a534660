//! From the command line to one loaded spec: the spec file, `--set`, `--var`,
//! the CI facts and, for the stable version, the state record. Which state
//! store holds the record is decided here too, since the record is an input.

use std::path::Path;

use crate::cli::SpecArgs;
use crate::error::AppError;
use crate::kubernetes::ClusterSpec;
use crate::release::Release;
use crate::spec::overrides::SetOverride;
use crate::spec::types::{RolloutSpec, StateSpec, TargetSpec};
use crate::spec::{LoadOptions, LoadedSpec, load};
use crate::state::StateStore;
use crate::state::config_map::ConfigMapStateStore;
use crate::state::file::FileStateStore;

/// Stands in for versions `validate` is not told about.
pub const UNKNOWN_VERSION: &str = "0.0.0-validate";

/// The spec file as read from disk: each command reads it once.
pub struct Source {
    file: String,
    text: String,
}

impl Source {
    pub fn read(args: &SpecArgs) -> Result<Self, AppError> {
        let file = args.config.display().to_string();
        let text = std::fs::read_to_string(&args.config).map_err(|error| {
            AppError::Usage(format!(
                "cannot read the rollout spec {file}: {error}; pass its path with -f/--config"
            ))
        })?;
        Ok(Self { file, text })
    }

    /// The spec with `--set`, `--var`, the CI facts and these versions
    /// (`new`: `None` when the command is not told).
    pub fn load(
        &self,
        args: &SpecArgs,
        new: Option<&str>,
        stable: &str,
    ) -> Result<LoadedSpec, AppError> {
        let options = LoadOptions {
            version: new.unwrap_or(UNKNOWN_VERSION).to_owned(),
            stable_version: stable.to_owned(),
            sets: SetOverride::parse_all(&args.sets)?,
            vars: args.vars.clone(),
            ci: crate::forge::detect(|name| std::env::var(name).ok()),
        };
        Ok(load(&self.file, &self.text, &options)?)
    }
}

/// Reads and loads the spec with the versions the flags give.
pub(crate) fn read_spec(args: &SpecArgs, stable_version: &str) -> Result<LoadedSpec, AppError> {
    Source::read(args)?.load(args, args.new_version.as_deref(), stable_version)
}

pub(crate) fn state_store(spec: &RolloutSpec, config: &Path) -> Box<dyn StateStore> {
    let name = &spec.metadata.name;
    match &spec.state {
        Some(StateSpec::File(path)) => Box::new(FileStateStore::new(path)),
        Some(StateSpec::ConfigMap(map)) => Box::new(ConfigMapStateStore::new(name, map.cluster())),
        // State lives with the system being changed: a Kubernetes
        // spec keeps it in the cluster, next to the target or the router.
        None => match kubernetes_cluster(spec) {
            Some(cluster) => Box::new(ConfigMapStateStore::new(name, cluster)),
            None => Box::new(FileStateStore::new(
                spec_folder(config)
                    .join(".greenlight")
                    .join(format!("{name}.json")),
            )),
        },
    }
}

/// The cluster a spec deploys to, else the one it routes in.
fn kubernetes_cluster(spec: &RolloutSpec) -> Option<ClusterSpec> {
    if let TargetSpec::Kubernetes(target) = &spec.target {
        return Some(target.cluster());
    }
    spec.router.cluster()
}

/// Loads the spec with the real stable version: the flag, else the state record.
pub(crate) async fn resolve(
    args: &SpecArgs,
) -> Result<(LoadedSpec, Box<dyn StateStore>), AppError> {
    if args.new_version.is_none() {
        return Err(AppError::Usage(
            "--version is required: which version should be rolled out?".to_owned(),
        ));
    }
    let source = Source::read(args)?;
    let new = args.new_version.as_deref();
    if let Some(stable) = &args.stable_version {
        let loaded = source.load(args, new, stable)?;
        let store = state_store(&loaded.spec, &args.config);
        return Ok((loaded, store));
    }
    // Only the record knows the stable version. Where the record is kept
    // (the name, `state`, the cluster) does not depend on it, so a first
    // load without it finds the store.
    let located = source.load(args, new, UNKNOWN_VERSION)?;
    let store = state_store(&located.spec, &args.config);
    let stable = match store
        .load()
        .await
        .map_err(|error| AppError::Provider(error.to_string()))?
    {
        Some(record) => record.stable_version,
        None => {
            return Err(AppError::Usage(format!(
                "the stable version is unknown: pass --stable-version (no record in {} yet; greenlight writes one after each rollout)",
                store.describe()
            )));
        }
    };
    Ok((source.load(args, new, &stable)?, store))
}

/// Paths in a spec are relative to the folder it is in.
pub(crate) fn spec_folder(config: &Path) -> &Path {
    config.parent().unwrap_or(Path::new("."))
}

pub fn release_of(loaded: &LoadedSpec) -> Release {
    Release {
        name: loaded.spec.metadata.name.clone(),
        stable_version: loaded.context.stable_version.clone(),
        new_version: loaded.context.version.clone(),
    }
}
