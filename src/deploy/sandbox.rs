//! `target: sandbox`: the two apps of `greenlight demo`, already running
//! beside each other; deploying checks the new one answers.

use std::sync::Arc;

use async_trait::async_trait;

use super::Target;
use crate::provider::ProviderError;
use crate::sandbox::{HEALTH_PATH, Sandbox, SandboxProvider};

pub struct SandboxTarget {
    sandbox: Arc<Sandbox>,
    http: reqwest::Client,
}

impl SandboxTarget {
    pub fn new(sandbox: Arc<Sandbox>, http: reqwest::Client) -> Self {
        Self { sandbox, http }
    }
}

/// The demo's sandbox target has no settings of its own.
impl super::TargetSettings for SandboxProvider {
    fn kind(&self) -> &'static str {
        "sandbox"
    }

    fn build(
        &self,
        context: &crate::provider::ProviderContext,
    ) -> Result<Box<dyn Target>, ProviderError> {
        Ok(Box::new(SandboxTarget::new(
            context.sandbox()?,
            context.http.clone(),
        )))
    }
}

#[async_trait]
impl Target for SandboxTarget {
    fn describe(&self) -> String {
        "sandbox apps".to_owned()
    }

    fn plan_deploy(&self, version: &str) -> Vec<String> {
        vec![format!(
            "check that the sandbox app {version} answers on {HEALTH_PATH}"
        )]
    }

    fn plan_retire(&self, version: &str) -> Vec<String> {
        vec![format!(
            "nothing: the sandbox keeps {version} until the demo ends"
        )]
    }

    async fn deploy(&self, version: &str) -> Result<(), ProviderError> {
        let app = self.sandbox.new_app();
        if app.version() != version {
            return Err(ProviderError::new(format!(
                "the sandbox runs {} as its new version, not {version}",
                app.version()
            )));
        }
        let url = format!("{}{HEALTH_PATH}", app.url());
        let response = self
            .http
            .get(&url)
            .send()
            .await
            .map_err(|error| ProviderError::new(format!("GET {url}: {error}")))?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(ProviderError::new(format!(
                "GET {url} answered {}",
                response.status()
            )))
        }
    }

    async fn retire(&self, _version: &str) -> Result<(), ProviderError> {
        Ok(())
    }
}
