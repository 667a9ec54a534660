//! `router: command`: shift traffic with the user's own commands, for routers
//! greenlight has no provider for yet.

use std::time::Duration;

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Router, Weight};
use crate::field::{FieldPath, Problem, problem};
use crate::process::run_script;
use crate::provider::ProviderError;
use crate::release::Release;

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CommandRouter {
    /// Sends `$GREENLIGHT_WEIGHT` percent of traffic to the new version.
    pub set: String,
    /// Prints the percentage the new version receives now (read back after every change).
    pub get: String,
}

/// Both commands must say something.
pub fn check(spec: &CommandRouter, path: FieldPath, problems: &mut Vec<Problem>) {
    for (command, field) in [(&spec.set, "set"), (&spec.get, "get")] {
        if command.trim().is_empty() {
            problems.push(problem(path.key(field), "must not be empty"));
        }
    }
}

const TIMEOUT: Duration = Duration::from_secs(60);

pub struct CommandRouterProvider {
    pub spec: CommandRouter,
    pub release: Release,
}

#[async_trait]
impl Router for CommandRouterProvider {
    fn describe(&self) -> String {
        "command router".to_owned()
    }

    fn plan(&self, weight: Weight) -> Vec<String> {
        vec![format!(
            "run `{}` with GREENLIGHT_WEIGHT={}",
            self.spec.set,
            weight.percent()
        )]
    }

    async fn weight(&self) -> Result<Weight, ProviderError> {
        let finished = run_script(
            &self.spec.get,
            &self.release.env(),
            TIMEOUT,
            "reading the weight",
        )
        .await?;
        let printed = finished.stdout.trim().trim_end_matches('%');
        printed
            .parse::<u8>()
            .ok()
            .and_then(Weight::new)
            .ok_or_else(|| {
                ProviderError::new(format!(
                    "`{}` printed `{printed}`, not a percentage",
                    self.spec.get
                ))
                .with_hint("the `get` command must print the new version's share, 0 to 100")
            })
    }

    async fn set_weight(&self, weight: Weight) -> Result<(), ProviderError> {
        let mut env = self.release.env();
        env.push(("GREENLIGHT_WEIGHT", weight.percent().to_string()));
        run_script(&self.spec.set, &env, TIMEOUT, &format!("setting {weight}")).await?;
        Ok(())
    }
}

impl super::RouterSettings for CommandRouter {
    fn kind(&self) -> &'static str {
        "command"
    }

    fn check(&self, path: FieldPath, problems: &mut Vec<Problem>) {
        check(self, path, problems);
    }

    fn build(
        &self,
        context: &crate::provider::ProviderContext,
    ) -> Result<Box<dyn super::Router>, ProviderError> {
        Ok(Box::new(CommandRouterProvider {
            spec: self.clone(),
            release: context.release.clone(),
        }))
    }
}
