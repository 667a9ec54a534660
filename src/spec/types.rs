//! The rollout spec as users write it (`greenlight.yaml`).
//!
//! Field names are camelCase like Kubernetes objects, unknown fields are errors,
//! and every type derives its JSON Schema so editors can complete the file.
//! Ranges serde cannot express (weights, orderings, "at least one of") are
//! checked in `validate.rs` so the error can point at the offending field.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::duration::{Delay, Span};
pub use super::kubernetes::*;

pub const API_VERSION: &str = "greenlight.dev/v1alpha1";

#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(title = "greenlight rollout spec")]
pub struct RolloutSpec {
    pub api_version: ApiVersion,
    pub kind: Kind,
    pub metadata: Metadata,
    /// Template variables available to every string field, as `{{ name }}`.
    /// Their values are taken literally (they are not templates themselves).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub vars: BTreeMap<String, serde_json::Value>,
    /// Two fixed places releases alternate between, e.g. `[blue, green]`:
    /// the first release goes from the first to the second, the next one back,
    /// and so on (the state record knows which one is live). Templates see
    /// them as `{{ pool.stable }}` (live) and `{{ pool.new }}` (idle), e.g. a
    /// Marathon app id `/svc-{{ pool.new }}`. Taken literally (not templates).
    pub pools: Option<[String; 2]>,
    /// How a version is deployed, and how an old one is removed.
    pub target: TargetSpec,
    /// How traffic is split between the stable and the new version.
    pub router: RouterSpec,
    pub strategy: StrategySpec,
    /// Checks the new version must pass before it receives any traffic.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub smoke: Vec<Check>,
    /// Checks at fixed points of the rollout.
    #[serde(default)]
    pub hooks: HooksSpec,
    /// Metric gates evaluated while each step holds.
    pub analysis: Option<AnalysisSpec>,
    #[serde(default)]
    pub report: ReportSpec,
    /// Where the record of a rollout in progress (and its lock) is kept.
    pub state: Option<StateSpec>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
pub enum ApiVersion {
    #[serde(rename = "greenlight.dev/v1alpha1")]
    V1Alpha1,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
pub enum Kind {
    Rollout,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Metadata {
    /// The service's name; it names the state record and every report.
    pub name: String,
}

/// A shell command run with `sh -c`. The rollout context is in its environment:
/// `GREENLIGHT_NAME`, `GREENLIGHT_VERSION`, `GREENLIGHT_STABLE_VERSION`, and
/// `GREENLIGHT_WEIGHT` where a weight is being set.
pub type ShellCommand = String;

pub use super::target::TargetSpec;
pub use crate::deploy::command::CommandTarget;
pub use crate::deploy::marathon::MarathonSettings as MarathonTarget;
pub use crate::sandbox::SandboxProvider;

pub use super::router::RouterSpec;
pub use crate::router::command::CommandRouter;
pub use crate::router::edgelb::{EdgeLbMode, EdgeLbRouterSpec};
pub use crate::router::haproxy::spec::{DrainSpec, HaproxyRouterSpec};

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub enum StrategySpec {
    /// Shift traffic to the new version step by step.
    Canary(CanarySpec),
    /// Keep the new version on 0% (preview), then switch all traffic at once.
    BlueGreen(BlueGreenSpec),
    /// Instance by instance (`target: marathon`, `router: edgelb`): start the new version
    /// beside the old one, add it to the load balancer, then take the old version's tasks
    /// out a batch at a time, wait until each has drained, kill it; watch the new version,
    /// then remove the old app.
    Migrate(MigrateSpec),
}

#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct MigrateSpec {
    /// How many of the old version's tasks are taken out and killed together (default 1).
    #[serde(default = "one")]
    pub batch_size: u32,
    /// Before a task is killed: wait until its pending work is done.
    pub drain: Option<TaskGateSpec>,
    /// Once the old version has no task left, analyse the new version this long (the
    /// `analysis` gates apply) before the old app is removed (default 0).
    #[serde(default)]
    pub watch: Delay,
}

/// A query measured for each task before it is killed; `task.id`, `task.host` and
/// `task.port` are in its template context. No data is not zero: it keeps waiting.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TaskGateSpec {
    pub name: String,
    /// Rendered once per task, e.g.
    /// `{prometheus: 'pending_jobs{task_id="{{ task.id }}"}'}`.
    pub query: QuerySpec,
    /// Wait until a value is at or below this (default 0).
    #[serde(default)]
    pub max: f64,
    /// The values the query can return (see `metrics[].domain`).
    pub domain: Option<MetricDomain>,
    /// How long one task may take; past it the rollout halts (exit 3) naming the task,
    /// which stays out of the load balancer and running (default 10m).
    #[serde(default = "default_wait_timeout")]
    pub timeout: Span,
    /// Time between two measurements (default 10s).
    #[serde(default = "default_interval")]
    pub interval: Span,
}

/// Either explicit `steps`, or a linear ramp of `step` percent `every` interval up to `max`.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CanarySpec {
    pub steps: Option<Vec<CanaryStep>>,
    /// Linear ramp: percentage added at each step.
    pub step: Option<i64>,
    /// Linear ramp: the last weight before promotion (default 100).
    pub max: Option<i64>,
    /// Linear ramp: how long each step holds.
    pub every: Option<Span>,
    /// How long the old version keeps running after promotion.
    #[serde(default)]
    pub scale_down_delay: Delay,
}

#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CanaryStep {
    /// Percentage of traffic on the new version, 0–100.
    pub weight: i64,
    /// How long to hold this weight (and analyse) before the next step.
    pub hold: Span,
    /// Analyse during this step (default: on when `analysis` is set).
    pub analysis: Option<bool>,
}

#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct BlueGreenSpec {
    /// Hold the new version at 0% traffic first (smoke tests and analysis of the preview).
    pub preview: Option<PhaseSpec>,
    /// After the switch, keep analysing before declaring the new version promoted;
    /// a failure switches traffic back.
    pub post_promotion: Option<PhaseSpec>,
    /// How long the old version keeps running after promotion.
    #[serde(default)]
    pub scale_down_delay: Delay,
}

/// A blue/green phase the new version is held in (`preview`, `postPromotion`).
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(rename = "Phase")]
pub struct PhaseSpec {
    pub hold: Span,
    /// Analyse during this phase (default: on when `analysis` is set).
    pub analysis: Option<bool>,
}

/// A smoke check or a hook: one HTTP request or one command, retried with
/// backoff on failure until `timeout`.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Check {
    pub name: String,
    pub http: Option<HttpCheck>,
    /// A command that must exit 0; it sees the rollout context in its environment.
    pub command: Option<ShellCommand>,
    /// How long the check may take, retries included (default 30s).
    #[serde(default = "default_check_timeout")]
    pub timeout: Span,
    /// At most this many attempts (default: as many as fit in `timeout`).
    pub attempts: Option<u32>,
    /// Smoke checks only: run again after every step, before the next one.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub after_each_step: bool,
}

fn default_check_timeout() -> Span {
    Span::from_secs(30)
}

#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct HttpCheck {
    pub url: String,
    /// Default `GET`.
    #[serde(default = "default_method")]
    pub method: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// Headers whose values come from environment variables (name → variable),
    /// for secrets: their values never appear in reports.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers_from_env: BTreeMap<String, String>,
    pub body: Option<String>,
    #[serde(default)]
    pub expect: HttpExpectations,
    pub tls: Option<TlsOptions>,
}

fn default_method() -> String {
    "GET".to_owned()
}

/// What the response must look like; every given expectation must hold.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct HttpExpectations {
    /// The status the response must have (default 200).
    #[serde(default = "default_status")]
    pub status: u16,
    /// Text the body must contain.
    pub body_contains: Option<String>,
    /// A regular expression the body must match.
    pub body_matches: Option<String>,
    /// A value inside a JSON body.
    pub json: Option<JsonExpectation>,
    /// Response headers that must have these values (names are case-insensitive).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// The response must arrive within this.
    pub latency: Option<Span>,
}

impl Default for HttpExpectations {
    fn default() -> Self {
        Self {
            status: default_status(),
            body_contains: None,
            body_matches: None,
            json: None,
            headers: BTreeMap::new(),
            latency: None,
        }
    }
}

fn default_status() -> u16 {
    200
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct JsonExpectation {
    /// An RFC 6901 JSON pointer, e.g. `/status`.
    pub pointer: String,
    /// The value it must equal (any JSON value).
    pub equals: serde_json::Value,
}

#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TlsOptions {
    /// A PEM file of CA certificates to trust besides the system's.
    pub ca_file: Option<String>,
    /// Accept any certificate. Only for previews with self-signed certificates.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub insecure_skip_verify: bool,
}

/// Checks run at fixed points of the rollout. A failing `afterStep` hook is a
/// gate (traffic goes back); a failing `beforePromotion` hook halts; failures
/// of the others are reported as warnings, except `preRollout`, which stops the
/// rollout before anything changes.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct HooksSpec {
    /// Before anything is deployed; a failure stops the rollout (exit 3).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pre_rollout: Vec<Check>,
    /// After the smoke checks, before the new version gets any traffic; a failure rolls back.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub before_traffic: Vec<Check>,
    /// After every step's hold; a failure rolls back.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub after_step: Vec<Check>,
    /// Confirmation before all traffic moves; a failure halts (exit 3).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub before_promotion: Vec<Check>,
    /// After promotion; failures are warnings.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub post_rollout: Vec<Check>,
    /// After traffic is back on the stable version; failures are warnings.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub on_rollback: Vec<Check>,
}

#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AnalysisSpec {
    /// Time between two measurements of every metric.
    #[serde(default = "default_interval")]
    pub interval: Span,
    /// The gate fails once a metric has failed this many measurements (default 1).
    #[serde(default = "one")]
    pub failure_limit: u32,
    /// The rollout halts once a metric's provider errors this many times in a row (default 3).
    #[serde(default = "three")]
    pub consecutive_error_limit: u32,
    /// Measurements with data a metric needs in each step before the step can pass (default 1).
    #[serde(default = "one")]
    pub min_samples: u32,
    /// What a metric without data means once it has had none `noDataLimit` times in a row.
    #[serde(default)]
    pub no_data: NoDataPolicy,
    /// How many no-data measurements in a row are tolerated (default 3).
    #[serde(default = "three")]
    pub no_data_limit: u32,
    /// The Prometheus server every `prometheus` query goes to.
    pub prometheus: Option<PrometheusSpec>,
    pub metrics: Vec<MetricSpec>,
    /// Wait-until gates: before the old version is removed after promotion, wait until each
    /// query is at or below `max` (e.g. its pending work is 0). A timeout halts the rollout.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub before_retire: Vec<WaitGateSpec>,
}

#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct WaitGateSpec {
    pub name: String,
    pub query: QuerySpec,
    /// Wait until a value is at or below this.
    pub max: f64,
    /// The values the query can return (see `metrics[].domain`).
    pub domain: Option<MetricDomain>,
    /// How long to wait; past it the rollout halts and the old version stays (default 10m).
    #[serde(default = "default_wait_timeout")]
    pub timeout: Span,
    /// Time between two measurements (default: the analysis interval).
    pub interval: Option<Span>,
}

fn default_wait_timeout() -> Span {
    Span::from_secs(600)
}

fn default_interval() -> Span {
    Span::from_secs(10)
}

fn one() -> u32 {
    1
}

fn three() -> u32 {
    3
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum NoDataPolicy {
    /// Stop where traffic is and ask a person (exit 3). Never promotes.
    #[default]
    Halt,
    /// Count it as a failed gate and roll back.
    Fail,
    /// Skip the metric while it has no data; it cannot block promotion.
    Ignore,
}

#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct MetricSpec {
    pub name: String,
    pub query: QuerySpec,
    /// Where a person sees this query in its source (a Grafana or Datadog page),
    /// linked from the reports; templates apply like in any string. Default: the
    /// query in Prometheus's UI for a `prometheus` query (or the new version's
    /// `errors` of a `counts` one). Credentials in it (`user:password@`, a
    /// `token` or `api_key` parameter) are dropped from the link.
    pub query_link: Option<String>,
    /// The gate fails when a value is below this.
    pub min: Option<f64>,
    /// The gate fails when a value is above this.
    pub max: Option<f64>,
    /// Compare the new version with the stable one over the same windows, with a
    /// sequential test that may look at every interval: it fails as soon as the new
    /// version's rate is significantly higher and passes as soon as it is shown to be
    /// within `maxIncrease`. Needs a query that counts per version (`counts`, or the
    /// sandbox's `errors` and `slow_requests`); `min` and `max` do not apply.
    pub compare: Option<CompareWith>,
    /// With `compare`: how much higher the new version's rate may be and still pass:
    /// relative (`50%`) or absolute in rate units (`0.005`, half a percentage point).
    /// Default `50%`.
    pub max_increase: Option<MaxIncrease>,
    /// With `compare`: the chance, over the whole rollout, of failing a new version
    /// that is no worse than the stable one (default 0.01).
    pub alpha: Option<f64>,
    /// Neither pass nor fail before the new version has served this many requests
    /// (per measurement for a threshold, in all for `compare`). Needs a query that
    /// counts requests. Default 0 for thresholds, 100 for `compare`.
    pub min_requests: Option<u64>,
    /// With `compare`: what a step that ends before the test decided means.
    pub inconclusive: Option<InconclusivePolicy>,
    /// The values the query can return; anything else (and NaN or infinity) is
    /// a broken query, reported as a provider error, never a pass. Default:
    /// from the query where it is known (sandbox stats), else `any`.
    pub domain: Option<MetricDomain>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CompareWith {
    /// The stable version, measured over the same windows.
    Stable,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum InconclusivePolicy {
    /// Go on to the next step and keep collecting evidence; no significant regression
    /// was seen, so after the last step the version is promoted.
    #[default]
    Continue,
    /// Stop where traffic is and ask a person (exit 3).
    Halt,
    /// Roll back: the new version must prove itself within `maxIncrease` in every step.
    Fail,
}

pub use crate::judge::Margin as MaxIncreaseMargin;

/// `50%` (relative to the stable rate) or a number (absolute, in rate units).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "MaxIncreaseText", into = "MaxIncreaseText")]
pub struct MaxIncrease(pub MaxIncreaseMargin);

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
enum MaxIncreaseText {
    /// e.g. `50%`: at most 1.5 times the stable version's rate.
    Relative(String),
    /// e.g. `0.005`: at most the stable version's rate plus 0.005.
    Absolute(f64),
}

impl JsonSchema for MaxIncrease {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "MaxIncrease".into()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "`50%` (relative to the stable rate) or a number ≥ 0 (absolute, in rate units)",
            "anyOf": [
                {"type": "string", "pattern": r"^\s*[0-9]+(\.[0-9]+)?\s*%\s*$"},
                generator.subschema_for::<f64>()
            ]
        })
    }
}

impl TryFrom<MaxIncreaseText> for MaxIncrease {
    type Error = String;

    fn try_from(text: MaxIncreaseText) -> Result<Self, String> {
        match text {
            MaxIncreaseText::Relative(text) => {
                let number = text.trim().strip_suffix('%').map(str::trim);
                match number.and_then(|number| number.parse::<f64>().ok()) {
                    Some(percent) if percent.is_finite() && percent >= 0.0 => {
                        Ok(Self(MaxIncreaseMargin::Relative(percent / 100.0)))
                    }
                    _ => Err(format!(
                        "`{text}` is not a margin; write a percentage like `50%`, or a number like 0.005 for an absolute increase"
                    )),
                }
            }
            MaxIncreaseText::Absolute(value) if value.is_finite() && value >= 0.0 => {
                Ok(Self(MaxIncreaseMargin::Absolute(value)))
            }
            MaxIncreaseText::Absolute(value) => Err(format!(
                "maxIncrease {value} must be a finite number, 0 or more"
            )),
        }
    }
}

impl From<MaxIncrease> for MaxIncreaseText {
    fn from(margin: MaxIncrease) -> Self {
        match margin.0 {
            MaxIncreaseMargin::Relative(share) => Self::Relative(format!("{}%", share * 100.0)),
            MaxIncreaseMargin::Absolute(value) => Self::Absolute(value),
        }
    }
}

pub use crate::metrics::MetricDomain;

pub use super::query::{CountQueries, QuerySpec, VersionQueries};
pub use crate::metrics::command::CommandQuery;
pub use crate::metrics::http::HttpQuery;
pub use crate::metrics::prometheus::{
    BasicAuthSpec, PrometheusAuthSpec, PrometheusQuery, PrometheusSpec,
};
pub use crate::metrics::sandbox::{SandboxQuery, SandboxStat};

#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ReportSpec {
    /// The heading of the Markdown summary (default: "greenlight: <name>").
    pub title: Option<String>,
    /// How long the final report may take over the PR/MR comment and the
    /// deployment status together before greenlight gives up (default 20s).
    pub final_timeout: Option<Span>,
    /// The GitHub Actions workflow file (e.g. `greenlight-manual.yml`) whose
    /// `workflow_dispatch` runs `promote` and `rollback`: a halted or failed
    /// rollout links it beside the commands. Default: the running workflow,
    /// when it was itself started by `workflow_dispatch`.
    pub dispatch_workflow: Option<String>,
    /// A chat message when a command that moves traffic ends (promoted, rolled
    /// back, halted, failed) with the summary's headline, the link to the run
    /// and each step's numbers. Sent with the final report, within
    /// `finalTimeout`; never on the traffic path, and a failure is a warning.
    pub webhook: Option<WebhookSpec>,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct WebhookSpec {
    /// The environment variable that holds the webhook URL. The URL is a
    /// secret (whoever has it can post): greenlight masks it in every log and
    /// report, so keep it in a masked CI secret.
    pub url_env: String,
    /// What the endpoint reads: `slack` (an incoming webhook), `teams` (a
    /// Workflows webhook that posts an Adaptive Card) or `json`
    /// (greenlight's own fields, for anything else). Default `json`.
    #[serde(default)]
    pub format: WebhookFormat,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum WebhookFormat {
    Slack,
    Teams,
    #[default]
    Json,
}

/// Long enough for a healthy forge to take two calls, short enough that a
/// hanging one does not keep the job.
pub const DEFAULT_FINAL_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(20);

impl ReportSpec {
    pub fn final_limit(&self) -> std::time::Duration {
        self.final_timeout.map_or(DEFAULT_FINAL_TIMEOUT, Span::get)
    }
}

pub use super::state::StateSpec;
pub use crate::state::file::FileState;
