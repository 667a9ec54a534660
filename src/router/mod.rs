//! Routers read and set how traffic is split between stable and new.

mod backends;
pub mod command;
pub mod contour;
pub mod gateway_api;
pub mod haproxy;
pub mod openshift;
pub mod sandbox;
pub mod service;
pub mod service_red_black;
pub mod split;

use async_trait::async_trait;

use crate::provider::ProviderError;
pub use crate::traffic::{Side, Weight};

#[async_trait]
pub trait Router: Send + Sync {
    /// What is being routed, for logs: "haproxy backend app at /run/haproxy.sock".
    fn describe(&self) -> String;
    /// The exact changes `set_weight(weight)` would make, for `plan`; no I/O.
    fn plan(&self, weight: Weight) -> Vec<String>;
    /// Checks, before anything changes, that the router can be reached and knows
    /// what the spec names; routers that cannot tell before a deploy do nothing.
    async fn preflight(&self) -> Result<(), ProviderError> {
        Ok(())
    }
    /// What the router does now, read from the router itself.
    async fn weight(&self) -> Result<Weight, ProviderError>;
    async fn set_weight(&self, weight: Weight) -> Result<(), ProviderError>;

    /// Sets `weight`, then reads back what the router does now: a change
    /// counts only once it is read back (`engine::verify` compares the two).
    async fn apply(&self, weight: Weight) -> Result<Weight, ProviderError> {
        self.set_weight(weight).await?;
        self.weight().await
    }
    /// The exact changes `drain(side)` makes, for `plan`; empty for routers that
    /// have nothing to drain.
    fn plan_drain(&self, _side: Side) -> Vec<String> {
        Vec::new()
    }
    /// Takes `side`'s servers out of rotation so open sessions can finish (safe to
    /// repeat), and returns how many sessions they still hold; `None` when the
    /// router has no sessions to wait for. The engine polls this until 0.
    async fn drain(&self, _side: Side) -> Result<Option<u64>, ProviderError> {
        Ok(None)
    }
}

/// The router a spec asks for.
pub fn from_spec(
    spec: &crate::spec::types::RouterSpec,
    context: &crate::provider::ProviderContext,
) -> Result<Box<dyn Router>, ProviderError> {
    use crate::spec::types::RouterSpec;
    Ok(match spec {
        RouterSpec::Command(command) => Box::new(command::CommandRouterProvider::new(
            command.clone(),
            context.release.clone(),
        )),
        RouterSpec::Haproxy(spec) => Box::new(haproxy::HaproxyRouter::from_spec(spec)?),
        RouterSpec::Sandbox(_) => Box::new(sandbox::SandboxRouter::new(context.sandbox()?)),
        RouterSpec::Service(service) => match &service.red_black {
            Some(red_black) => Box::new(service_red_black::RedBlackRouter::new(
                service,
                red_black.clone(),
                std::sync::Arc::new(crate::clock::SystemClock),
            )),
            None => Box::new(service::ServiceRouterProvider::new(service.clone())),
        },
        RouterSpec::GatewayApi(route) => {
            Box::new(gateway_api::GatewayApiRouterProvider::new(route.clone()))
        }
        RouterSpec::Contour(proxy) => Box::new(contour::ContourRouterProvider::new(proxy.clone())),
        RouterSpec::Openshift(route) => {
            Box::new(openshift::OpenshiftRouterProvider::new(route.clone()))
        }
    })
}
