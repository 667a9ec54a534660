//! The router a spec names, handed to the router module that knows it
//! (`RouterSettings`): its own checks, what it can do, its cluster and its
//! constructor. Adding a router adds one arm to `RouterSpec` and one here.

use crate::field::{FieldPath, Problem};
use crate::kubernetes::ClusterSpec;
use crate::provider::{ProviderContext, ProviderError};
use crate::router::sandbox::SandboxRouter;
use crate::router::{Router, RouterSettings};
use crate::traffic::Capabilities;

use super::types::{RouterSpec, SandboxProvider};

impl RouterSpec {
    /// The settings of the router this spec names.
    pub fn settings(&self) -> &dyn RouterSettings {
        match self {
            RouterSpec::Command(settings) => settings,
            RouterSpec::Haproxy(settings) => settings,
            RouterSpec::Sandbox(settings) => settings,
            RouterSpec::Service(settings) => settings,
            RouterSpec::GatewayApi(settings) => settings,
            RouterSpec::Contour(settings) => settings,
            RouterSpec::Openshift(settings) => settings,
        }
    }

    /// The router's own rules for its settings, under `path` (`router`).
    pub fn check(&self, path: FieldPath, problems: &mut Vec<Problem>) {
        let settings = self.settings();
        settings.check(path.key(settings.kind()), problems);
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

/// The demo's sandbox router has no settings of its own.
impl RouterSettings for SandboxProvider {
    fn kind(&self) -> &'static str {
        "sandbox"
    }

    fn build(&self, context: &ProviderContext) -> Result<Box<dyn Router>, ProviderError> {
        Ok(Box::new(SandboxRouter::new(context.sandbox()?)))
    }
}
