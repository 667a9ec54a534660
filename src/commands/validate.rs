//! `greenlight validate`: the spec, its templates and each provider's
//! settings, without touching the network.

use crate::cli::SpecArgs;
use crate::commands::AppError;
use crate::compose::capabilities;
use crate::engine::Plan;
use crate::resolve::{UNKNOWN_VERSION, read_spec};

/// What `validate` prints when the spec is valid.
pub fn validate(args: &SpecArgs) -> Result<String, AppError> {
    let loaded = read_spec(
        args,
        args.stable_version.as_deref().unwrap_or(UNKNOWN_VERSION),
    )?;
    let plan = Plan::from_spec(&loaded.spec, &capabilities(&loaded));
    Ok(format!(
        "{} is valid: {} `{}` in {} step(s)",
        args.config.display(),
        match plan.strategy {
            crate::engine::plan::StrategyKind::Canary => "canary",
            crate::engine::plan::StrategyKind::BlueGreen => "blue/green",
        },
        loaded.spec.metadata.name,
        plan.steps.len()
    ))
}
