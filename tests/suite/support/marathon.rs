//! A Marathon double over HTTP: apps, their tasks with health check results, deployments
//! that take a few reads of `/v2/deployments` to finish (or never do), task kills that
//! scale the app down, app updates (a changed definition restarts every task; an app
//! locked by a deployment refuses an update without `force=true`), and app removal.
//! Service ports asked as 0 are given one from 10000 in the stored definition, as
//! Marathon does. Answers have Marathon's shapes (see the conformance suite); an ACS
//! token is required when one is set.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::{Value, json};

use super::http_server::{HttpServer, Request, Response};

/// How the tasks of one app behave.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Health {
    /// Every health check passes.
    #[default]
    Healthy,
    /// Every health check fails (Marathon reports `alive: false`).
    Failing,
}

#[derive(Debug, Clone)]
pub struct App {
    pub definition: Value,
    pub instances: u64,
    pub tasks: Vec<Value>,
}

#[derive(Debug, Clone)]
struct Deployment {
    id: String,
    app: String,
    action: &'static str,
    /// Whether it replaces every task (the definition changed, not only the
    /// instance count).
    restart: bool,
    /// Reads of `/v2/deployments` left before it finishes; `None`: never.
    reads_left: Option<u32>,
}

#[derive(Debug, Default)]
pub struct State {
    pub apps: BTreeMap<String, App>,
    deployments: Vec<Deployment>,
    /// Per app id; apps not listed are healthy.
    pub health: BTreeMap<String, Health>,
    /// App ids whose deployments never finish.
    pub stuck: Vec<String>,
    /// How many reads of `/v2/deployments` a deployment takes.
    pub deployment_reads: u32,
    pub token: Option<String>,
    counter: u64,
}

pub struct FakeMarathon {
    pub server: HttpServer,
    pub state: Arc<Mutex<State>>,
}

impl FakeMarathon {
    /// Marathon with no app; deployments finish on the second read of `/v2/deployments`.
    pub async fn start() -> FakeMarathon {
        let state = Arc::new(Mutex::new(State {
            deployment_reads: 2,
            ..State::default()
        }));
        let shared = state.clone();
        let server = HttpServer::start(Arc::new(move |request: &Request| {
            let mut state = shared.lock().unwrap_or_else(|e| e.into_inner());
            answer(&mut state, request)
        }))
        .await;
        FakeMarathon { server, state }
    }

    pub fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Creates a running app as `dcos marathon app add` would have, all tasks up.
    pub fn add_app(&self, mut definition: Value) {
        let mut state = self.state();
        assign_service_ports(&mut state.counter, &mut definition);
        let id = definition["id"].as_str().unwrap_or("/app").to_owned();
        let instances = definition["instances"].as_u64().unwrap_or(1);
        let mut app = App {
            definition,
            instances,
            tasks: Vec::new(),
        };
        let health = state.health.get(&id).copied().unwrap_or_default();
        while (app.tasks.len() as u64) < instances {
            state.counter += 1;
            let counter = state.counter;
            app.tasks.push(task(&id, &app.definition, counter, health));
        }
        state.apps.insert(id, app);
    }

    /// Starts a deployment of app `id` that never finishes (as a crashed release
    /// leaves one): the app is locked until an update forces it.
    pub fn lock_app(&self, id: &str) {
        let mut state = self.state();
        let deployment = start_deployment(&mut state, id, "ScaleApplication");
        if let Some(locking) = state.deployments.iter_mut().find(|d| d.id == deployment) {
            locking.reads_left = None;
        }
    }

    pub fn app(&self, id: &str) -> Option<App> {
        self.state().apps.get(id).cloned()
    }

    pub fn task_ids(&self, id: &str) -> Vec<String> {
        self.app(id)
            .map(|app| {
                app.tasks
                    .iter()
                    .filter_map(|task| task["id"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn url(&self) -> String {
        self.server.url("")
    }
}

fn json_response(status: u16, body: Value) -> Response {
    Response::json(status, body.to_string())
}

fn error(status: u16, message: String) -> Response {
    json_response(status, json!({ "message": message }))
}

const VERSION: &str = "2026-01-01T00:00:00.000Z";

fn task(app_id: &str, definition: &Value, counter: u64, health: Health) -> Value {
    let name = app_id.trim_start_matches('/').replace('/', "_");
    let id = format!("{name}.instance-{counter:08}");
    let mut task = json!({
        "id": id,
        "appId": app_id,
        "host": format!("10.0.0.{}", counter % 250 + 1),
        "ports": [31000 + counter],
        "slaveId": "agent-1",
        "stagedAt": VERSION,
        "startedAt": VERSION,
        "version": VERSION,
        "state": "TASK_RUNNING",
    });
    let checked = definition["healthChecks"]
        .as_array()
        .is_some_and(|checks| !checks.is_empty());
    if checked {
        let alive = health == Health::Healthy;
        task["healthCheckResults"] = json!([{
            "alive": alive,
            "consecutiveFailures": if alive { 0 } else { 3 },
            "firstSuccess": if alive { Value::from(VERSION) } else { Value::Null },
            "lastFailure": if alive { Value::Null } else { Value::from(VERSION) },
            "lastSuccess": if alive { Value::from(VERSION) } else { Value::Null },
            "taskId": id,
        }]);
    }
    task
}

/// Gives every service port asked as 0 one of Marathon's own (from 10000), as
/// Marathon does when it stores a definition: the app read back differs there.
/// `definition` as stored, with the service ports Marathon picked set back to 0:
/// what was sent, when every port was asked as 0.
pub fn as_sent(definition: &Value) -> Value {
    let mut definition = definition.clone();
    if let Some(list) = definition
        .pointer_mut("/portDefinitions")
        .and_then(Value::as_array_mut)
    {
        for port in list {
            port["port"] = json!(0);
        }
    }
    definition
}

fn assign_service_ports(counter: &mut u64, definition: &mut Value) {
    for (path, key) in [
        ("/portDefinitions", "port"),
        ("/container/portMappings", "servicePort"),
    ] {
        let Some(list) = definition.pointer_mut(path).and_then(Value::as_array_mut) else {
            continue;
        };
        for port in list {
            if port.get(key).and_then(Value::as_u64).unwrap_or(0) == 0 {
                *counter += 1;
                port[key] = json!(10_000 + *counter);
            }
        }
    }
}

fn answer(state: &mut State, request: &Request) -> Response {
    if let Some(token) = &state.token {
        let expected = format!("token={token}");
        if request.headers.get("authorization") != Some(&expected) {
            return error(401, "Unauthorized: missing or invalid ACS token".into());
        }
    }
    let (path, query) = request
        .path
        .split_once('?')
        .unwrap_or((request.path.as_str(), ""));
    let body: Value = if request.body.is_empty() {
        Value::Null
    } else {
        match serde_json::from_str(&request.body) {
            Ok(body) => body,
            Err(_) => return error(400, "Invalid JSON".into()),
        }
    };
    match (request.method.as_str(), path) {
        ("POST", "/v2/apps") => create(state, body),
        ("GET", "/v2/deployments") => deployments(state),
        ("POST", "/v2/tasks/delete") => kill(state, body, query.contains("scale=true")),
        (method, path) if path.starts_with("/v2/apps/") => {
            let rest = &path["/v2/apps".len()..];
            match (method, rest.strip_suffix("/tasks")) {
                ("GET", Some(id)) => match state.apps.get(id) {
                    Some(app) => json_response(200, json!({ "tasks": app.tasks })),
                    None => error(404, format!("App '{id}' does not exist")),
                },
                ("GET", None) => get_app(state, rest),
                ("PUT", None) => update(state, rest, body, query),
                ("DELETE", None) => match state.apps.remove(rest) {
                    Some(_) => {
                        state.deployments.retain(|d| d.app != rest);
                        let id = start_deployment(state, rest, "StopApplication");
                        json_response(200, json!({ "deploymentId": id, "version": VERSION }))
                    }
                    None => error(404, format!("App '{rest}' does not exist")),
                },
                _ => error(405, format!("{method} {path} is not supported")),
            }
        }
        (method, path) => error(404, format!("{method} {path} is not a Marathon endpoint")),
    }
}

fn valid_id(id: &str) -> bool {
    id.starts_with('/')
        && id[1..].split('/').all(|segment| {
            !segment.is_empty()
                && segment
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
                && !segment.starts_with(['-', '.'])
                && !segment.ends_with(['-', '.'])
        })
}

fn create(state: &mut State, definition: Value) -> Response {
    let Some(id) = definition["id"].as_str().map(str::to_owned) else {
        return json_response(
            422,
            json!({"message": "Object is not valid", "details": [{"path": "/id", "errors": ["error.path.missing"]}]}),
        );
    };
    if !valid_id(&id) {
        return json_response(
            422,
            json!({"message": "Object is not valid", "details": [{"path": "/id", "errors": ["must fully match regular expression '^(([a-z0-9]|[a-z0-9][a-z0-9\\-]*[a-z0-9])\\.)*([a-z0-9]|[a-z0-9][a-z0-9\\-]*[a-z0-9])|(\\.|\\.\\.)$'"]}]}),
        );
    }
    if state.apps.contains_key(&id) {
        return error(409, format!("An app with id [{id}] already exists."));
    }
    let mut definition = definition;
    assign_service_ports(&mut state.counter, &mut definition);
    let instances = definition["instances"].as_u64().unwrap_or(1);
    state.apps.insert(
        id.clone(),
        App {
            definition: definition.clone(),
            instances,
            tasks: Vec::new(),
        },
    );
    let deployment = start_deployment(state, &id, "StartApplication");
    let mut body = definition;
    body["instances"] = json!(instances);
    body["deployments"] = json!([{ "id": deployment }]);
    body["version"] = json!(VERSION);
    json_response(201, body)
}

fn update(state: &mut State, id: &str, patch: Value, query: &str) -> Response {
    let Some(fields) = patch.as_object() else {
        return error(400, "Invalid JSON".into());
    };
    let flag = |name: &str| query.split('&').any(|pair| pair == format!("{name}=true"));
    let locked = state.deployments.iter().any(|d| d.app == id);
    if locked && !flag("force") {
        return error(
            409,
            format!(
                "App is locked by one or more deployments. Override with the option '?force=true'. View details at '/v2/deployments/<DEPLOYMENT_ID>'. ({id})"
            ),
        );
    }
    // `force=true` cancels the deployments in the way.
    state.deployments.retain(|d| d.app != id);
    let Some(app) = state.apps.get_mut(id) else {
        return error(404, format!("App '{id}' does not exist"));
    };
    let before = app.definition.clone();
    // Marathon's default `partialUpdate=true`: fields not given keep their values;
    // `partialUpdate=false` replaces the definition.
    let replace = query.split('&').any(|pair| pair == "partialUpdate=false");
    if replace {
        app.definition = json!({ "id": id });
    }
    for (key, value) in fields {
        app.definition[key] = value.clone();
    }
    assign_service_ports(&mut state.counter, &mut app.definition);
    match patch["instances"].as_u64() {
        Some(instances) => app.instances = instances,
        None if replace => app.instances = 1,
        None => {}
    }
    let without_instances = |definition: &Value| {
        let mut definition = definition.clone();
        if let Some(fields) = definition.as_object_mut() {
            fields.remove("instances");
        }
        definition
    };
    let restart = without_instances(&app.definition) != without_instances(&before);
    let action = if restart {
        "RestartApplication"
    } else {
        "ScaleApplication"
    };
    let deployment = start_deployment(state, id, action);
    if let Some(last) = state.deployments.last_mut() {
        last.restart = restart;
    }
    json_response(
        200,
        json!({ "deploymentId": deployment, "version": VERSION }),
    )
}

fn get_app(state: &State, id: &str) -> Response {
    let Some(app) = state.apps.get(id) else {
        return error(404, format!("App '{id}' does not exist"));
    };
    let healthy = app
        .tasks
        .iter()
        .filter(|task| {
            task["healthCheckResults"]
                .as_array()
                .is_some_and(|results| results.iter().all(|r| r["alive"] == true))
        })
        .count();
    let mut body = app.definition.clone();
    body["instances"] = json!(app.instances);
    body["tasks"] = json!(app.tasks);
    body["tasksRunning"] = json!(app.tasks.len());
    body["tasksHealthy"] = json!(healthy);
    body["tasksUnhealthy"] = json!(app.tasks.len() - healthy);
    body["tasksStaged"] = json!(0);
    body["deployments"] = json!(
        state
            .deployments
            .iter()
            .filter(|d| d.app == id)
            .map(|d| json!({ "id": d.id }))
            .collect::<Vec<_>>()
    );
    json_response(200, json!({ "app": body }))
}

fn start_deployment(state: &mut State, app: &str, action: &'static str) -> String {
    state.counter += 1;
    let id = format!("5ed4c0c5-0000-4000-8000-{:012}", state.counter);
    let reads_left =
        (!state.stuck.iter().any(|stuck| stuck == app)).then_some(state.deployment_reads);
    state.deployments.push(Deployment {
        id: id.clone(),
        app: app.to_owned(),
        action,
        restart: false,
        reads_left,
    });
    id
}

/// Every read moves each deployment on; a finished one brings its app's tasks to the
/// instance count.
fn deployments(state: &mut State) -> Response {
    let mut finished = Vec::new();
    for deployment in &mut state.deployments {
        if let Some(left) = deployment.reads_left.as_mut() {
            *left = left.saturating_sub(1);
            if *left == 0 {
                finished.push((deployment.app.clone(), deployment.restart));
                // Tasks that fail their health checks hold the deployment, as in
                // Marathon; an app scaled to no instance has none to fail.
                let starts_tasks = state
                    .apps
                    .get(&deployment.app)
                    .is_some_and(|app| app.instances > 0);
                if starts_tasks && state.health.get(&deployment.app) == Some(&Health::Failing) {
                    deployment.reads_left = None;
                }
            }
        }
    }
    state.deployments.retain(|d| d.reads_left != Some(0));
    for (id, restart) in finished {
        let health = state.health.get(&id).copied().unwrap_or_default();
        let mut counter = state.counter;
        if let Some(app) = state.apps.get_mut(&id) {
            if restart {
                app.tasks.clear();
            }
            app.tasks.truncate(app.instances as usize);
            while (app.tasks.len() as u64) < app.instances {
                counter += 1;
                let new = task(&id, &app.definition, counter, health);
                app.tasks.push(new);
            }
        }
        state.counter = counter;
    }
    let list: Vec<Value> = state
        .deployments
        .iter()
        .map(|d| {
            json!({
                "id": d.id,
                "version": VERSION,
                "affectedApps": [d.app],
                "affectedPods": [],
                "steps": [{ "actions": [{ "action": d.action, "app": d.app }] }],
                "currentActions": [{ "action": d.action, "app": d.app, "readinessCheckResults": [] }],
                "currentStep": 1,
                "totalSteps": 1,
            })
        })
        .collect();
    json_response(200, Value::Array(list))
}

fn kill(state: &mut State, body: Value, scale: bool) -> Response {
    let Some(ids) = body["ids"].as_array() else {
        return json_response(
            422,
            json!({"message": "Object is not valid", "details": [{"path": "/ids", "errors": ["error.path.missing"]}]}),
        );
    };
    let ids: Vec<String> = ids
        .iter()
        .filter_map(|id| id.as_str().map(str::to_owned))
        .collect();
    let unknown: Vec<&String> = ids
        .iter()
        .filter(|id| {
            !state
                .apps
                .values()
                .any(|app| app.tasks.iter().any(|task| task["id"] == id.as_str()))
        })
        .collect();
    if !unknown.is_empty() {
        return error(400, format!("Unknown task ids: {unknown:?}"));
    }
    let mut killed = Vec::new();
    let mut apps = Vec::new();
    for app_id in state.apps.keys().cloned().collect::<Vec<_>>() {
        let Some(app) = state.apps.get_mut(&app_id) else {
            continue;
        };
        let before = app.tasks.len();
        app.tasks.retain(|task| {
            let hit = ids.iter().any(|id| task["id"] == id.as_str());
            if hit {
                killed.push(task.clone());
            }
            !hit
        });
        let gone = (before - app.tasks.len()) as u64;
        if gone > 0 && scale {
            app.instances -= gone;
            apps.push(app_id);
        }
    }
    if !scale {
        return json_response(200, json!({ "tasks": killed }));
    }
    let mut deployment = String::new();
    for app in apps {
        deployment = start_deployment(state, &app, "ScaleApplication");
    }
    json_response(
        200,
        json!({ "deploymentId": deployment, "version": VERSION }),
    )
}
