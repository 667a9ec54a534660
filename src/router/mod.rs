//! Routers read and set how traffic is split between stable and new.

mod backends;
pub mod command;
pub mod contour;
pub mod edgelb;
pub mod gateway_api;
pub mod haproxy;
pub mod openshift;
pub mod sandbox;
pub mod service;
pub mod service_red_black;
pub mod split;

use async_trait::async_trait;

use crate::field::{FieldPath, Problem};
use crate::kubernetes::ClusterSpec;
use crate::provider::{ProviderContext, ProviderError};
use crate::traffic::Capabilities;
pub use crate::traffic::{Side, Weight};

/// The keys under which a router's settings list its two sides as fixed
/// places (stable first), by its key under `router:`; releases alternate
/// between them (`crate::pool`). They are read from the spec before it is
/// rendered: such lists are names, not templates.
pub fn fixed_sides(kind: &str) -> Option<[&'static str; 2]> {
    match kind {
        haproxy::KIND => Some(haproxy::FIXED_SIDES),
        _ => None,
    }
}

/// What a router's settings in the spec know about it. Each router's spec
/// struct implements this beside the router; `RouterSpec` only picks one.
pub trait RouterSettings {
    /// Its key under `router:` (`haproxy`, `gatewayApi`, …).
    fn kind(&self) -> &'static str;
    /// Rules its settings must follow that the types cannot express, at
    /// `path` (`router.<kind>`).
    fn check(&self, _path: FieldPath, _problems: &mut Vec<Problem>) {}
    /// Whether it can take single tasks of a version out of the load balancer
    /// (what `strategy.migrate` needs).
    fn serves_single_tasks(&self) -> bool {
        false
    }
    /// What it moves all at once when it cannot split by weight ("a Service
    /// selector"), named when a canary asks for a weight between 0 and 100;
    /// `None` for a router that splits by weight.
    fn switches(&self) -> Option<&'static str> {
        None
    }
    /// What the router can do besides setting a weight.
    fn capabilities(&self) -> Capabilities {
        Capabilities::default()
    }
    /// The Kubernetes cluster it routes in, if any: the state record is kept
    /// there when the target has no cluster.
    fn cluster(&self) -> Option<ClusterSpec> {
        None
    }
    /// The router itself.
    fn build(&self, context: &ProviderContext) -> Result<Box<dyn Router>, ProviderError>;
}

/// A route and the two Services it sends to must be named (an HTTPRoute, an
/// OpenShift Route), at `path.route`, `path.stableService` and `path.newService`.
fn check_route(route: &str, services: (&str, &str), path: FieldPath, problems: &mut Vec<Problem>) {
    crate::field::require_text(route, path.key("route"), problems);
    crate::field::require_pair(services, &path, ("stableService", "newService"), problems);
}

/// `cluster()` of a Kubernetes router's settings: its `context` and `namespace`.
macro_rules! cluster_of {
    ($settings:ty) => {
        impl $settings {
            /// The cluster and namespace its objects live in.
            pub fn cluster(&self) -> $crate::kubernetes::ClusterSpec {
                $crate::kubernetes::ClusterSpec {
                    context: self.context.clone(),
                    namespace: self.namespace.clone(),
                }
            }
        }
    };
}
pub(crate) use cluster_of;

/// `RouterSettings` of a Kubernetes router built from its settings and the
/// command's clock (it waits for controllers on it): its cluster is its
/// `context` and `namespace`; its rules are its own `check_settings`, and
/// `all_at_once` says what it switches when it does not split by weight.
macro_rules! kubernetes_router_settings {
    // Settings that name a route and the two Services it sends to (`route`,
    // `stableService`, `newService`): those three must be named.
    (route $settings:ty, $kind:literal, $router:ty) => {
        impl $settings {
            fn check_settings(
                &self,
                path: $crate::field::FieldPath,
                problems: &mut Vec<$crate::field::Problem>,
            ) {
                $crate::router::check_route(
                    &self.route,
                    (&self.stable_service, &self.new_service),
                    path,
                    problems,
                );
            }
        }
        $crate::router::kubernetes_router_settings!($settings, $kind, $router);
    };
    ($settings:ty, $kind:literal, $router:ty) => {
        impl $crate::router::RouterSettings for $settings {
            fn kind(&self) -> &'static str {
                $kind
            }

            fn check(
                &self,
                path: $crate::field::FieldPath,
                problems: &mut Vec<$crate::field::Problem>,
            ) {
                self.check_settings(path, problems);
            }

            fn switches(&self) -> Option<&'static str> {
                self.all_at_once()
            }

            fn cluster(&self) -> Option<$crate::kubernetes::ClusterSpec> {
                Some(<$settings>::cluster(self))
            }

            fn build(
                &self,
                context: &$crate::provider::ProviderContext,
            ) -> Result<Box<dyn $crate::router::Router>, $crate::provider::ProviderError> {
                Ok(Box::new(<$router>::new(
                    self.clone(),
                    context.clock.clone(),
                )))
            }
        }
    };
}
pub(crate) use kubernetes_router_settings;

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
    /// The exact changes `route_tasks` makes with `keep` old tasks, for `plan`.
    fn plan_route_tasks(&self, _keep: &str) -> Vec<String> {
        Vec::new()
    }
    /// For a migration: the new version beside the stable version's tasks
    /// `keep` (by id); the stable version's other tasks leave the load
    /// balancer, and with none kept the stable version leaves it. Read back
    /// before it returns.
    async fn route_tasks(&self, _keep: &[String]) -> Result<(), ProviderError> {
        Err(ProviderError::new(format!(
            "{} cannot take single tasks out of the load balancer",
            self.describe()
        ))
        .with_hint("`strategy.migrate` needs `router: edgelb`"))
    }
}
