//! `target: command`: deploy and retire with the user's own tooling.

use std::time::Duration;

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::Target;
use crate::duration::Span;
use crate::field::{FieldPath, Problem, require_text};
use crate::process::run_script;
use crate::provider::ProviderError;
use crate::release::Release;

// `target: command` (no doc comment: the schema describes it at the enum arm).
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CommandTarget {
    /// Deploys `$GREENLIGHT_VERSION` beside the stable one; exits 0 once it is ready.
    pub deploy: String,
    /// Removes `$GREENLIGHT_VERSION` (the old version after promotion, the new
    /// one after a rollback). Nothing is removed when this is not set.
    pub retire: Option<String>,
    /// How long `deploy` may take before the rollout is rolled back.
    #[serde(default = "super::default_deploy_timeout")]
    pub timeout: Span,
}

impl super::TargetSettings for CommandTarget {
    fn kind(&self) -> &'static str {
        "command"
    }

    fn check(&self, path: FieldPath, problems: &mut Vec<Problem>) {
        require_text(&self.deploy, path.key("deploy"), problems);
    }

    fn build(
        &self,
        context: &crate::provider::ProviderContext,
    ) -> Result<Box<dyn Target>, ProviderError> {
        Ok(Box::new(CommandTargetProvider {
            spec: self.clone(),
            release: context.release.clone(),
            template: context.template.clone(),
        }))
    }
}

pub struct CommandTargetProvider {
    spec: CommandTarget,
    release: Release,
    /// Only for the pool each version runs in, on fixed pools.
    template: crate::template::TemplateContext,
}

impl CommandTargetProvider {
    /// What a script acting on `version` sees: the release, the version and, on
    /// fixed pools, that version's own pool. A script's text is rendered once for
    /// the release, where `pool.new` is the new version's pool even when the
    /// stable version is retired; `GREENLIGHT_POOL` follows the version.
    fn env(&self, version: &str) -> Vec<(&'static str, String)> {
        let mut env = self.release.env();
        env.push(("GREENLIGHT_VERSION", version.to_owned()));
        if let Some(pool) = self.template.for_version(version).pool {
            env.push(("GREENLIGHT_POOL", pool.new));
        }
        env
    }

    /// How the plan shows the variables a script acting on `version` gets.
    fn shown_env(&self, version: &str) -> String {
        self.env(version)
            .into_iter()
            .filter(|(name, _)| matches!(*name, "GREENLIGHT_VERSION" | "GREENLIGHT_POOL"))
            .map(|(name, value)| format!("{name}={value}"))
            .collect::<Vec<_>>()
            .join(" ")
    }

    async fn run(
        &self,
        script: &str,
        version: &str,
        timeout: Duration,
        what: &str,
    ) -> Result<(), ProviderError> {
        run_script(
            script,
            &self.env(version),
            timeout,
            &format!("{what} {version}"),
        )
        .await?;
        Ok(())
    }
}

#[async_trait]
impl Target for CommandTargetProvider {
    fn describe(&self) -> String {
        "command target".to_owned()
    }

    fn plan_deploy(&self, version: &str) -> Vec<String> {
        vec![format!(
            "run `{}` with {}",
            self.spec.deploy,
            self.shown_env(version)
        )]
    }

    fn plan_retire(&self, version: &str) -> Vec<String> {
        match &self.spec.retire {
            Some(retire) => vec![format!("run `{retire}` with {}", self.shown_env(version))],
            None => vec![format!("leave {version} running (no `retire` command)")],
        }
    }

    async fn deploy(&self, version: &str) -> Result<(), ProviderError> {
        self.run(
            &self.spec.deploy,
            version,
            self.spec.timeout.get(),
            "deploying",
        )
        .await
    }

    async fn retire(&self, version: &str) -> Result<(), ProviderError> {
        match &self.spec.retire {
            Some(retire) => {
                self.run(retire, version, self.spec.timeout.get(), "retiring")
                    .await
            }
            None => Ok(()),
        }
    }
}
