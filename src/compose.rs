//! The composition root: builds every provider a loaded spec names, around
//! one clock and one HTTP client, and the engine with its plan.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use crate::checks::CheckSuite;
use crate::clock::Clock;
use crate::engine::{Engine, Plan};
use crate::error::AppError;
use crate::provider::{ProviderContext, ProviderError};
use crate::resolve::release_of;
use crate::runner::Providers;
use crate::sandbox::Sandbox;
use crate::secrets::Masker;
use crate::spec::LoadedSpec;
use crate::spec::types::RolloutSpec;

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
    clock: Arc<dyn Clock>,
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
        clock,
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
    let source = |name: &str, query, domain| {
        crate::metrics::from_spec(query, domain, prometheus, context).map_err(|error| {
            AppError::Provider(error.context(format!("metric `{name}`")).to_string())
        })
    };
    Ok(Providers {
        target: spec.target.build(context).map_err(provider)?,
        router: spec.router.build(context).map_err(provider)?,
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
                context.clock.clone(),
                Masker::from_env(std::env::vars()),
            )
            .map_err(provider)?,
        ),
    })
}

/// The engine for `run`: the whole rollout.
pub fn engine(loaded: &LoadedSpec) -> Engine {
    engine_for(loaded, Plan::from_spec(&loaded.spec, &capabilities(loaded)))
}

/// The engine that runs `plan` on the loaded spec's release.
pub(crate) fn engine_for(loaded: &LoadedSpec, plan: Plan) -> Engine {
    let release = release_of(loaded);
    Engine {
        plan,
        name: release.name,
        stable_version: release.stable_version,
        new_version: release.new_version,
    }
}

/// What the spec's router can do, which the plan is compiled from.
pub(crate) fn capabilities(loaded: &LoadedSpec) -> crate::traffic::Capabilities {
    loaded.spec.router.capabilities()
}
