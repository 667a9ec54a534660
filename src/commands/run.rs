//! `greenlight run`: the whole rollout, under the lock, with live reports,
//! cancelled (traffic back on stable) by SIGINT/SIGTERM.

use std::sync::Arc;

use crate::cli::{RolloutArgs, RunArgs};
use crate::clock::{Clock, SystemClock};
use crate::commands::{AppError, Publish, execute, report_links, take_lock};
use crate::compose::{engine, provider_context, providers};
use crate::engine::Outcome;
use crate::forge::session::{CommandKind, Platform, Rollout};
use crate::resolve::{Resolved, Source, release_of, resolve, spec_folder};
use crate::resume::Decision;
use crate::runner::{Cancellation, Journal};
use crate::spec::LoadedSpec;
use crate::state::{RecordPhase, StateStore};
use crate::traffic::Weight;

pub async fn run(run_args: &RunArgs) -> Result<Outcome, AppError> {
    let args = &run_args.rollout;
    let Resolved {
        source,
        loaded,
        store,
    } = resolve(&args.spec).await?;
    let store: Arc<dyn StateStore> = store.into();
    let (lock, holder) = take_lock(&store, &loaded, args.force).await?;
    let result = run_locked(run_args, &source, &loaded, store.as_ref(), holder).await;
    lock.release().await;
    result
}

async fn run_locked(
    run_args: &RunArgs,
    source: &Source,
    loaded: &LoadedSpec,
    store: &dyn StateStore,
    holder: String,
) -> Result<Outcome, AppError> {
    let args = &run_args.rollout;
    let load = || async {
        store
            .load()
            .await
            .map_err(|error| AppError::Provider(error.to_string()))
    };
    // Under the lock, a rollout recorded in progress is one whose job is gone.
    let mut record = load().await?;
    if let Some(other) = record
        .as_ref()
        .filter(|record| other_in_progress(record, &loaded.context.version))
    {
        if !run_args.supersede {
            return Err(AppError::Halted(format!(
                "a rollout of {} to {} is already in progress (held by {}, last update {}, {}% on {1}, {}); its job holds no lock any more: run again with --version {1} to finish it, `greenlight rollback` to undo it, or run this again with --supersede to roll {1} back first",
                other.name,
                other.new_version.as_deref().unwrap_or("?"),
                other.holder.as_deref().unwrap_or("unknown"),
                other.updated_at,
                other.weight,
                crate::state::live::phase_name(other.phase),
            )));
        }
        crate::commands::manual::supersede(args, source, other, store, &holder).await?;
        record = load().await?;
    }
    if let Some(done) = already_done(record.as_ref(), loaded, args)? {
        eprintln!("{done}");
        return Ok(Outcome::Promoted);
    }
    let stable_pool = source.live_pool(record.as_ref())?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let context = provider_context(loaded, spec_folder(&args.spec.config), None, clock.clone())?;
    let providers = providers(&loaded.spec, &context)?;
    // Nothing is deployed when the router cannot even be read.
    providers.router.preflight().await.map_err(|error| {
        AppError::Provider(format!(
            "{}: {error}; nothing was changed",
            providers.router.describe()
        ))
    })?;
    let live = live_split(providers.router.as_ref()).await;
    // In progress or halted, or failed half-way through its rollback.
    let interrupted = record.as_ref().filter(|record| {
        (matches!(record.phase, RecordPhase::InProgress | RecordPhase::Halted)
            || record.pending.is_some())
            && record.new_version.as_deref() == Some(loaded.context.version.as_str())
    });
    let engine = engine(loaded);
    let (resume, verified) = match interrupted {
        None => {
            if let Some(live) = live {
                crate::state::live::compare(
                    record.as_ref(),
                    &store.describe(),
                    &providers.router.describe(),
                    live,
                )
                .map_err(|mismatch| {
                    AppError::Halted(match &loaded.context.pool {
                        Some(sides) => format!(
                            "{}\n{}",
                            mismatch.message,
                            crate::pool::mismatch_note(sides, stable_pool)
                        ),
                        None => mismatch.message,
                    })
                })?;
            }
            (None, Weight::ZERO)
        }
        Some(record) => match crate::resume::decide(record, live, &engine.plan) {
            Decision::Fresh => (None, Weight::ZERO),
            Decision::Resume(point, verified) => (Some(point), verified),
            Decision::Halt(message) => return Err(AppError::Halted(message)),
        },
    };
    let release = release_of(loaded);
    let title = loaded.spec.report.title.as_deref();
    let platform = Platform::from_process_env();
    let links = report_links(loaded, &args.spec, &release.new_version);
    let mut reporters = platform.reporters(&Rollout {
        command: CommandKind::Run,
        release: &release,
        plan: &engine.plan,
        title,
        plan_text: None,
        final_limit: loaded.spec.report.final_limit(),
        webhook: loaded.spec.report.webhook.as_ref(),
        links: links.clone(),
    });
    let journal = Journal {
        store,
        holder,
        stable_pool: loaded.context.pool.is_some().then_some(stable_pool),
        pool_names: loaded.context.pool.clone(),
        resume,
        verified,
    };
    let publish = Publish {
        platform,
        args,
        title,
        links,
    };
    let report = execute(
        &engine,
        &providers,
        clock.as_ref(),
        &mut reporters,
        &journal,
        Some(cancel_on_signal().with_budget(run_args.cancel_budget)),
        &publish,
    )
    .await;
    Ok(report.outcome)
}

/// A rollout of a version other than `version` that has not settled: its
/// new version may still get traffic, or its rollback was not finished.
fn other_in_progress(record: &crate::state::Record, version: &str) -> bool {
    (matches!(record.phase, RecordPhase::InProgress | RecordPhase::Halted)
        || record.pending.is_some())
        && record
            .new_version
            .as_deref()
            .is_some_and(|new| new != version)
}

/// Where traffic really is; a router that cannot be read before the first
/// deploy (a command whose file does not exist yet) is not a reason to stop.
async fn live_split(router: &dyn crate::router::Router) -> Option<Weight> {
    router
        .weight()
        .await
        .map_err(|error| {
            tracing::warn!(
                "could not read the live split from {} before deploying: {error}",
                router.describe()
            );
        })
        .ok()
}

/// `run` for a version that is already stable: what to say instead of
/// rolling it out onto itself. Flags that contradict the record halt.
fn already_done(
    record: Option<&crate::state::Record>,
    loaded: &LoadedSpec,
    args: &RolloutArgs,
) -> Result<Option<String>, AppError> {
    let version = &loaded.context.version;
    let settled = record
        .filter(|record| !matches!(record.phase, RecordPhase::InProgress | RecordPhase::Halted));
    if let Some(record) = settled {
        if record.phase == RecordPhase::Promoted && &record.stable_version == version {
            return Ok(Some(format!(
                "{version} is already stable: it was promoted at {}; nothing to do",
                record.updated_at
            )));
        }
        if let Some(flag) = &args.spec.stable_version
            && flag != &record.stable_version
        {
            return Err(AppError::Halted(format!(
                "--stable-version {flag} contradicts the record, which says {} is stable ({} at {}); nothing was changed. Drop the flag, or if traffic really is on {flag}, fix the record first",
                record.stable_version,
                crate::state::live::phase_name(record.phase),
                record.updated_at
            )));
        }
    }
    if &loaded.context.stable_version == version {
        return Err(AppError::Usage(format!(
            "{version} is the stable version already: nothing to roll out; pass the new version with --version"
        )));
    }
    Ok(None)
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
