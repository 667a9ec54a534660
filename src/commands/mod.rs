//! One module per subcommand, each thin: resolve the spec (`resolve`), build
//! the providers and the engine (`compose`), run, write the report files.

pub mod demo;
pub mod manual;
pub mod plan;
pub mod run;
pub mod validate;

use crate::cli::RolloutArgs;
use crate::clock::Clock;
use crate::engine::Engine;
pub use crate::error::AppError;
use crate::forge::session::Platform;
use crate::forge::session::Written;
use crate::report::Reporter;
use crate::report::links::{Handoff, Links};
use crate::report::{Report, json, markdown};
use crate::runner::{self, Cancellation, Journal, Providers};

/// Writes `--report` and `--summary`; a failure is a warning, never a new
/// outcome. Returns the files that were written.
pub(crate) fn write_reports<'a>(
    report: &Report,
    args: &'a RolloutArgs,
    title: Option<&str>,
    platform: &Platform,
) -> Written<'a> {
    let report_written = args.report.as_deref().filter(|path| {
        json::write(report, path)
            .map_err(|error| platform.warn(&error))
            .is_ok()
    });
    let summary_written = args.summary.as_deref().filter(|path| {
        markdown::render(report, title)
            .map_err(|error| format!("cannot render the summary: {error}"))
            .and_then(|text| crate::report::write_file(path, &text))
            .map_err(|error| platform.warn(&error))
            .is_ok()
    });
    Written {
        report: report_written,
        summary: summary_written,
    }
}

/// Takes the rollout's lock before anything changes; a live holder halts
/// the command (exit 3) with its name and the lock's expiry. Returns the lock
/// and this job's name for the record; the job comes from the CI facts the
/// spec was resolved with.
pub(crate) async fn take_lock(
    store: &std::sync::Arc<dyn crate::state::StateStore>,
    loaded: &crate::spec::LoadedSpec,
    force: bool,
) -> Result<(crate::state::guard::LockGuard, String), AppError> {
    use crate::state::guard::{LockGuard, Refused};
    let service = &loaded.spec.metadata.name;
    let ci = &loaded.context.ci;
    let holder = crate::state::lock::Holder::of_this_process(
        ci.job.as_deref(),
        ci.job_attempt.clone(),
        |name| std::env::var(name).ok(),
    );
    let name = holder.name.clone();
    LockGuard::acquire(
        store.clone(),
        std::sync::Arc::new(crate::clock::SystemClock),
        holder,
        force,
    )
    .await
    .map(|guard| (guard, name))
    .map_err(|refused| {
        let message = refused.explain(service, &store.describe());
        match refused {
            Refused::Busy(_) => AppError::Halted(message),
            Refused::Failed(_) => AppError::Provider(message),
        }
    })
}

/// Where a command's final report goes: the files its flags name, and what
/// the CI system reads.
pub(crate) struct Publish<'a> {
    pub platform: Platform,
    pub args: &'a RolloutArgs,
    pub title: Option<&'a str>,
    pub links: Links,
}

/// What the reports link: the CI run, each gate's query, and the exact
/// `promote`/`rollback` commands (with this spec, version and flags) that
/// finish a halted rollout by hand.
pub(crate) fn report_links(
    loaded: &crate::spec::LoadedSpec,
    args: &crate::cli::SpecArgs,
    new_version: &str,
) -> Links {
    let ci = crate::forge::links::ci_links(
        &|name| std::env::var(name).ok(),
        loaded.spec.report.dispatch_workflow.as_deref(),
    );
    let mut handoff = Handoff::new(
        &args.config.display().to_string(),
        new_version,
        &args.sets,
        &args.vars,
    );
    handoff.dispatch = ci.dispatch;
    Links {
        run: ci.run,
        queries: crate::report::links::query_links(&loaded.spec),
        handoff: Some(handoff),
    }
}

/// Carries out the engine's plan under the lock, then writes the report files
/// and publishes the outcome: `run` and the manual commands alike.
pub(crate) async fn execute(
    engine: &Engine,
    providers: &Providers,
    clock: &dyn Clock,
    reporters: &mut [Box<dyn Reporter>],
    lock: &Journal<'_>,
    cancellation: Option<Cancellation>,
    publish: &Publish<'_>,
) -> Report {
    let report = runner::run(
        engine,
        providers,
        clock,
        reporters,
        Some(lock),
        cancellation,
    )
    .await
    .with_links(publish.links.clone());
    let written = write_reports(&report, publish.args, publish.title, &publish.platform);
    publish.platform.publish(&report, &written, publish.title);
    report
}
