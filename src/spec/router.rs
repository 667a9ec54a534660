//! The router a spec names, dispatched to the router module that knows it:
//! its own checks, what it can do, and its constructor. Adding a router adds
//! one arm to each match here and to `RouterSpec`.

use crate::field::{FieldPath, Problem};
use crate::kubernetes::ClusterSpec;
use crate::provider::{ProviderContext, ProviderError};
use crate::router::{
    Router, command, contour, edgelb, gateway_api, haproxy, openshift, sandbox, service,
    service_red_black,
};
use crate::traffic::Capabilities;

use super::types::RouterSpec;

impl RouterSpec {
    /// The router's own rules for its settings, at `router.<kind>`.
    pub fn check(&self, path: FieldPath, problems: &mut Vec<Problem>) {
        match self {
            RouterSpec::Haproxy(haproxy) => {
                haproxy::validate::check(haproxy, path.key("haproxy"), problems)
            }
            RouterSpec::Command(command) => command::check(command, path.key("command"), problems),
            RouterSpec::Edgelb(edgelb) => edgelb::check(edgelb, path.key("edgelb"), problems),
            RouterSpec::Sandbox(_)
            | RouterSpec::Service(_)
            | RouterSpec::GatewayApi(_)
            | RouterSpec::Contour(_)
            | RouterSpec::Openshift(_) => {}
        }
    }

    /// The Kubernetes cluster it routes in, if it routes in one.
    pub fn cluster(&self) -> Option<ClusterSpec> {
        match self {
            RouterSpec::Command(_)
            | RouterSpec::Sandbox(_)
            | RouterSpec::Haproxy(_)
            | RouterSpec::Edgelb(_) => None,
            RouterSpec::Service(router) => Some(router.cluster()),
            RouterSpec::GatewayApi(router) => Some(router.cluster()),
            RouterSpec::Contour(router) => Some(router.cluster()),
            RouterSpec::Openshift(router) => Some(router.cluster()),
        }
    }

    /// What the router can do besides setting a weight.
    pub fn capabilities(&self) -> Capabilities {
        match self {
            RouterSpec::Haproxy(haproxy) => haproxy::capabilities(haproxy),
            RouterSpec::Command(_)
            | RouterSpec::Sandbox(_)
            | RouterSpec::Service(_)
            | RouterSpec::GatewayApi(_)
            | RouterSpec::Contour(_)
            | RouterSpec::Openshift(_)
            | RouterSpec::Edgelb(_) => Capabilities::default(),
        }
    }

    /// The router itself.
    pub fn build(&self, context: &ProviderContext) -> Result<Box<dyn Router>, ProviderError> {
        Ok(match self {
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
                    context.clock.clone(),
                )),
                None => Box::new(service::ServiceRouterProvider::new(service.clone())),
            },
            RouterSpec::GatewayApi(route) => {
                Box::new(gateway_api::GatewayApiRouterProvider::new(route.clone()))
            }
            RouterSpec::Contour(proxy) => {
                Box::new(contour::ContourRouterProvider::new(proxy.clone()))
            }
            RouterSpec::Openshift(route) => {
                Box::new(openshift::OpenshiftRouterProvider::new(route.clone()))
            }
            RouterSpec::Edgelb(pool) => {
                Box::new(edgelb::EdgeLbRouter::new(pool.clone(), &context.base_dir)?)
            }
        })
    }
}
