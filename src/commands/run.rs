//! `greenlight run`: the whole rollout, under the lock, with live reports,
//! cancelled (traffic back on stable) by SIGINT/SIGTERM.

use std::sync::Arc;

use crate::cli::RolloutArgs;
use crate::clock::{Clock, SystemClock};
use crate::commands::{AppError, Publish, execute, holder};
use crate::compose::{engine, provider_context, providers};
use crate::engine::Outcome;
use crate::forge::session::{Command, Platform, Rollout};
use crate::resolve::{release_of, resolve, spec_folder};
use crate::runner::{Cancellation, Checkpoint};
use crate::state::held_elsewhere;

pub async fn run(args: &RolloutArgs) -> Result<Outcome, AppError> {
    let (loaded, store) = resolve(&args.spec).await?;
    let holder = holder();
    let record = store
        .load()
        .await
        .map_err(|error| AppError::Provider(error.to_string()))?;
    if let Some(record) = held_elsewhere(record.as_ref(), &holder) {
        eprintln!(
            "halted: a rollout of {} to {} is already in progress (held by {}, last update {}); wait for it, or clear {} once it is gone",
            record.name,
            record.new_version.as_deref().unwrap_or_default(),
            record.holder.as_deref().unwrap_or("unknown"),
            record.updated_at,
            store.describe()
        );
        return Ok(Outcome::Halted);
    }
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let context = provider_context(&loaded, spec_folder(&args.spec.config), None, clock.clone())?;
    let providers = providers(&loaded.spec, &context)?;
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
        final_limit: loaded.spec.report.final_limit(),
    });
    let checkpoint = Checkpoint {
        store: store.as_ref(),
        holder,
    };
    let publish = Publish {
        platform,
        args,
        title,
    };
    let report = execute(
        &engine,
        &providers,
        clock.as_ref(),
        &mut reporters,
        &checkpoint,
        Some(cancel_on_signal()),
        &publish,
    )
    .await;
    Ok(report.outcome)
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
