//! `target: marathon`: one Marathon app per version, created from a templated app
//! definition with `POST /v2/apps`, followed on `/v2/deployments` until its deployment
//! is gone and every task runs and passes its health checks; the old app is removed with
//! `DELETE /v2/apps/{id}`.
//!
//! A task whose health check fails makes the deploy fail (the rollout rolls back); a
//! deployment that outlives `timeout` halts the rollout, naming the deployment and what
//! Marathon is waiting for, because only a person can tell whether it will ever finish.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use reqwest::{Method, StatusCode};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::Target;
use crate::clock::Clock;
use crate::dcos;
use crate::duration::Span;
use crate::field::{FieldPath, Problem, require_text};
use crate::provider::ProviderError;
use crate::template::{TemplateContext, render_text};
use crate::traffic::Task;

/// A Marathon app per version. The app definition's `id` must change with the version
/// (`/svc-{{ version }}`) or with the fixed pool it runs in (`/svc-{{ pool.new }}` with
/// `pools: [blue, green]`), so both versions run side by side.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(rename = "MarathonTarget")]
pub struct MarathonSettings {
    /// Marathon's API: the cluster behind Admin Router (`https://dcos.example.com/marathon`)
    /// or Marathon itself (`http://marathon.mesos:8080`).
    pub url: String,
    /// The environment variable holding a DC/OS ACS token, sent as
    /// `Authorization: token=…` and never shown.
    pub token_env: Option<String>,
    /// A PEM file of CA certificates to trust besides the system's (the cluster's CA).
    pub ca_file: Option<String>,
    /// The app definition file (JSON or YAML), a template rendered for the app it
    /// defines: `version` is that app's version and `pool.new` its pool (the stable
    /// version's when its app is removed).
    pub app: String,
    /// How long a deployment may take. Past it the rollout halts (exit 3), naming the
    /// deployment and what Marathon is waiting for (default 10m).
    #[serde(default = "super::default_deploy_timeout")]
    pub timeout: Span,
    /// Time between two reads of the deployment and the tasks (default 2s).
    #[serde(default = "default_poll")]
    pub interval: Span,
}

fn default_poll() -> Span {
    Span::from_secs(2)
}

impl super::TargetSettings for MarathonSettings {
    fn kind(&self) -> &'static str {
        "marathon"
    }

    fn check(&self, path: FieldPath, problems: &mut Vec<Problem>) {
        require_text(&self.url, path.key("url"), problems);
        require_text(&self.app, path.key("app"), problems);
    }

    fn kills_single_tasks(&self) -> bool {
        true
    }

    fn build(
        &self,
        context: &crate::provider::ProviderContext,
    ) -> Result<Box<dyn Target>, ProviderError> {
        Ok(Box::new(MarathonTarget::new(
            self.clone(),
            context.template.clone(),
            context.base_dir.clone(),
            context.clock.clone(),
        )?))
    }
}

pub struct MarathonTarget {
    spec: MarathonSettings,
    template: TemplateContext,
    base_dir: PathBuf,
    client: dcos::Client,
    clock: Arc<dyn Clock>,
}

/// Marathon's view of one app while it deploys.
#[derive(Debug, Clone, PartialEq)]
pub struct Progress {
    /// Deployments that affect the app: id and what it is doing now.
    pub deployments: Vec<(String, String)>,
    pub instances: u64,
    pub running: u64,
    pub healthy: u64,
    /// Whether the app defines health checks (without any, running is ready).
    pub health_checked: bool,
    /// A task whose health check says it is not alive, with Marathon's words.
    pub failing: Option<String>,
}

impl Progress {
    pub fn ready(&self) -> bool {
        self.deployments.is_empty()
            && self.running == self.instances
            && (!self.health_checked || self.healthy == self.instances)
    }

    fn summary(&self) -> String {
        let health = if self.health_checked {
            format!(", {} healthy", self.healthy)
        } else {
            String::new()
        };
        format!(
            "{} of {} tasks running{health}",
            self.running, self.instances
        )
    }
}

impl MarathonTarget {
    pub fn new(
        spec: MarathonSettings,
        template: TemplateContext,
        base_dir: PathBuf,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, ProviderError> {
        let client = dcos::Client::new(
            "Marathon",
            dcos::Connection {
                url: &spec.url,
                token_env: spec.token_env.as_deref(),
                ca_file: spec.ca_file.as_deref(),
            },
            &base_dir,
            Duration::from_secs(30),
        )?;
        Ok(Self {
            spec,
            template,
            base_dir,
            client,
            clock,
        })
    }

    /// The app definition rendered for `version`, as JSON.
    pub fn app_definition(&self, version: &str) -> Result<Value, ProviderError> {
        let path = self.base_dir.join(&self.spec.app);
        let source = std::fs::read_to_string(&path).map_err(|error| {
            ProviderError::new(format!(
                "cannot read the app definition {}: {error}",
                path.display()
            ))
        })?;
        let context = self.template.for_version(version);
        let text = render_text(&source, &context).map_err(|(message, hint)| {
            let error = ProviderError::new(format!("{}: {message}", path.display()));
            match hint {
                Some(hint) => error.with_hint(hint),
                None => error,
            }
        })?;
        // YAML is a superset of JSON: one parser reads both.
        let app: Value = serde_yaml::from_str(&text).map_err(|error| {
            ProviderError::new(format!(
                "the app definition {} is neither JSON nor YAML: {error}",
                path.display()
            ))
        })?;
        match app.get("id").and_then(Value::as_str) {
            Some(id) if id.starts_with('/') => Ok(app),
            Some(id) => Err(ProviderError::new(format!(
                "the app definition {} has id `{id}`: Marathon ids here must be absolute (`/{id}`)",
                path.display()
            ))),
            None => Err(ProviderError::new(format!(
                "the app definition {} has no `id`",
                path.display()
            ))
            .with_hint("give it an id that changes with the version, e.g. `/svc-{{ version }}`")),
        }
    }

    /// The app definition of `version` and its id.
    fn app_and_id(&self, version: &str) -> Result<(Value, String), ProviderError> {
        let app = self.app_definition(version)?;
        let id = app
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        Ok((app, id))
    }

    /// The app definition of `version`, about to be started beside the stable
    /// version's app, and its id; refused when both have the same id, since
    /// starting it would replace the app serving the stable version.
    fn new_app(&self, version: &str) -> Result<(Value, String), ProviderError> {
        let (app, id) = self.app_and_id(version)?;
        let stable = &self.template.stable_version;
        if version != stable && self.app_id(stable)? == id {
            return Err(ProviderError::new(format!(
                "the app definition {} gives {version} the id {id} of the app serving {stable}",
                self.spec.app
            ))
            .with_hint("make the id change with the version (`/svc-{{ version }}`) or the pool (`/svc-{{ pool.new }}`)"));
        }
        Ok((app, id))
    }

    /// Where an app left with the new app's id (a crashed release, a release
    /// rolled back by hand) is replaced: the whole definition, cancelling any
    /// deployment of that app still running.
    fn replace_path(id: &str) -> String {
        format!("/v2/apps{id}?partialUpdate=false&force=true")
    }

    /// The app id of `version`.
    pub fn app_id(&self, version: &str) -> Result<String, ProviderError> {
        let app = self.app_definition(version)?;
        Ok(app
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned())
    }

    /// Where the app stands: its deployments, tasks and health.
    pub async fn progress(&self, id: &str) -> Result<Progress, ProviderError> {
        let app = self
            .client
            .expect_success(Method::GET, &format!("/v2/apps{id}"), None)
            .await?;
        let app = app.get("app").unwrap_or(&app);
        let instances = app.get("instances").and_then(Value::as_u64).unwrap_or(0);
        let health_checked = app
            .get("healthChecks")
            .and_then(Value::as_array)
            .is_some_and(|checks| !checks.is_empty());
        let tasks = self
            .client
            .expect_success(Method::GET, &format!("/v2/apps{id}/tasks"), None)
            .await?;
        let tasks = tasks
            .get("tasks")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let running = tasks
            .iter()
            .filter(|task| match task.get("state").and_then(Value::as_str) {
                Some(state) => state == "TASK_RUNNING",
                // Marathon before 0.11 listed started tasks without a state.
                None => task.get("startedAt").is_some_and(|at| !at.is_null()),
            })
            .count() as u64;
        let results = |task: &Value| -> Vec<Value> {
            task.get("healthCheckResults")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
        };
        let alive = |result: &Value| result.get("alive").and_then(Value::as_bool) == Some(true);
        let healthy = tasks
            .iter()
            .filter(|task| {
                let results = results(task);
                !results.is_empty() && results.iter().all(alive)
            })
            .count() as u64;
        let failing = tasks.iter().find_map(|task| {
            let failed = results(task)
                .into_iter()
                .find(|result| result.get("alive").and_then(Value::as_bool) == Some(false))?;
            let task_id = task.get("id").and_then(Value::as_str).unwrap_or("?");
            let failures = failed
                .get("consecutiveFailures")
                .and_then(Value::as_u64)
                .unwrap_or(0);
            let cause = failed
                .get("lastFailureCause")
                .and_then(Value::as_str)
                .map(|cause| format!(": {cause}"))
                .unwrap_or_default();
            Some(format!(
                "task {task_id} fails its health check ({failures} consecutive failures{cause})"
            ))
        });
        let deployments = self
            .client
            .expect_success(Method::GET, "/v2/deployments", None)
            .await?;
        let deployments = deployments
            .as_array()
            .into_iter()
            .flatten()
            .filter(|deployment| affects(deployment, id))
            .map(|deployment| {
                (
                    deployment
                        .get("id")
                        .and_then(Value::as_str)
                        .unwrap_or("?")
                        .to_owned(),
                    waiting_on(deployment),
                )
            })
            .collect();
        Ok(Progress {
            deployments,
            instances,
            running,
            healthy,
            health_checked,
            failing,
        })
    }

    /// Polls until the app is ready; a failing health check is an error, a deployment
    /// still there after `timeout` halts.
    pub async fn wait_ready(&self, id: &str) -> Result<(), ProviderError> {
        let deadline = self.clock.now() + self.spec.timeout.get();
        loop {
            let progress = self.progress(id).await?;
            if let Some(failing) = &progress.failing {
                return Err(ProviderError::new(format!("{id}: {failing}")).with_hint(
                    "the new app is removed; its task logs say why (`dcos task log <task id>`)",
                ));
            }
            if progress.ready() {
                return Ok(());
            }
            let now = self.clock.now();
            if now >= deadline {
                return Err(self.stuck(id, &progress));
            }
            let next = now + self.spec.interval.get();
            self.clock.sleep_until(next.min(deadline)).await;
        }
    }

    fn stuck(&self, id: &str, progress: &Progress) -> ProviderError {
        let waited = crate::duration::display(self.spec.timeout.get());
        let message = match progress.deployments.as_slice() {
            [] => format!("{id} is not ready after {waited}: {}", progress.summary()),
            deployments => format!(
                "Marathon deployment {} of {id} did not finish in {waited}: {}; {}",
                deployments
                    .iter()
                    .map(|(deployment, _)| deployment.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                deployments
                    .iter()
                    .map(|(_, waiting)| waiting.as_str())
                    .collect::<Vec<_>>()
                    .join("; "),
                progress.summary()
            ),
        };
        ProviderError::new(message)
            .with_hint(
                "nothing was rolled back: look at the deployment (`dcos marathon deployment list`), \
                 then cancel it or wait, and run greenlight again",
            )
            .halting()
    }

    /// Kills tasks of `id` and scales the app down by as many
    /// (`POST /v2/tasks/delete?scale=true`); returns Marathon's deployment id.
    pub async fn kill(&self, task_ids: &[String]) -> Result<Option<String>, ProviderError> {
        let body = self
            .client
            .expect_success(
                Method::POST,
                "/v2/tasks/delete?scale=true",
                Some(&json!({ "ids": task_ids })),
            )
            .await?;
        Ok(body
            .get("deploymentId")
            .and_then(Value::as_str)
            .map(str::to_owned))
    }

    /// Settles the app found with the id a migration launches (`empty`: the
    /// definition it sends, with no instance). Marathon reads it back as sent
    /// plus its own defaults and status, so an app that holds every field of
    /// `empty` but the instance count is the one this release launched before
    /// its job died: it keeps its tasks and is scaled up as a first launch
    /// would be. Any other app there (an older version left in the idle colour
    /// by a crash or an aborted release) is replaced whole by `empty`, which
    /// stops its tasks. Telling them apart by the rendered definition, not by
    /// one label, also catches a release whose image changed under the same
    /// version. A wrong "not ours" only restarts the new version before it
    /// serves anyone: once the migration has begun, the state record resumes
    /// it past the launch.
    async fn relaunch(&self, id: &str, empty: &Value) -> Result<(), ProviderError> {
        let found = self
            .client
            .expect_success(Method::GET, &format!("/v2/apps{id}"), None)
            .await?;
        let found = found.get("app").unwrap_or(&found);
        let mut sent = empty.clone();
        if let Some(fields) = sent.as_object_mut() {
            fields.remove("instances");
        }
        if holds(found, &sent) {
            return Ok(());
        }
        self.client
            .expect_success(Method::PUT, &Self::replace_path(id), Some(empty))
            .await
            .map(drop)
    }

    /// Sets the app's instance count (`PUT /v2/apps/{id}`).
    pub async fn scale(&self, id: &str, instances: u64) -> Result<(), ProviderError> {
        self.client
            .expect_success(
                Method::PUT,
                &format!("/v2/apps{id}"),
                Some(&json!({ "instances": instances })),
            )
            .await
            .map(drop)
    }
}

/// The instance count an app definition asks for (Marathon's default is 1).
fn instances_of(app: &Value) -> u64 {
    app.get("instances").and_then(Value::as_u64).unwrap_or(1)
}

/// Whether `found` (an app as Marathon returns it) holds every field of `sent`
/// with the same value; fields Marathon adds (defaults, tasks, status) are
/// ignored, list items are compared in order.
fn holds(found: &Value, sent: &Value) -> bool {
    holds_at(None, found, sent)
}

/// `holds` for the field named `key` (a list item keeps its list's name).
fn holds_at(key: Option<&str>, found: &Value, sent: &Value) -> bool {
    match (found, sent) {
        (Value::Object(found), Value::Object(sent)) => sent.iter().all(|(key, value)| {
            found
                .get(key)
                .is_some_and(|field| holds_at(Some(key), field, value))
        }),
        (Value::Array(found), Value::Array(sent)) => {
            found.len() == sent.len()
                && found
                    .iter()
                    .zip(sent)
                    .all(|(found, sent)| holds_at(key, found, sent))
        }
        // A service port sent as 0 is one Marathon picks and stores in its place.
        (Value::Number(_), Value::Number(sent))
            if sent.as_u64() == Some(0)
                && matches!(key, Some("port" | "servicePort" | "ports")) =>
        {
            true
        }
        // `64` and `64.0` are the same amount of memory.
        (Value::Number(found), Value::Number(sent)) => found.as_f64() == sent.as_f64(),
        (found, sent) => found == sent,
    }
}

/// Whether a deployment from `/v2/deployments` touches app `id`.
fn affects(deployment: &Value, id: &str) -> bool {
    deployment
        .get("affectedApps")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .any(|app| app.as_str() == Some(id))
}

/// What a deployment is doing now, in Marathon's words: "step 1/2: ScaleApplication
/// /svc-green (readiness check ready of task x not ready, last response HTTP 500)".
fn waiting_on(deployment: &Value) -> String {
    let step = match (
        deployment.get("currentStep").and_then(Value::as_u64),
        deployment.get("totalSteps").and_then(Value::as_u64),
    ) {
        (Some(current), Some(total)) => format!("step {current}/{total}: "),
        _ => String::new(),
    };
    let actions: Vec<String> = deployment
        .get("currentActions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|action| {
            let name = action.get("action").and_then(Value::as_str).unwrap_or("?");
            let app = action
                .get("app")
                .or_else(|| action.get("pod"))
                .and_then(Value::as_str)
                .unwrap_or("");
            let readiness: Vec<String> = action
                .get("readinessCheckResults")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter(|result| result.get("ready").and_then(Value::as_bool) != Some(true))
                .map(|result| {
                    let check = result.get("name").and_then(Value::as_str).unwrap_or("?");
                    let task = result.get("taskId").and_then(Value::as_str).unwrap_or("?");
                    let status = result
                        .pointer("/lastResponse/status")
                        .and_then(Value::as_u64)
                        .map(|status| format!(", last response HTTP {status}"))
                        .unwrap_or_default();
                    format!("readiness check {check} of task {task} not ready{status}")
                })
                .collect();
            if readiness.is_empty() {
                format!("{name} {app}")
            } else {
                format!("{name} {app} ({})", readiness.join("; "))
            }
        })
        .collect();
    if actions.is_empty() {
        format!("{step}no current action")
    } else {
        format!("{step}{}", actions.join(", "))
    }
}

#[async_trait]
impl Target for MarathonTarget {
    fn describe(&self) -> String {
        format!("marathon apps from {} at {}", self.spec.app, self.spec.url)
    }

    fn plan_deploy(&self, version: &str) -> Vec<String> {
        match self.app_id(version) {
            Ok(id) => vec![
                format!(
                    "POST {} (app {id} from {}; an app left with that id is replaced: PUT {})",
                    self.client.url("/v2/apps"),
                    self.spec.app,
                    self.client.url(&Self::replace_path(&id)),
                ),
                format!(
                    "GET {}, {} and {} every {} until no deployment affects {id} and every task runs and is healthy (at most {})",
                    self.client.url("/v2/deployments"),
                    self.client.url(&format!("/v2/apps{id}")),
                    self.client.url(&format!("/v2/apps{id}/tasks")),
                    crate::duration::display(self.spec.interval.get()),
                    crate::duration::display(self.spec.timeout.get()),
                ),
            ],
            Err(error) => vec![format!("cannot render {}: {error}", self.spec.app)],
        }
    }

    fn plan_retire(&self, version: &str) -> Vec<String> {
        match self.app_id(version) {
            Ok(id) => vec![format!(
                "DELETE {}",
                self.client.url(&format!("/v2/apps{id}"))
            )],
            Err(error) => vec![format!("cannot render {}: {error}", self.spec.app)],
        }
    }

    async fn deploy(&self, version: &str) -> Result<(), ProviderError> {
        let (app, id) = self.new_app(version)?;
        let what = format!("POST {}", self.client.url("/v2/apps"));
        let answer = self
            .client
            .send(Method::POST, "/v2/apps", Some(&app))
            .await?;
        match answer.status {
            status if status.is_success() => {}
            // An app with this id is left (a re-run finds the one it created, a
            // release to a fixed pool finds the last one there): replace it whole.
            StatusCode::CONFLICT => {
                self.client
                    .expect_success(Method::PUT, &Self::replace_path(&id), Some(&app))
                    .await?;
            }
            _ => return Err(self.client.refused(&what, &answer)),
        }
        self.wait_ready(&id).await
    }

    fn plan_launch(&self, version: &str) -> Vec<String> {
        let Ok(app) = self.app_definition(version) else {
            return self.plan_deploy(version);
        };
        let id = app.get("id").and_then(Value::as_str).unwrap_or_default();
        let instances = instances_of(&app);
        let wait = |what: &str| {
            format!(
                "GET {} and {} every {} until {what} (at most {})",
                self.client.url("/v2/deployments"),
                self.client.url(&format!("/v2/apps{id}/tasks")),
                crate::duration::display(self.spec.interval.get()),
                crate::duration::display(self.spec.timeout.get()),
            )
        };
        vec![
            format!(
                "POST {} (app {id} from {} with 0 instances; an app left with that id is scaled up as it is when it holds this definition, else replaced: PUT {})",
                self.client.url("/v2/apps"),
                self.spec.app,
                self.client.url(&Self::replace_path(id)),
            ),
            wait("no deployment affects it"),
            format!(
                "PUT {} {{\"instances\": {instances}}}",
                self.client.url(&format!("/v2/apps{id}"))
            ),
            wait("every task runs and passes its health checks"),
        ]
    }

    async fn launch(&self, version: &str) -> Result<(), ProviderError> {
        let (app, id) = self.new_app(version)?;
        let instances = instances_of(&app);
        let mut empty = app.clone();
        empty["instances"] = json!(0);
        let what = format!("POST {}", self.client.url("/v2/apps"));
        let answer = self
            .client
            .send(Method::POST, "/v2/apps", Some(&empty))
            .await?;
        match answer.status {
            status if status.is_success() => {}
            StatusCode::CONFLICT => self.relaunch(&id, &empty).await?,
            _ => return Err(self.client.refused(&what, &answer)),
        }
        self.wait_ready(&id).await?;
        self.scale(&id, instances).await?;
        self.wait_ready(&id).await
    }

    fn planned_tasks(&self, version: &str) -> Option<u64> {
        self.app_definition(version)
            .ok()
            .map(|app| instances_of(&app))
    }

    fn plan_kill(&self, version: &str) -> Vec<String> {
        let id = self
            .app_id(version)
            .unwrap_or_else(|_| self.spec.app.clone());
        vec![
            format!(
                "POST {} {{\"ids\": [the batch's task ids]}}",
                self.client.url("/v2/tasks/delete?scale=true")
            ),
            format!(
                "GET {} every {} until no deployment affects {id} (at most {})",
                self.client.url("/v2/deployments"),
                crate::duration::display(self.spec.interval.get()),
                crate::duration::display(self.spec.timeout.get()),
            ),
        ]
    }

    fn plan_restore(&self, version: &str) -> Vec<String> {
        match self.app_definition(version) {
            Ok(app) => {
                let id = app.get("id").and_then(Value::as_str).unwrap_or_default();
                vec![format!(
                    "PUT {} {{\"instances\": {}}} when it runs fewer (tasks the migration killed), then GET {} until every task runs and passes its health checks (at most {})",
                    self.client.url(&format!("/v2/apps{id}")),
                    instances_of(&app),
                    self.client.url(&format!("/v2/apps{id}/tasks")),
                    crate::duration::display(self.spec.timeout.get()),
                )]
            }
            Err(error) => vec![format!("cannot render {}: {error}", self.spec.app)],
        }
    }

    async fn restore(&self, version: &str) -> Result<(), ProviderError> {
        let (app, id) = self.app_and_id(version)?;
        let instances = instances_of(&app);
        let restored = async {
            if self.progress(&id).await?.instances < instances {
                self.scale(&id, instances).await?;
            }
            self.wait_ready(&id).await
        };
        // The hints of a deploy speak of the new app; here traffic has not moved.
        restored.await.map_err(|error| {
            error.with_hint(format!(
                "traffic stays where it was: look at {id} (`dcos marathon app show {id}`, its deployments and task logs), then run `greenlight rollback` again"
            ))
        })
    }

    async fn tasks(&self, version: &str) -> Result<Vec<Task>, ProviderError> {
        let id = self.app_id(version)?;
        let body = self
            .client
            .expect_success(Method::GET, &format!("/v2/apps{id}/tasks"), None)
            .await?;
        Ok(body
            .get("tasks")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|task| {
                Some(Task {
                    id: task.get("id")?.as_str()?.to_owned(),
                    host: task
                        .get("host")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned(),
                    port: task
                        .pointer("/ports/0")
                        .and_then(Value::as_u64)
                        .and_then(|port| u16::try_from(port).ok()),
                })
            })
            .collect())
    }

    async fn kill_tasks(&self, version: &str, ids: &[String]) -> Result<(), ProviderError> {
        let id = self.app_id(version)?;
        self.kill(ids).await?;
        self.wait_ready(&id).await
    }

    async fn retire(&self, version: &str) -> Result<(), ProviderError> {
        let id = self.app_id(version)?;
        let path = format!("/v2/apps{id}");
        let answer = self.client.send(Method::DELETE, &path, None).await?;
        if answer.status.is_success() || answer.status == StatusCode::NOT_FOUND {
            Ok(())
        } else {
            Err(self
                .client
                .refused(&format!("DELETE {}", self.client.url(&path)), &answer))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waiting_on_quotes_the_current_action_and_readiness() {
        let deployment = json!({
            "id": "d1", "affectedApps": ["/svc-green"], "currentStep": 1, "totalSteps": 2,
            "currentActions": [{"action": "ScaleApplication", "app": "/svc-green",
                "readinessCheckResults": [{"taskId": "svc-green.1", "name": "ready",
                    "ready": false, "lastResponse": {"status": 503}}]}]
        });
        assert!(affects(&deployment, "/svc-green"));
        assert!(!affects(&deployment, "/svc-blue"));
        assert_eq!(
            waiting_on(&deployment),
            "step 1/2: ScaleApplication /svc-green (readiness check ready of task svc-green.1 not ready, last response HTTP 503)"
        );
    }

    fn target_with_app(file: &str, text: &str) -> (tempfile::TempDir, MarathonTarget) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(file), text).unwrap();
        let template = crate::spec::load(
            "t.yaml",
            "apiVersion: greenlight.dev/v1alpha1\nkind: Rollout\nmetadata: {name: svc}\ntarget: {command: {deploy: 'true'}}\nrouter: {command: {set: 'true', get: echo 0}}\nstrategy: {blueGreen: {}}\n",
            &crate::spec::LoadOptions::default(),
        )
        .unwrap()
        .context;
        let spec = MarathonSettings {
            url: "http://marathon.mesos:8080".into(),
            token_env: None,
            ca_file: None,
            app: file.into(),
            timeout: crate::duration::Span::from_secs(60),
            interval: crate::duration::Span::from_secs(1),
        };
        let target = MarathonTarget::new(
            spec,
            template,
            dir.path().to_owned(),
            Arc::new(crate::clock::SystemClock),
        )
        .unwrap();
        (dir, target)
    }

    #[test]
    fn yaml_and_json_app_definitions_render_per_version() {
        let (_dir, yaml) = target_with_app(
            "svc.yaml",
            "id: /svc-{{ version }}\ninstances: 2\nlabels:\n  VERSION: '{{ version }}'\n",
        );
        let app = yaml.app_definition("v2").unwrap();
        assert_eq!(
            app,
            json!({"id": "/svc-v2", "instances": 2, "labels": {"VERSION": "v2"}})
        );
        assert_eq!(
            yaml.plan_retire("v1"),
            vec!["DELETE http://marathon.mesos:8080/v2/apps/svc-v1".to_owned()]
        );
        let (_dir, json) = target_with_app("svc.json", r#"{"id": "/svc-{{ version }}"}"#);
        assert_eq!(json.app_id("green").unwrap(), "/svc-green");
    }

    #[test]
    fn an_app_definition_without_an_absolute_id_or_with_a_typo_is_refused() {
        let (_dir, relative) = target_with_app("svc.json", r#"{"id": "svc"}"#);
        let error = relative.app_definition("v2").unwrap_err();
        assert!(
            error.message.contains("must be absolute (`/svc`)"),
            "{error}"
        );
        let (_dir, missing) = target_with_app("svc.json", r#"{"instances": 1}"#);
        let error = missing.app_definition("v2").unwrap_err();
        assert!(error.message.contains("has no `id`"), "{error}");
        let (_dir, typo) = target_with_app("svc.json", r#"{"id": "/svc-{{ verison }}"}"#);
        let error = typo.app_definition("v2").unwrap_err();
        assert!(error.message.contains("svc.json"), "{error}");
    }

    #[test]
    fn an_app_holds_what_was_sent_whatever_marathon_adds_but_not_another_version() {
        let sent = json!({"id": "/svc-green", "mem": 64, "labels": {"VERSION": "v2"},
            "portDefinitions": [{"port": 0, "name": "web"}]});
        let found = json!({"id": "/svc-green", "mem": 64.0, "labels": {"VERSION": "v2"},
            "portDefinitions": [{"port": 0, "name": "web", "labels": {}}],
            "backoffSeconds": 1, "tasks": [], "version": "2026-01-01T00:00:00.000Z"});
        assert!(holds(&found, &sent));
        let mut older = found.clone();
        older["labels"]["VERSION"] = json!("v1");
        assert!(!holds(&older, &sent));
        let mut fewer = found.clone();
        fewer["portDefinitions"] = json!([]);
        assert!(!holds(&fewer, &sent));
        let mut missing = found.clone();
        missing
            .as_object_mut()
            .map(|fields| fields.remove("labels"));
        assert!(!holds(&missing, &sent));
        // Marathon picks the service port asked as 0; a port asked for is kept.
        let mut assigned = found;
        assigned["portDefinitions"][0]["port"] = json!(10_042);
        assert!(holds(&assigned, &sent));
        let mut fixed = sent.clone();
        fixed["portDefinitions"][0]["port"] = json!(10_001);
        assert!(!holds(&assigned, &fixed));
        let mem = json!({"mem": 0});
        assert!(!holds(&json!({"mem": 64}), &mem), "only ports are picked");
    }

    #[test]
    fn ready_needs_no_deployment_every_task_running_and_healthy() {
        let mut progress = Progress {
            deployments: Vec::new(),
            instances: 2,
            running: 2,
            healthy: 1,
            health_checked: true,
            failing: None,
        };
        assert!(!progress.ready());
        progress.healthy = 2;
        assert!(progress.ready());
        progress.deployments.push(("d".into(), "x".into()));
        assert!(!progress.ready());
        progress.deployments.clear();
        progress.health_checked = false;
        progress.healthy = 0;
        assert!(progress.ready());
    }
}
