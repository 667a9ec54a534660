//! What each subcommand does, between parsed arguments and the library.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use crate::checks::CheckSuite;
use crate::cli::{RolloutArgs, SpecArgs};
use crate::clock::Clock;
use crate::clock::SystemClock;
use crate::engine::{Engine, Outcome, Plan};
use crate::forge::session::{Command, Platform, Rollout, Written};
use crate::provider::{ProviderContext, ProviderError};
use crate::release::Release;
use crate::report::{Report, json, markdown};
use crate::runner::{self, Cancellation, Checkpoint, Providers};
use crate::sandbox::Sandbox;
use crate::secrets::Masker;
use crate::spec::kubernetes::ClusterSpec;
use crate::spec::overrides::SetOverride;
use crate::spec::types::{RolloutSpec, RouterSpec, StateSpec, TargetSpec};
use crate::spec::{LoadOptions, LoadedSpec, SpecError};
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
    /// Nothing was done because a person must decide first (exit code 3).
    #[error("halted: {0}")]
    Halted(String),
}

/// Stands in for versions `validate` is not told about.
pub(crate) const UNKNOWN_VERSION: &str = "0.0.0-validate";

pub(crate) fn read_spec(args: &SpecArgs, stable_version: &str) -> Result<LoadedSpec, AppError> {
    let file = args.config.display().to_string();
    let bytes = crate::spec::load::read_file(&args.config).map_err(|error| {
        AppError::Usage(format!(
            "cannot read the rollout spec {file}: {error}; pass its path with -f/--config"
        ))
    })?;
    let sets = SetOverride::parse_all(&args.sets)?;
    let options = LoadOptions {
        version: args
            .new_version
            .clone()
            .unwrap_or_else(|| UNKNOWN_VERSION.to_owned()),
        stable_version: stable_version.to_owned(),
        sets,
        vars: args.vars.clone(),
        ci: crate::forge::detect(|name| std::env::var(name).ok()),
    };
    let loaded = crate::spec::load::load_bytes(&file, &bytes, &options)?;
    // Before anything runs: every output is masked from here on.
    crate::secrets::hold_spec_secrets(&loaded.spec, crate::forge::is_github_actions());
    Ok(loaded)
}

pub(crate) fn state_store(spec: &RolloutSpec, config: &Path) -> Box<dyn StateStore> {
    let name = &spec.metadata.name;
    match &spec.state {
        Some(StateSpec::File(path)) => Box::new(FileStateStore::new(path)),
        Some(StateSpec::ConfigMap(map)) => Box::new(ConfigMapStateStore::new(name, map.cluster())),
        // State lives with the system being changed (DESIGN.md): a Kubernetes
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
    match &spec.router {
        RouterSpec::Command(_) | RouterSpec::Sandbox(_) | RouterSpec::Haproxy(_) => None,
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

fn http_client() -> Result<reqwest::Client, AppError> {
    reqwest::Client::builder()
        .user_agent(concat!("greenlight/", env!("CARGO_PKG_VERSION")))
        .redirect(crate::metrics::transport::redirect_policy())
        .build()
        .map_err(|error| AppError::Provider(format!("cannot build the HTTP client: {error}")))
}

/// What every provider factory gets.
pub fn provider_context(
    loaded: &LoadedSpec,
    spec_dir: &Path,
    sandbox: Option<Arc<Sandbox>>,
) -> Result<ProviderContext, AppError> {
    let interval = loaded
        .spec
        .analysis
        .as_ref()
        .map_or(Duration::from_secs(10), |analysis| analysis.interval.get());
    Ok(ProviderContext {
        release: release_of(loaded),
        template: loaded.context.clone(),
        base_dir: spec_dir.to_owned(),
        http: http_client()?,
        interval,
        sandbox,
    })
}

/// Builds every provider the spec names.
pub fn providers(
    spec: &RolloutSpec,
    context: &ProviderContext,
    clock: Arc<dyn Clock>,
) -> Result<Providers, AppError> {
    let provider = |error: ProviderError| AppError::Provider(error.to_string());
    let prometheus = spec
        .analysis
        .as_ref()
        .and_then(|analysis| analysis.prometheus.as_ref());
    // The error names the metric, since several share one kind of source.
    let source = |name: &str, query, domain| {
        crate::metrics::from_spec(query, domain, prometheus, context).map_err(|error| {
            AppError::Provider(error.context(format!("metric `{name}`")).to_string())
        })
    };
    Ok(Providers {
        target: crate::deploy::from_spec(&spec.target, context).map_err(provider)?,
        router: crate::router::from_spec(&spec.router, context).map_err(provider)?,
        metrics: spec
            .analysis
            .iter()
            .flat_map(|analysis| &analysis.metrics)
            .map(|metric| source(&metric.name, &metric.query, metric.domain))
            .collect::<Result<_, _>>()?,
        waits: spec
            .analysis
            .iter()
            .flat_map(|analysis| &analysis.before_retire)
            .map(|gate| source(&gate.name, &gate.query, gate.domain))
            .collect::<Result<_, _>>()?,
        checks: Box::new(
            CheckSuite::from_spec(
                spec,
                &context.release,
                &context.http,
                clock,
                Masker::from_env(std::env::vars()),
            )
            .map_err(provider)?,
        ),
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
    let context = provider_context(&loaded, spec_folder(&args.spec.config), None)?;
    let provider = |error: ProviderError| AppError::Provider(error.to_string());
    let target = crate::deploy::from_spec(&loaded.spec.target, &context).map_err(provider)?;
    let router = crate::router::from_spec(&loaded.spec.router, &context).map_err(provider)?;
    let text = crate::plan_text::render(
        &loaded.spec,
        &plan,
        &release,
        target.as_ref(),
        router.as_ref(),
        store.as_ref(),
    );
    print!("{}", crate::secrets::mask(&text));
    let report = Report::build(
        &release,
        &plan,
        Outcome::Planned,
        "nothing was changed".to_owned(),
        Vec::new(),
    );
    let title = loaded.spec.report.title.as_deref();
    let platform = Platform::from_process_env();
    let rollout = Rollout {
        command: Command::Plan,
        release: &release,
        plan: &plan,
        title,
        plan_text: Some(text),
    };
    // No events for a plan: the comment gets the final report at once.
    for mut reporter in platform.forge_reporters(&rollout) {
        if let Err(error) = reporter.finish(&report).await {
            tracing::warn!("a report could not be written: {error}");
        }
    }
    let written = write_reports(&report, args, title);
    platform.publish(&report, &written, title);
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
    let context = provider_context(&loaded, spec_folder(&args.spec.config), None)?;
    let providers = providers(&loaded.spec, &context, Arc::new(SystemClock))?;
    // Nothing is deployed when the router cannot even be read.
    providers.router.preflight().await.map_err(|error| {
        AppError::Provider(format!(
            "{}: {error}; nothing was changed",
            providers.router.describe()
        ))
    })?;
    let engine = engine(&loaded);
    let release = release_of(&loaded);
    let title = loaded.spec.report.title.as_deref();
    let platform = Platform::from_process_env();
    let mut reporters = platform.reporters(&Rollout {
        command: Command::Run,
        release: &release,
        plan: &engine.plan,
        title,
        plan_text: None,
    });
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
        Some(cancel_on_signal()),
    )
    .await;
    let written = write_reports(&report, args, title);
    platform.publish(&report, &written, title);
    Ok(report.outcome)
}

/// Writes `--report` and `--summary`; a failure is a warning, never a new
/// outcome. Returns the files that were written.
pub(crate) fn write_reports<'a>(
    report: &Report,
    args: &'a RolloutArgs,
    title: Option<&str>,
) -> Written<'a> {
    let report_written = args.report.as_deref().filter(|path| {
        json::write(report, path)
            .map_err(|error| tracing::warn!("{error}"))
            .is_ok()
    });
    let summary_written = args.summary.as_deref().filter(|path| {
        markdown::render(report, title)
            .map_err(|error| format!("cannot render the summary: {error}"))
            .and_then(|text| crate::report::write_file(path, &text))
            .map_err(|error| tracing::warn!("{error}"))
            .is_ok()
    });
    Written {
        report: report_written,
        summary: summary_written,
    }
}

/// Turns SIGINT/SIGTERM (a cancelled CI job) into a cancellation: traffic goes
/// back to stable before we exit. Runners send SIGINT then SIGTERM a few seconds
/// apart, so later signals must not cut the rollback short: only SIGKILL can.
pub fn cancel_on_signal() -> Cancellation {
    let (cancel, cancellation) = Cancellation::new();
    tokio::spawn(async move {
        let mut first = true;
        while let Some(signal) = next_signal().await {
            if first {
                eprintln!("greenlight: {signal}: putting traffic back on the stable version");
                let _ = cancel.send(Some(format!("the rollout was cancelled ({signal})")));
                first = false;
            } else {
                eprintln!(
                    "greenlight: {signal} again: still putting traffic back on the stable version; SIGKILL stops it half-way"
                );
            }
        }
    });
    cancellation
}

async fn next_signal() -> Option<&'static str> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut terminate = signal(SignalKind::terminate()).ok()?;
        tokio::select! {
            result = tokio::signal::ctrl_c() => result.ok().map(|()| "SIGINT"),
            received = terminate.recv() => received.map(|()| "SIGTERM"),
        }
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c().await.ok().map(|()| "Ctrl-C")
    }
}

/// Who runs this rollout: the CI run, or this host and process.
pub(crate) fn holder() -> String {
    let facts = crate::forge::detect(|name| std::env::var(name).ok());
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
