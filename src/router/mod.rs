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

use std::fmt;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::provider::ProviderError;

/// Share of traffic on the new version, in percent (0–100).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "u8", into = "u8")]
pub struct Weight(u8);

impl Weight {
    pub const ZERO: Weight = Weight(0);
    pub const FULL: Weight = Weight(100);

    pub fn new(percent: u8) -> Option<Self> {
        (percent <= 100).then_some(Self(percent))
    }

    /// For values already validated to lie in 0–100.
    pub(crate) fn clamped(percent: i64) -> Self {
        Self(percent.clamp(0, 100) as u8)
    }

    pub fn percent(self) -> u8 {
        self.0
    }
}

impl TryFrom<u8> for Weight {
    type Error = String;
    fn try_from(percent: u8) -> Result<Self, Self::Error> {
        Self::new(percent).ok_or_else(|| format!("weight {percent} is above 100"))
    }
}

impl From<Weight> for u8 {
    fn from(weight: Weight) -> u8 {
        weight.0
    }
}

impl fmt::Display for Weight {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}%", self.0)
    }
}

/// The servers of one version.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    Stable,
    New,
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Side::Stable => "stable",
            Side::New => "new",
        })
    }
}

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
