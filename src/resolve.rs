//! From the command line to one loaded spec: the spec file, `--set`, `--var`,
//! the CI facts and, for the stable version, the state record. Which state
//! store holds the record is decided here too, since the record is an input.

use std::path::Path;

use crate::cli::SpecArgs;
use crate::error::AppError;
use crate::kubernetes::ClusterSpec;
use crate::pool::Pool;
use crate::release::Release;
use crate::spec::overrides::SetOverride;
use crate::spec::types::{RolloutSpec, StateSpec};
use crate::spec::{LoadOptions, LoadedSpec};
use crate::state::StateStore;
use crate::state::config_map::ConfigMapStateStore;
use crate::state::file::FileStateStore;

/// Stands in for versions `validate` is not told about.
pub const UNKNOWN_VERSION: &str = "0.0.0-validate";

/// The spec file as read from disk: each command reads it once.
pub struct Source {
    file: String,
    bytes: Vec<u8>,
}

impl Source {
    pub fn read(args: &SpecArgs) -> Result<Self, AppError> {
        let file = args.config.display().to_string();
        let bytes = crate::spec::load::read_file(&args.config).map_err(|error| {
            AppError::Usage(format!(
                "cannot read the rollout spec {file}: {error}; pass its path with -f/--config"
            ))
        })?;
        Ok(Self { file, bytes })
    }

    /// The spec with `--set`, `--var`, the CI facts and these versions
    /// (`new`: `None` when the command is not told).
    pub fn load(
        &self,
        args: &SpecArgs,
        new: Option<&str>,
        stable: &str,
    ) -> Result<LoadedSpec, AppError> {
        self.load_in(args, new, stable, Pool::default())
    }

    /// `load` for a release whose stable version runs in `stable_pool`
    /// (routers with fixed pools, `crate::pool`).
    pub fn load_in(
        &self,
        args: &SpecArgs,
        new: Option<&str>,
        stable: &str,
        stable_pool: Pool,
    ) -> Result<LoadedSpec, AppError> {
        let options = LoadOptions {
            version: new.unwrap_or(UNKNOWN_VERSION).to_owned(),
            stable_version: stable.to_owned(),
            sets: SetOverride::parse_all(&args.sets)?,
            vars: args.vars.clone(),
            ci: crate::forge::detect(|name| std::env::var(name).ok()),
            stable_pool,
        };
        let loaded = crate::spec::load::load_bytes(&self.file, &self.bytes, &options)?;
        // Before anything runs: every output is masked from here on.
        crate::spec::secrets::hold_spec_secrets(&loaded.spec, crate::forge::is_github_actions());
        Ok(loaded)
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
    spec.target.cluster().or_else(|| spec.router.cluster())
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
    // Where the record is kept (the name, `state`, the cluster) does not
    // depend on the versions, so a first load finds the store.
    let located = source.load(
        args,
        new,
        args.stable_version.as_deref().unwrap_or(UNKNOWN_VERSION),
    )?;
    let store = state_store(&located.spec, &args.config);
    // The record names the stable version and, for routers with pools, the
    // live pool; otherwise (`plan` with both versions given) it is not read.
    let pooled = located.context.servers.is_some();
    if args.stable_version.is_some() && !pooled {
        return Ok((located, store));
    }
    let record = store
        .load()
        .await
        .map_err(|error| AppError::Provider(error.to_string()))?;
    let pool = record
        .as_ref()
        .and_then(|record| record.stable_pool)
        .unwrap_or_default();
    let stable = match (&args.stable_version, record) {
        (Some(stable), _) => stable.clone(),
        (None, Some(record)) => record.stable_version,
        (None, None) => {
            return Err(AppError::Usage(format!(
                "the stable version is unknown: pass --stable-version (no record in {} yet; greenlight writes one after each rollout)",
                store.describe()
            )));
        }
    };
    Ok((source.load_in(args, new, &stable, pool)?, store))
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
