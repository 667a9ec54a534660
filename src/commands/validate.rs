//! `greenlight validate`: the spec, its templates and each provider's
//! settings, without touching the network; with `--live`, also the router's
//! own check of its object (`Router::preflight`), as `run` makes it before
//! deploying.

use std::sync::Arc;

use crate::cli::ValidateArgs;
use crate::clock::SystemClock;
use crate::commands::AppError;
use crate::compose::{capabilities, provider_context};
use crate::engine::Plan;
use crate::pool::Pool;
use crate::release::Version;
use crate::resolve::{Source, spec_folder};

/// What `validate` prints when the spec (and, live, the router) is valid.
pub async fn validate(args: &ValidateArgs) -> Result<String, AppError> {
    let spec_args = &args.spec;
    let loaded = Source::read(spec_args)?.load(
        &Version::from_flag(spec_args.new_version.as_deref()),
        &Version::from_flag(spec_args.stable_version.as_deref()),
        Pool::default(),
    )?;
    let plan = Plan::from_spec(&loaded.spec, &capabilities(&loaded));
    let mut text = format!(
        "{} is valid: {} `{}` in {} step(s)",
        spec_args.config.display(),
        plan.strategy.as_str(),
        loaded.spec.metadata.name,
        plan.steps.len()
    );
    if args.live {
        let context = provider_context(
            &loaded,
            spec_folder(&spec_args.config),
            None,
            Arc::new(SystemClock),
        )?;
        let router = loaded
            .spec
            .router
            .build(&context)
            .map_err(|error| AppError::Provider(error.to_string()))?;
        router
            .preflight()
            .await
            .map_err(|error| AppError::Provider(format!("{}: {error}", router.describe())))?;
        text.push_str(&format!("; {} checked live", router.describe()));
    }
    Ok(text)
}
