//! What each subcommand does, between parsed arguments and the library.

use std::path::Path;

use crate::cli::{RolloutArgs, SpecArgs};
use crate::clock::SystemClock;
use crate::engine::{Engine, Outcome, Plan};
use crate::release::Release;
use crate::report::{Report, Reporter, console::ConsoleReporter, json, markdown};
use crate::runner::{self, Checkpoint, Providers};
use crate::smoke::SmokeSuite;
use crate::spec::error::Origin;
use crate::spec::kubernetes::ClusterSpec;
use crate::spec::overrides::SetOverride;
use crate::spec::types::{RolloutSpec, RouterSpec, StateSpec, TargetSpec};
use crate::spec::{LoadOptions, LoadedSpec, SpecError, load};
use crate::state::config_map::ConfigMapStateStore;
use crate::state::file::FileStateStore;
use crate::state::{RecordPhase, StateStore};

/// Why a command could not do what was asked (exit code 1).
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error(transparent)]
    Spec(#[from] SpecError),
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    Provider(String),
}

/// Stands in for versions `validate` is not told about.
const UNKNOWN_VERSION: &str = "0.0.0-validate";

fn read_spec(args: &SpecArgs, stable_version: &str) -> Result<LoadedSpec, AppError> {
    let file = args.config.display().to_string();
    let text = std::fs::read_to_string(&args.config).map_err(|error| {
        AppError::Usage(format!(
            "cannot read the rollout spec {file}: {error}; pass its path with -f/--config"
        ))
    })?;
    let sets = args
        .sets
        .iter()
        .map(|raw| {
            SetOverride::parse(raw)
                .map_err(|message| SpecError::new(Origin::SetFlag(raw.clone()), message))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let options = LoadOptions {
        version: args
            .new_version
            .clone()
            .unwrap_or_else(|| UNKNOWN_VERSION.to_owned()),
        stable_version: stable_version.to_owned(),
        sets,
        vars: args.vars.clone(),
        ci: crate::ci::detect(|name| std::env::var(name).ok()),
    };
    Ok(load(&file, &text, &options)?)
}

fn state_store(spec: &RolloutSpec, config: &Path) -> Box<dyn StateStore> {
    let name = &spec.metadata.name;
    match &spec.state {
        Some(StateSpec::File(path)) => Box::new(FileStateStore::new(path)),
        Some(StateSpec::ConfigMap(map)) => Box::new(ConfigMapStateStore::new(name, map.cluster())),
        // State lives with the system being changed (DESIGN.md): a Kubernetes
        // spec keeps it in the cluster, next to the target or the router.
        None => match kubernetes_cluster(spec) {
            Some(cluster) => Box::new(ConfigMapStateStore::new(name, cluster)),
            None => Box::new(FileStateStore::new(
                config
                    .parent()
                    .unwrap_or(Path::new("."))
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
    match &spec.router {
        RouterSpec::Command(_) => None,
        RouterSpec::Service(router) => Some(router.cluster()),
        RouterSpec::GatewayApi(router) => Some(router.cluster()),
        RouterSpec::Contour(router) => Some(router.cluster()),
        RouterSpec::Openshift(router) => Some(router.cluster()),
    }
}

/// Loads the spec with the real stable version: the flag, else the state record.
async fn resolve(args: &SpecArgs) -> Result<(LoadedSpec, Box<dyn StateStore>), AppError> {
    if args.new_version.is_none() {
        return Err(AppError::Usage(
            "--version is required: which version should be rolled out?".to_owned(),
        ));
    }
    let first = read_spec(
        args,
        args.stable_version.as_deref().unwrap_or(UNKNOWN_VERSION),
    )?;
    let store = state_store(&first.spec, &args.config);
    let stable = match &args.stable_version {
        Some(stable) => stable.clone(),
        None => match store
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
        },
    };
    Ok((read_spec(args, &stable)?, store))
}

/// Paths in a spec are relative to the folder it is in.
fn spec_folder(config: &Path) -> &Path {
    config.parent().unwrap_or(Path::new("."))
}

fn release_of(loaded: &LoadedSpec) -> Release {
    Release {
        name: loaded.spec.metadata.name.clone(),
        stable_version: loaded.context.stable_version.clone(),
        new_version: loaded.context.version.clone(),
    }
}

fn http_client() -> Result<reqwest::Client, AppError> {
    reqwest::Client::builder()
        .user_agent(concat!("greenlight/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|error| AppError::Provider(format!("cannot build the HTTP client: {error}")))
}

pub fn validate(args: &SpecArgs) -> Result<(), AppError> {
    let loaded = read_spec(
        args,
        args.stable_version.as_deref().unwrap_or(UNKNOWN_VERSION),
    )?;
    let plan = Plan::from_spec(&loaded.spec);
    println!(
        "{} is valid: {} `{}` in {} step(s)",
        args.config.display(),
        match plan.strategy {
            crate::engine::plan::StrategyKind::Canary => "canary",
            crate::engine::plan::StrategyKind::BlueGreen => "blue/green",
        },
        loaded.spec.metadata.name,
        plan.steps.len()
    );
    Ok(())
}

pub async fn plan(args: &RolloutArgs) -> Result<Outcome, AppError> {
    let (loaded, store) = resolve(&args.spec).await?;
    let release = release_of(&loaded);
    let plan = Plan::from_spec(&loaded.spec);
    let target = crate::target::from_spec(
        &loaded.spec.target,
        &release,
        &loaded.context,
        spec_folder(&args.spec.config),
    );
    let router = crate::router::from_spec(&loaded.spec.router, &release);
    print!(
        "{}",
        crate::plan_text::render(
            &loaded.spec,
            &plan,
            &release,
            target.as_ref(),
            router.as_ref(),
            store.as_ref()
        )
    );
    let report = Report::build(
        &release,
        &plan,
        Outcome::Planned,
        "nothing was changed".to_owned(),
        Vec::new(),
    );
    write_reports(&report, args, loaded.spec.report.title.as_deref());
    Ok(Outcome::Planned)
}

pub async fn run(args: &RolloutArgs) -> Result<Outcome, AppError> {
    let (loaded, store) = resolve(&args.spec).await?;
    let release = release_of(&loaded);
    let holder = holder();
    if let Some(record) = store
        .load()
        .await
        .map_err(|error| AppError::Provider(error.to_string()))?
        && record.phase == RecordPhase::InProgress
        && record.holder.as_deref() != Some(holder.as_str())
    {
        eprintln!(
            "halted: a rollout of {} to {} is already in progress (held by {}, last update {}); wait for it, or clear {} once it is gone",
            record.name,
            record.new_version.unwrap_or_default(),
            record.holder.unwrap_or_else(|| "unknown".to_owned()),
            record.updated_at,
            store.describe()
        );
        return Ok(Outcome::Halted);
    }
    let plan = Plan::from_spec(&loaded.spec);
    let http = http_client()?;
    let providers = Providers {
        target: crate::target::from_spec(
            &loaded.spec.target,
            &release,
            &loaded.context,
            spec_folder(&args.spec.config),
        ),
        router: crate::router::from_spec(&loaded.spec.router, &release),
        metrics: loaded
            .spec
            .analysis
            .iter()
            .flat_map(|analysis| &analysis.metrics)
            .map(|metric| crate::metrics::from_spec(metric, &release))
            .collect(),
        smoke: Box::new(SmokeSuite::new(
            loaded.spec.smoke.clone(),
            release.clone(),
            http,
        )),
    };
    let engine = Engine {
        plan,
        name: release.name.clone(),
        stable_version: release.stable_version.clone(),
        new_version: release.new_version.clone(),
    };
    let mut reporters: Vec<Box<dyn Reporter>> = vec![Box::new(ConsoleReporter::new(
        crate::ci::is_github_actions(),
    ))];
    let checkpoint = Checkpoint {
        store: store.as_ref(),
        holder,
    };
    let report = runner::run(
        &engine,
        &providers,
        &SystemClock,
        &mut reporters,
        Some(&checkpoint),
    )
    .await;
    write_reports(&report, args, loaded.spec.report.title.as_deref());
    Ok(report.outcome)
}

/// Writes `--report` and `--summary`; a failure is a warning, never a new outcome.
fn write_reports(report: &Report, args: &RolloutArgs, title: Option<&str>) {
    if let Some(path) = &args.report
        && let Err(error) = json::write(report, path)
    {
        tracing::warn!("{error}");
    }
    if let Some(path) = &args.summary {
        let written = markdown::render(report, title)
            .map_err(|error| format!("cannot render the summary: {error}"))
            .and_then(|text| crate::report::write_file(path, &text));
        if let Err(error) = written {
            tracing::warn!("{error}");
        }
    }
}

/// Who runs this rollout: the CI run, or this host and process.
fn holder() -> String {
    let facts = crate::ci::detect(|name| std::env::var(name).ok());
    facts.run_url.unwrap_or_else(|| {
        let host = std::env::var("HOSTNAME")
            .ok()
            .or_else(|| {
                std::fs::read_to_string("/etc/hostname")
                    .ok()
                    .map(|name| name.trim().to_owned())
            })
            .unwrap_or_else(|| "localhost".to_owned());
        format!("{host}:{}", std::process::id())
    })
}
