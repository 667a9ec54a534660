//! The router a spec names (`RouterSpec`), handed to the router module that
//! knows it (`RouterSettings`): its own checks, whether it switches all at
//! once, what it can do, its cluster and its constructor. Adding a router adds
//! one arm to the `settings_enum!` list below; everything else is in its own module.

use crate::field::{FieldPath, Problem};
use crate::kubernetes::ClusterSpec;
use crate::provider::{ProviderContext, ProviderError};
use crate::router::{Router, RouterSettings};
use crate::traffic::Capabilities;

use super::types::{
    CommandRouter, ContourRouter, EdgeLbRouterSpec, GatewayApiRouter, HaproxyRouterSpec,
    OpenshiftRouter, SandboxProvider, ServiceRouter,
};

super::settings_enum! {
    RouterSpec: RouterSettings;
    /// Shift traffic with your own commands.
    Command(CommandRouter),
    /// Server weights of one HAProxy backend, through its runtime API.
    Haproxy(HaproxyRouterSpec),
    /// The weighted proxy of `greenlight demo` (only there).
    Sandbox(SandboxProvider),
    /// A Kubernetes Service: switch its selector, or move the label it selects (all at once).
    Service(ServiceRouter),
    /// Weights of a Gateway API HTTPRoute's backendRefs.
    GatewayApi(GatewayApiRouter),
    /// Contour HTTPProxy weights or delegation (or a legacy IngressRoute).
    Contour(ContourRouter),
    /// OpenShift Route backends and weights.
    Openshift(OpenshiftRouter),
    /// One backend of a DC/OS Edge-LB pool: switch its Marathon service, or weight two.
    Edgelb(EdgeLbRouterSpec),
}

impl RouterSpec {
    /// The router's own rules for its settings, under `path` (`router`).
    pub fn check(&self, path: FieldPath, problems: &mut Vec<Problem>) {
        let settings = self.settings();
        settings.check(path.key(settings.kind()), problems);
    }

    /// What the router moves all at once, if it cannot split by weight.
    pub fn switches(&self) -> Option<&'static str> {
        self.settings().switches()
    }

    pub fn capabilities(&self) -> Capabilities {
        self.settings().capabilities()
    }

    pub fn cluster(&self) -> Option<ClusterSpec> {
        self.settings().cluster()
    }

    pub fn build(&self, context: &ProviderContext) -> Result<Box<dyn Router>, ProviderError> {
        self.settings().build(context)
    }
}
