//! `target: command`: deploy and retire with the user's own tooling.

use std::time::Duration;

use async_trait::async_trait;

use super::Target;
use crate::process::run_shell;
use crate::provider::ProviderError;
use crate::release::Release;
use crate::spec::types::CommandTarget;

pub struct CommandTargetProvider {
    spec: CommandTarget,
    release: Release,
}

impl CommandTargetProvider {
    pub fn new(spec: CommandTarget, release: Release) -> Self {
        Self { spec, release }
    }

    async fn run(
        &self,
        script: &str,
        version: &str,
        timeout: Duration,
        what: &str,
    ) -> Result<(), ProviderError> {
        let mut env = self.release.env();
        env.push(("GREENLIGHT_VERSION", version.to_owned()));
        let finished = run_shell(script, &env, timeout).await?;
        if finished.success {
            Ok(())
        } else {
            Err(ProviderError::new(format!(
                "{what} {version}: `{script}` {}: {}",
                finished.status(),
                finished.last_words()
            )))
        }
    }
}

#[async_trait]
impl Target for CommandTargetProvider {
    fn describe(&self) -> String {
        "command target".to_owned()
    }

    fn plan_deploy(&self, version: &str) -> Vec<String> {
        vec![format!(
            "run `{}` with GREENLIGHT_VERSION={version}",
            self.spec.deploy
        )]
    }

    fn plan_retire(&self, version: &str) -> Vec<String> {
        match &self.spec.retire {
            Some(retire) => vec![format!("run `{retire}` with GREENLIGHT_VERSION={version}")],
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
