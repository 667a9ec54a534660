//! `router: service`: blue/green by switching a Service's `spec.selector`
//! Traffic moves all at once, so only 0% and 100% exist. The
//! selector is replaced whole, on the Service's `resourceVersion`. The
//! red/black variant (`redBlack`) is in `service_red_black.rs`.

use std::collections::BTreeMap;

use crate::duration::Span;
use async_trait::async_trait;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{Router, Weight, split};
use crate::field::{FieldPath, Problem, problem, require_pair, require_text};
use crate::kubernetes::json::map_mut;
use crate::kubernetes::objects::Objects;
use crate::kubernetes::update::read_modify_write;
use crate::kubernetes::{LazyCluster, Resource};
use crate::provider::ProviderError;

/// `router: service`: blue/green by switching a Service's `spec.selector`, or
/// red/black by moving a label the Service selects between two Deployments'
/// pod templates (all at once either way).
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ServiceRouter {
    /// The Service's name.
    pub name: String,
    /// Blue/green: the whole selector that picks the stable version's pods.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub stable_selector: BTreeMap<String, String>,
    /// Blue/green: the whole selector that picks the new version's pods.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub new_selector: BTreeMap<String, String>,
    /// Red/black: the Service keeps its selector, and the serving label moves
    /// from the stable Deployment's pod template to the new one's.
    pub red_black: Option<RedBlack>,
    pub context: Option<String>,
    pub namespace: Option<String>,
}

/// `router.service.redBlack`: which label serves, and the two Deployments that take turns.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RedBlack {
    /// The label (or labels) the Service's selector requires, e.g. `{serving: "true"}`.
    /// It must not be part of the Deployments' own `spec.selector`.
    pub label: BTreeMap<String, String>,
    /// The stable version's Deployment, e.g. `web-{{ stable_version }}`.
    pub stable_deployment: String,
    /// The new version's Deployment, e.g. `web-{{ version }}`.
    pub new_deployment: String,
    /// How long a Deployment may take to roll out its labelled pods, and the
    /// other one to lose the label, before the switch fails.
    #[serde(default = "crate::kubernetes::rollout::default_timeout")]
    pub timeout: Span,
    /// How often the rollout is checked.
    #[serde(default = "crate::kubernetes::rollout::default_poll_interval")]
    pub poll_interval: Span,
}

super::cluster_of!(ServiceRouter);

impl RedBlack {
    fn check(&self, path: FieldPath, problems: &mut Vec<Problem>) {
        if self.label.is_empty() {
            problems.push(
                problem(
                    path.key("label"),
                    "name the label the Service selects, e.g. `{serving: \"true\"}`",
                )
                .hint("an empty label would leave the Service selecting every pod"),
            );
        }
        for (key, value) in &self.label {
            require_text(key, path.key("label"), problems);
            require_text(value, path.key("label").key(key), problems);
        }
        require_pair(
            (&self.stable_deployment, &self.new_deployment),
            &path,
            ("stableDeployment", "newDeployment"),
            problems,
        );
    }
}

pub struct ServiceRouterProvider {
    spec: ServiceRouter,
    cluster: LazyCluster,
}

/// `key=value,…`: how kubectl and label selectors write labels.
pub(super) fn selector_text(selector: &std::collections::BTreeMap<String, String>) -> String {
    selector
        .iter()
        .map(|(key, value)| format!("{key}={value}"))
        .collect::<Vec<_>>()
        .join(",")
}

impl ServiceRouterProvider {
    pub fn new(spec: ServiceRouter) -> Self {
        let cluster = LazyCluster::new(spec.cluster());
        Self { spec, cluster }
    }
}

#[async_trait]
impl Router for ServiceRouterProvider {
    fn describe(&self) -> String {
        format!(
            "Service {}/{} (selector switch)",
            self.cluster.namespace_hint(),
            self.spec.name
        )
    }

    fn plan(&self, weight: Weight) -> Vec<String> {
        let selector = if weight == Weight::ZERO {
            &self.spec.stable_selector
        } else {
            &self.spec.new_selector
        };
        vec![format!(
            "Service {}: spec.selector = {}",
            self.spec.name,
            selector_text(selector)
        )]
    }

    async fn weight(&self) -> Result<Weight, ProviderError> {
        let cluster = self.cluster.get().await?;
        let services = Objects::new(cluster, Resource::service(), None);
        let service = services.get_existing(&self.spec.name).await?;
        let selector = service
            .pointer("/spec/selector")
            .cloned()
            .unwrap_or_default();
        if selector == json!(self.spec.new_selector) {
            Ok(Weight::FULL)
        } else if selector == json!(self.spec.stable_selector) {
            Ok(Weight::ZERO)
        } else {
            Err(ProviderError::new(format!(
                "{} selects {selector}, neither the stable ({}) nor the new ({}) version",
                services.what(&self.spec.name),
                selector_text(&self.spec.stable_selector),
                selector_text(&self.spec.new_selector)
            ))
            .with_hint("someone changed the selector by hand; set it back to the stable one"))
        }
    }

    async fn set_weight(&self, weight: Weight) -> Result<(), ProviderError> {
        let to_new = split::all_or_nothing(weight, &format!("Service {}", self.spec.name))?;
        split::distinct(
            &selector_text(&self.spec.stable_selector),
            &selector_text(&self.spec.new_selector),
            &self.describe(),
        )?;
        let selector = if to_new {
            &self.spec.new_selector
        } else {
            &self.spec.stable_selector
        };
        let cluster = self.cluster.get().await?;
        let services = Objects::new(cluster, Resource::service(), None);
        let what = services.what(&self.spec.name);
        read_modify_write(&services, &self.spec.name, |service| {
            map_mut(service, &["spec"], &what)?.insert("selector".into(), json!(selector));
            Ok(())
        })
        .await
        .map(drop)
    }
}

impl super::RouterSettings for ServiceRouter {
    fn kind(&self) -> &'static str {
        "service"
    }

    /// Blue/green by selectors, or red/black by a label: one of the two.
    fn check(&self, path: FieldPath, problems: &mut Vec<Problem>) {
        require_text(&self.name, path.key("name"), problems);
        let selectors = !self.stable_selector.is_empty() || !self.new_selector.is_empty();
        match &self.red_black {
            None => {
                if self.new_selector.is_empty() {
                    problems.push(
                        problem(path.key("newSelector"), "an empty selector selects nothing").hint(
                            "give `stableSelector` and `newSelector` (blue/green), or `redBlack`",
                        ),
                    );
                }
            }
            Some(_) if selectors => {
                let key = if self.stable_selector.is_empty() {
                    "newSelector"
                } else {
                    "stableSelector"
                };
                problems.push(
                    problem(
                        path.key(key),
                        "give selectors (blue/green) or `redBlack`, not both",
                    )
                    .hint("in red/black the Service's selector stays as it is; drop the selectors"),
                );
            }
            Some(red_black) => red_black.check(path.key("redBlack"), problems),
        }
    }

    /// Either way, traffic moves all at once.
    fn switches(&self) -> Option<&'static str> {
        let selectors = !self.stable_selector.is_empty() || !self.new_selector.is_empty();
        Some(match &self.red_black {
            Some(_) if !selectors => "a red/black Service label",
            _ => "a Service selector",
        })
    }

    fn cluster(&self) -> Option<crate::kubernetes::ClusterSpec> {
        Some(ServiceRouter::cluster(self))
    }

    fn build(
        &self,
        context: &crate::provider::ProviderContext,
    ) -> Result<Box<dyn Router>, ProviderError> {
        Ok(match &self.red_black {
            Some(red_black) => Box::new(super::service_red_black::RedBlackRouter::new(
                self,
                red_black.clone(),
                context.clock.clone(),
            )),
            None => Box::new(ServiceRouterProvider::new(self.clone())),
        })
    }
}
