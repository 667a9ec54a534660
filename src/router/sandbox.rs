//! `router: sandbox`: the weighted proxy of `greenlight demo`.

use std::sync::Arc;

use async_trait::async_trait;

use super::{Router, Weight};
use crate::provider::ProviderError;
use crate::sandbox::{Sandbox, SandboxProvider};

pub struct SandboxRouter {
    sandbox: Arc<Sandbox>,
}

impl SandboxRouter {
    pub fn new(sandbox: Arc<Sandbox>) -> Self {
        Self { sandbox }
    }
}

/// The demo's sandbox router has no settings of its own.
impl super::RouterSettings for SandboxProvider {
    fn kind(&self) -> &'static str {
        "sandbox"
    }

    fn build(
        &self,
        context: &crate::provider::ProviderContext,
    ) -> Result<Box<dyn Router>, ProviderError> {
        Ok(Box::new(SandboxRouter::new(context.sandbox()?)))
    }
}

#[async_trait]
impl Router for SandboxRouter {
    fn describe(&self) -> String {
        format!("sandbox proxy at {}", self.sandbox.proxy().url())
    }

    fn plan(&self, weight: Weight) -> Vec<String> {
        vec![format!(
            "send {weight} of the proxy's requests to the new app"
        )]
    }

    async fn weight(&self) -> Result<Weight, ProviderError> {
        let percent = self.sandbox.proxy().weight();
        Weight::new(percent)
            .ok_or_else(|| ProviderError::new(format!("the proxy reports weight {percent}")))
    }

    async fn set_weight(&self, weight: Weight) -> Result<(), ProviderError> {
        self.sandbox
            .proxy()
            .set_weight(weight.percent())
            .map_err(|error| {
                ProviderError::new(format!("the sandbox proxy refused {weight}: {error}"))
            })
    }
}
