//! An Edge-LB pools API double over HTTP (`/service/edgelb/v2/pools/{name}`): GET and
//! PUT of whole V2 pools, refusing with HTTP 400 a pool that does not fit the V2 shape
//! (unknown or mistyped fields, enums, `weight N` outside 1–256), as Edge-LB's strict
//! decoding does. Every accepted PUT is kept, so a test can see each version of the pool.

use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::{Value, json};

use super::http_server::{HttpServer, Request, Response};

const PREFIX: &str = "/service/edgelb/v2/pools/";

#[derive(Debug, Default)]
pub struct State {
    /// Pool name → its current body.
    pub pools: std::collections::BTreeMap<String, Value>,
    /// Every pool accepted by a PUT, in order.
    pub history: Vec<Value>,
    pub token: Option<String>,
}

pub struct FakeEdgeLb {
    pub server: HttpServer,
    pub state: Arc<Mutex<State>>,
}

impl FakeEdgeLb {
    pub async fn start(pools: Vec<Value>) -> FakeEdgeLb {
        let state = Arc::new(Mutex::new(State::default()));
        for pool in pools {
            let name = pool["name"].as_str().unwrap_or("pool").to_owned();
            if let Err(problem) = check_pool(&pool) {
                panic!("test pool {name} is not a V2 pool: {problem}");
            }
            state
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .pools
                .insert(name, pool);
        }
        let shared = state.clone();
        let server = HttpServer::start(Arc::new(move |request: &Request| {
            let mut state = shared.lock().unwrap_or_else(|e| e.into_inner());
            answer(&mut state, request)
        }))
        .await;
        FakeEdgeLb { server, state }
    }

    pub fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn pool(&self, name: &str) -> Value {
        self.state().pools.get(name).cloned().unwrap_or(Value::Null)
    }

    /// The cluster's base URL (the pools API is under it).
    pub fn url(&self) -> String {
        self.server.url("")
    }
}

fn error(status: u16, message: String) -> Response {
    Response::json(
        status,
        json!({ "code": status, "message": message }).to_string(),
    )
}

fn answer(state: &mut State, request: &Request) -> Response {
    if let Some(token) = &state.token
        && request.headers.get("authorization") != Some(&format!("token={token}"))
    {
        return error(401, "missing or invalid ACS token".into());
    }
    let Some(name) = request.path.strip_prefix(PREFIX) else {
        return error(
            404,
            format!("{} is not an Edge-LB V2 endpoint", request.path),
        );
    };
    match request.method.as_str() {
        "GET" => match state.pools.get(name) {
            Some(pool) => Response::json(200, pool.to_string()),
            None => error(404, format!("pool {name} not found")),
        },
        "PUT" => {
            if !state.pools.contains_key(name) {
                return error(404, format!("pool {name} not found"));
            }
            let pool: Value = match serde_json::from_str(&request.body) {
                Ok(pool) => pool,
                Err(e) => return error(400, format!("invalid JSON: {e}")),
            };
            if let Err(problem) = check_pool(&pool) {
                return error(400, problem);
            }
            if pool["name"] != name {
                return error(
                    400,
                    format!("pool name {} does not match {name}", pool["name"]),
                );
            }
            state.pools.insert(name.to_owned(), pool.clone());
            state.history.push(pool.clone());
            Response::json(200, pool.to_string())
        }
        method => error(405, format!("{method} is not supported on pools")),
    }
}

/// The V2 pool's shape: field names, their types and enums.
#[derive(Debug, Clone, Copy)]
enum Shape {
    Str,
    Int,
    Num,
    Bool,
    Enum(&'static [&'static str]),
    Array(&'static Shape),
    Object(&'static [(&'static str, Shape)]),
    StrMap,
}

use Shape::*;

const PROTOCOL: Shape = Enum(&["HTTP", "HTTPS", "TCP", "TLS"]);
const REWRITE: Shape = Object(&[
    ("host", Str),
    ("path", Object(&[("fromPath", Str), ("toPath", Str)])),
    (
        "request",
        Object(&[
            ("forwardfor", Bool),
            ("xForwardedPort", Bool),
            ("xForwardedProtoHttpsIfTls", Bool),
            ("setHostHeader", Bool),
            ("rewritePath", Bool),
        ]),
    ),
    ("response", Object(&[("rewriteLocation", Bool)])),
    ("sticky", Object(&[("enabled", Bool), ("customStr", Str)])),
]);
const ENDPOINT: Shape = Object(&[
    (
        "type",
        Enum(&["AUTO_IP", "AGENT_IP", "CONTAINER_IP", "ADDRESS"]),
    ),
    ("miscStr", Str),
    ("check", Object(&[("enabled", Bool), ("customStr", Str)])),
    ("address", Str),
    ("port", Int),
    ("portName", Str),
    ("allPorts", Bool),
]);
const SERVICE: Shape = Object(&[
    (
        "marathon",
        Object(&[
            ("serviceID", Str),
            ("serviceIDPattern", Str),
            ("containerName", Str),
            ("containerNamePattern", Str),
        ]),
    ),
    (
        "mesos",
        Object(&[
            ("frameworkName", Str),
            ("frameworkNamePattern", Str),
            ("frameworkID", Str),
            ("frameworkIDPattern", Str),
            ("taskName", Str),
            ("taskNamePattern", Str),
            ("taskID", Str),
            ("taskIDPattern", Str),
        ]),
    ),
    ("endpoint", ENDPOINT),
]);
const BACKEND: Shape = Object(&[
    ("name", Str),
    ("protocol", PROTOCOL),
    ("rewriteHttp", REWRITE),
    ("balance", Str),
    (
        "customCheck",
        Object(&[
            ("httpchk", Bool),
            ("httpchkMiscStr", Str),
            ("sslHelloChk", Bool),
            ("miscStr", Str),
        ]),
    ),
    ("miscStrs", Array(&Str)),
    ("services", Array(&SERVICE)),
]);
const MAP_ENTRY: Shape = Object(&[
    ("backend", Str),
    ("hostEq", Str),
    ("hostReg", Str),
    ("pathBeg", Str),
    ("pathEnd", Str),
    ("pathReg", Str),
]);
const FRONTEND: Shape = Object(&[
    ("name", Str),
    ("bindAddress", Str),
    ("bindPort", Int),
    ("bindModifier", Str),
    ("certificates", Array(&Str)),
    (
        "redirectToHttps",
        Object(&[("except", Array(&Object(&[("host", Str), ("pathBeg", Str)])))]),
    ),
    ("miscStrs", Array(&Str)),
    ("protocol", PROTOCOL),
    (
        "linkBackend",
        Object(&[("defaultBackend", Str), ("map", Array(&MAP_ENTRY))]),
    ),
]);
const POOL: Shape = Object(&[
    ("apiVersion", Enum(&["V1", "V2"])),
    ("name", Str),
    ("namespace", Str),
    ("packageName", Str),
    ("packageVersion", Str),
    ("role", Str),
    ("principal", Str),
    ("secretName", Str),
    ("cpus", Num),
    ("cpusAdminOverhead", Num),
    ("mem", Int),
    ("memAdminOverhead", Int),
    ("disk", Int),
    ("count", Int),
    ("constraints", Str),
    ("ports", Array(&Int)),
    ("secrets", Array(&Object(&[("secret", Str), ("file", Str)]))),
    ("environmentVariables", StrMap),
    ("autoCertificate", Bool),
    (
        "virtualNetworks",
        Array(&Object(&[("name", Str), ("labels", StrMap)])),
    ),
    (
        "haproxy",
        Object(&[
            ("stats", Object(&[("bindAddress", Str), ("bindPort", Int)])),
            ("frontends", Array(&FRONTEND)),
            ("backends", Array(&BACKEND)),
        ]),
    ),
]);

/// `Ok` for a pool Edge-LB would take, else what is wrong and where.
pub fn check_pool(pool: &Value) -> Result<(), String> {
    check(pool, POOL, "")?;
    if pool["apiVersion"] != "V2" {
        return Err(format!(
            "apiVersion: this endpoint takes V2 pools, not {}",
            pool["apiVersion"]
        ));
    }
    if !pool["name"].is_string() {
        return Err("name: required".into());
    }
    for backend in pool["haproxy"]["backends"].as_array().into_iter().flatten() {
        for service in backend["services"].as_array().into_iter().flatten() {
            let Some(misc) = service["endpoint"]["miscStr"].as_str() else {
                continue;
            };
            let words: Vec<&str> = misc.split_whitespace().collect();
            for pair in words.windows(2) {
                if pair[0] == "weight" {
                    match pair[1].parse::<u32>() {
                        Ok(1..=256) => {}
                        _ => return Err(format!("miscStr `{misc}`: weight must be 1-256")),
                    }
                }
            }
        }
    }
    Ok(())
}

fn check(value: &Value, shape: Shape, at: &str) -> Result<(), String> {
    let wrong = |expected: &str| Err(format!("{at}: expected {expected}, got {value}"));
    match shape {
        Str => value
            .is_string()
            .then_some(())
            .map_or_else(|| wrong("a string"), Ok),
        Int => (value.is_i64() || value.is_u64())
            .then_some(())
            .map_or_else(|| wrong("an integer"), Ok),
        Num => value
            .is_number()
            .then_some(())
            .map_or_else(|| wrong("a number"), Ok),
        Bool => value
            .is_boolean()
            .then_some(())
            .map_or_else(|| wrong("a boolean"), Ok),
        Enum(allowed) => match value.as_str() {
            Some(text) if allowed.contains(&text) => Ok(()),
            _ => wrong(&format!("one of {allowed:?}")),
        },
        Array(item) => {
            let Some(items) = value.as_array() else {
                return wrong("an array");
            };
            for (index, element) in items.iter().enumerate() {
                check(element, *item, &format!("{at}[{index}]"))?;
            }
            Ok(())
        }
        StrMap => match value.as_object() {
            Some(map) if map.values().all(Value::is_string) => Ok(()),
            _ => wrong("an object of strings"),
        },
        Object(fields) => {
            let Some(map) = value.as_object() else {
                return wrong("an object");
            };
            for (key, field) in map {
                let path = if at.is_empty() {
                    key.clone()
                } else {
                    format!("{at}.{key}")
                };
                let Some((_, shape)) = fields.iter().find(|(name, _)| name == key) else {
                    return Err(format!("{path}: unknown field"));
                };
                check(field, *shape, &path)?;
            }
            Ok(())
        }
    }
}
