//! What each subcommand does, between parsed arguments and the library.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use crate::cli::{RolloutArgs, SpecArgs};
use crate::clock::SystemClock;
use crate::engine::{Engine, Outcome, Plan};
use crate::provider::{ProviderContext, ProviderError};
use crate::release::Release;
use crate::report::{Report, Reporter, console::ConsoleReporter, json, markdown};
use crate::runner::{self, Checkpoint, Providers};
use crate::sandbox::Sandbox;
use crate::smoke::SmokeSuite;
use crate::spec::error::Origin;
use crate::spec::overrides::SetOverride;
use crate::spec::types::{RolloutSpec, StateSpec};
use crate::spec::{LoadOptions, LoadedSpec, SpecError, load};
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
    let path = match &spec.state {
        Some(StateSpec::File(path)) => path.into(),
        None => config
            .parent()
            .unwrap_or(Path::new("."))
            .join(".greenlight")
            .join(format!("{}.json", spec.metadata.name)),
    };
    Box::new(FileStateStore::new(path))
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

pub fn release_of(loaded: &LoadedSpec) -> Release {
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

/// What every provider factory gets.
pub fn provider_context(
    loaded: &LoadedSpec,
    sandbox: Option<Arc<Sandbox>>,
) -> Result<ProviderContext, AppError> {
    let interval = loaded
        .spec
        .analysis
        .as_ref()
        .map_or(Duration::from_secs(10), |analysis| analysis.interval.get());
    Ok(ProviderContext {
        release: release_of(loaded),
        http: http_client()?,
        interval,
        sandbox,
    })
}

/// Builds every provider the spec names.
pub fn providers(spec: &RolloutSpec, context: &ProviderContext) -> Result<Providers, AppError> {
    let provider = |error: ProviderError| AppError::Provider(error.to_string());
    let prometheus = spec
        .analysis
        .as_ref()
        .and_then(|analysis| analysis.prometheus.as_ref());
    // The error names the metric, since several share one kind of source.
    let source = |name: &str, query| {
        crate::metrics::from_spec(query, prometheus, context).map_err(|error| {
            AppError::Provider(error.context(format!("metric `{name}`")).to_string())
        })
    };
    Ok(Providers {
        target: crate::target::from_spec(&spec.target, context).map_err(provider)?,
        router: crate::router::from_spec(&spec.router, context).map_err(provider)?,
        metrics: spec
            .analysis
            .iter()
            .flat_map(|analysis| &analysis.metrics)
            .map(|metric| source(&metric.name, &metric.query))
            .collect::<Result<_, _>>()?,
        waits: spec
            .analysis
            .iter()
            .flat_map(|analysis| &analysis.before_retire)
            .map(|gate| source(&gate.name, &gate.query))
            .collect::<Result<_, _>>()?,
        smoke: Box::new(SmokeSuite::new(
            spec.smoke.clone(),
            context.release.clone(),
            context.http.clone(),
        )),
    })
}

pub fn engine(loaded: &LoadedSpec) -> Engine {
    let release = release_of(loaded);
    Engine {
        plan: Plan::from_spec(&loaded.spec),
        name: release.name,
        stable_version: release.stable_version,
        new_version: release.new_version,
    }
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
    let context = provider_context(&loaded, None)?;
    let provider = |error: ProviderError| AppError::Provider(error.to_string());
    let target = crate::target::from_spec(&loaded.spec.target, &context).map_err(provider)?;
    let router = crate::router::from_spec(&loaded.spec.router, &context).map_err(provider)?;
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
    let context = provider_context(&loaded, None)?;
    let providers = providers(&loaded.spec, &context)?;
    // Nothing is deployed when the router cannot even be read.
    providers.router.preflight().await.map_err(|error| {
        AppError::Provider(format!(
            "{}: {error}; nothing was changed",
            providers.router.describe()
        ))
    })?;
    let engine = engine(&loaded);
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
pub fn write_reports(report: &Report, args: &RolloutArgs, title: Option<&str>) {
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
