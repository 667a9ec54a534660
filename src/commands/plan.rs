//! `greenlight plan`: every step and the exact change each provider would
//! make; nothing is touched. The PR/MR comment gets the plan at once.

use std::sync::Arc;

use crate::cli::RolloutArgs;
use crate::clock::SystemClock;
use crate::commands::{AppError, report_links, write_reports};
use crate::compose::{capabilities, provider_context};
use crate::engine::{Outcome, Plan};
use crate::forge::session::{CommandKind, Platform, Rollout};
use crate::provider::ProviderError;
use crate::report::Report;
use crate::resolve::{Resolved, release_of, resolve, spec_folder};

/// Returns the plan's text, for stdout.
pub async fn plan(args: &RolloutArgs) -> Result<String, AppError> {
    let Resolved { loaded, store, .. } = resolve(&args.spec).await?;
    let release = release_of(&loaded);
    let plan = Plan::from_spec(&loaded.spec, &capabilities(&loaded));
    let context = provider_context(
        &loaded,
        spec_folder(&args.spec.config),
        None,
        Arc::new(SystemClock),
    )?;
    let provider = |error: ProviderError| AppError::Provider(error.to_string());
    let target = loaded.spec.target.build(&context).map_err(provider)?;
    let router = loaded.spec.router.build(&context).map_err(provider)?;
    let text = crate::plan_text::render(
        &loaded.spec,
        &plan,
        &release,
        target.as_ref(),
        router.as_ref(),
        store.as_ref(),
    );
    let text = crate::plan_text::with_pools(text, &loaded.context, &release);
    let report = Report::build(
        &release,
        &plan,
        Outcome::Planned,
        "nothing was changed".to_owned(),
        Vec::new(),
    )
    .with_links(report_links(&loaded, &args.spec, &release.new_version));
    let title = loaded.spec.report.title.as_deref();
    let platform = Platform::from_process_env();
    let rollout = Rollout {
        command: CommandKind::Plan,
        release: &release,
        plan: &plan,
        title,
        plan_text: Some(text.clone()),
        final_limit: loaded.spec.report.final_limit(),
        webhook: loaded.spec.report.webhook.as_ref(),
        links: report.links.clone(),
    };
    // No events for a plan: the comment gets the final report at once.
    for mut reporter in platform.forge_reporters(&rollout) {
        if let Err(error) = reporter.finish(&report).await {
            platform.warn(&format!("a report could not be written: {error}"));
        }
    }
    let written = write_reports(&report, args, title, &platform);
    platform.publish(&report, &written, title);
    Ok(text)
}
