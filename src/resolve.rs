//! From the command line to one loaded spec: the spec file, `--set`, `--var`,
//! the CI facts and, for the stable version, the state record. Which state
//! store holds the record is decided here too, since the record is an input.

use std::path::Path;

use crate::cli::SpecArgs;
use crate::error::AppError;
use crate::kubernetes::ClusterSpec;
use crate::pool::Pool;
use crate::release::{Release, Version};
use crate::spec::load::Parsed;
use crate::spec::overrides::SetOverride;
use crate::spec::template::CiFacts;
use crate::spec::types::RolloutSpec;
use crate::spec::{LoadOptions, LoadedSpec};
use crate::state::config_map::ConfigMapStateStore;
use crate::state::file::FileStateStore;
use crate::state::{Record, StateStore};

/// The spec file as read from disk and parsed, with `--set`, `--var` and the
/// CI facts: each command reads it once, and loads it once for its versions.
pub struct Source {
    parsed: Parsed,
    vars: Vec<String>,
    ci: CiFacts,
}

impl Source {
    pub fn read(args: &SpecArgs) -> Result<Self, AppError> {
        let file = args.config.display().to_string();
        let bytes = crate::spec::load::read_file(&args.config).map_err(|error| {
            AppError::Usage(format!(
                "cannot read the rollout spec {file}: {error}; pass its path with -f/--config"
            ))
        })?;
        let sets = SetOverride::parse_all(&args.sets)?;
        Ok(Self {
            parsed: Parsed::parse(&file, &bytes, &sets)?,
            vars: args.vars.clone(),
            ci: crate::forge::detect(|name| std::env::var(name).ok()),
        })
    }

    /// The pool the record says the stable version runs in (the first
    /// without a record). A record that names that pool must find the name
    /// at the same place in `pools:`: which place is which is the order of
    /// `pools:`, so a reordered or renamed list would swap the sides silently.
    pub fn live_pool(&self, record: Option<&Record>) -> Result<Pool, AppError> {
        let pool = record
            .and_then(|record| record.stable_pool)
            .unwrap_or_default();
        let recorded = record.and_then(|record| record.stable_pool_name.as_deref());
        let (Some(recorded), Some(names)) = (recorded, self.parsed.pool_names()) else {
            return Ok(pool);
        };
        let now = crate::pool::sides(Some(names), pool).stable;
        if now == recorded {
            return Ok(pool);
        }
        Err(AppError::Usage(format!(
            "the state record says the stable version runs in pool `{recorded}`, the {} of `pools:` when it was written, but `pools:` is now [{}, {}]; put `pools:` back in its order and names (the order says which app or server list is which), or, if the stable version really runs in `{now}`, write that pool into the record (`stablePool`, `stablePoolName`)",
            if pool == Pool::A { "first" } else { "second" },
            names[0],
            names[1],
        )))
    }

    /// The spec for these versions, the stable one running in `stable_pool`
    /// (fixed pools, `crate::pool`).
    pub fn load(
        &self,
        new: &Version,
        stable: &Version,
        stable_pool: Pool,
    ) -> Result<LoadedSpec, AppError> {
        let options = LoadOptions {
            version: new.template_text().to_owned(),
            stable_version: stable.template_text().to_owned(),
            sets: Vec::new(),
            vars: self.vars.clone(),
            ci: self.ci.clone(),
            stable_pool,
        };
        let loaded = self.parsed.load(&options)?;
        // Before anything runs: every output is masked from here on.
        crate::spec::secrets::hold_spec_secrets(&loaded.spec, crate::forge::is_github_actions());
        Ok(loaded)
    }

    /// The state store the spec names and the record in it. Where the record
    /// is kept cannot depend on the versions, which come from it: the spec is
    /// located without them (`Parsed::locate`).
    pub async fn record(
        &self,
        config: &Path,
    ) -> Result<(String, Box<dyn StateStore>, Option<Record>), AppError> {
        let located = self.parsed.locate(&self.vars, &self.ci)?;
        crate::spec::secrets::hold_spec_secrets(&located.spec, crate::forge::is_github_actions());
        let store = state_store(&located.spec, config);
        let place = match kubernetes_cluster(&located.spec) {
            Some(cluster) => format!("{} {:?}", store.describe(), cluster.context),
            None => store.describe(),
        };
        if place.contains("{{") || place.contains("{%") {
            return Err(AppError::Usage(format!(
                "where the state record is kept ({}) cannot depend on the versions or pools, which the record holds: write that place without `version`, `stable_version`, `servers` or `pool`",
                store.describe()
            )));
        }
        let record = store
            .load()
            .await
            .map_err(|error| AppError::Provider(error.to_string()))?;
        Ok((located.spec.metadata.name, store, record))
    }
}

pub(crate) fn state_store(spec: &RolloutSpec, config: &Path) -> Box<dyn StateStore> {
    let name = &spec.metadata.name;
    match &spec.state {
        Some(state) => state.build(name),
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

/// What `run` and `plan` work from: the spec loaded once for the release
/// (the versions from the flags and the record), and its state store; the
/// parsed file stays for `run --supersede`, which loads it for the release
/// it rolls back first.
pub struct Resolved {
    pub source: Source,
    pub loaded: LoadedSpec,
    pub store: Box<dyn StateStore>,
}

/// Resolves the flags, the spec and the state record into the release to
/// roll out: the stable version is the flag, else the record's.
pub(crate) async fn resolve(args: &SpecArgs) -> Result<Resolved, AppError> {
    let Some(new) = args.new_version.clone() else {
        return Err(AppError::Usage(
            "--version is required: which version should be rolled out?".to_owned(),
        ));
    };
    let new = Version::Given(new);
    let source = Source::read(args)?;
    // The record names the stable version and, on fixed pools, the
    // live pool; otherwise (`plan` with both versions given) it is not read.
    if let Some(stable) = &args.stable_version
        && !source.parsed.alternates()
    {
        let loaded = source.load(&new, &Version::Given(stable.clone()), Pool::default())?;
        let store = state_store(&loaded.spec, &args.config);
        return Ok(Resolved {
            source,
            loaded,
            store,
        });
    }
    let (_, store, record) = source.record(&args.config).await?;
    let pool = source.live_pool(record.as_ref())?;
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
    let loaded = source.load(&new, &Version::Given(stable), pool)?;
    Ok(Resolved {
        source,
        loaded,
        store,
    })
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
