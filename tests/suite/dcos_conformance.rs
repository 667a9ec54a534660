//! Conformance: the Marathon and Edge-LB doubles, and what greenlight sends them, against
//! Marathon's RAML examples and 2015 REST docs (the only ones with `healthCheckResults`),
//! its AppDefinition JSON Schema, and Edge-LB's V2 pool Swagger and documented pools.
//! Runs only when `GREENLIGHT_REFERENCE` points at the reference folder.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

use greenlight::clock::SystemClock;
use greenlight::deploy::marathon::MarathonTarget;
use greenlight::duration::Span;
use greenlight::router::Router;
use greenlight::router::edgelb::EdgeLbRouter;
use greenlight::router::edgelb::{EdgeLbMode, EdgeLbRouterSpec as EdgeLbSpec};
use greenlight::spec::types::MarathonTarget as Spec;
use greenlight::traffic::Weight;
use serde_json::{Value, json};

use crate::support::edgelb::{FakeEdgeLb, check_pool};
use crate::support::http_server::{HttpServer, Response};
use crate::support::marathon::FakeMarathon;
use crate::support::net::http_client;
use crate::support::reference::{read, reference_dir};

const RAML: &str = "marathon/docs/docs/rest-api/public/api/v2/examples";
const REST_2015: &str = "marathon/historical/rest-api.2015-08-28.md";

fn example(dir: &Path, name: &str) -> Value {
    serde_json::from_str(&read(dir, &format!("{RAML}/{name}")))
        .unwrap_or_else(|e| panic!("{name} does not parse: {e}"))
}

/// The JSON response body documented under `heading` in the 2015 REST docs.
fn documented_response(dir: &Path, heading: &str) -> Value {
    let doc = read(dir, REST_2015);
    let section = doc
        .split(heading)
        .nth(1)
        .unwrap_or_else(|| panic!("no {heading} in the REST docs"));
    let response = section
        .split("**Response:**")
        .nth(1)
        .unwrap_or_else(|| panic!("no response under {heading}"));
    let start = response
        .find("\n{")
        .unwrap_or_else(|| panic!("no body under {heading}"));
    let body = &response[start..];
    let end = body.find("\n```").unwrap_or(body.len());
    serde_json::from_str(&body[..end])
        .unwrap_or_else(|e| panic!("the body under {heading} does not parse: {e}"))
}

fn keys(value: &Value) -> BTreeSet<String> {
    value
        .as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default()
}

async fn call(url: &str, method: reqwest::Method, body: Option<Value>) -> (u16, Value) {
    let mut request = http_client().request(method, url);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn app(id: &str) -> Value {
    json!({"id": id, "instances": 2, "cmd": "sleep 1000", "cpus": 0.1, "mem": 16,
           "healthChecks": [{"protocol": "MESOS_HTTP", "path": "/", "portIndex": 0}]})
}

#[tokio::test]
async fn marathon_double_answers_in_marathons_shapes() {
    let Some(dir) = reference_dir() else { return };
    let marathon = FakeMarathon::start().await;
    let url = |path: &str| marathon.server.url(path);

    let (status, created) = call(&url("/v2/apps"), reqwest::Method::POST, Some(app("/foo"))).await;
    assert_eq!(status, 201);
    assert!(created["deployments"][0]["id"].is_string());
    let (status, conflict) = call(&url("/v2/apps"), reqwest::Method::POST, Some(app("/foo"))).await;
    assert_eq!(status, 409);
    assert_eq!(keys(&conflict), BTreeSet::from(["message".to_owned()]));

    // A deployment in progress has every field of the RAML example.
    let (_, deployments) = call(&url("/v2/deployments"), reqwest::Method::GET, None).await;
    let upstream = example(&dir, "deployments.json");
    assert_eq!(keys(&deployments[0]), keys(&upstream[0]));
    assert_eq!(
        keys(&deployments[0]["currentActions"][0]),
        keys(&upstream[0]["currentActions"][0])
    );
    let (_, done) = call(&url("/v2/deployments"), reqwest::Method::GET, None).await;
    assert_eq!(done, json!([]));

    // Tasks: the RAML task fields plus the documented health check results.
    let (_, tasks) = call(&url("/v2/apps/foo/tasks"), reqwest::Method::GET, None).await;
    let raml_task = &example(&dir, "tasks.json")["tasks"][0];
    let documented = documented_response(&dir, "#### GET `/v2/apps/{appId}`");
    let documented_task = &documented["app"]["tasks"][0];
    let allowed: BTreeSet<String> = keys(raml_task)
        .union(&keys(documented_task))
        .cloned()
        .collect();
    for task in tasks["tasks"].as_array().unwrap() {
        assert!(
            keys(task).is_subset(&allowed),
            "{:?} not in {allowed:?}",
            keys(task)
        );
        assert_eq!(
            keys(&task["healthCheckResults"][0]),
            keys(&documented_task["healthCheckResults"][0])
        );
    }

    // Killing with scale=true answers a DeploymentResult; unknown ids are a 400.
    let ids = marathon.task_ids("/foo");
    let (status, result) = call(
        &url("/v2/tasks/delete?scale=true"),
        reqwest::Method::POST,
        Some(json!({ "ids": [ids[0]] })),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        keys(&result),
        keys(&example(&dir, "deployments_result.json"))
    );
    assert_eq!(marathon.app("/foo").unwrap().instances, 1);
    let (status, _) = call(
        &url("/v2/tasks/delete?scale=true"),
        reqwest::Method::POST,
        Some(json!({ "ids": ["nope"] })),
    )
    .await;
    assert_eq!(status, 400);
    let (status, removed) = call(&url("/v2/apps/foo"), reqwest::Method::DELETE, None).await;
    assert_eq!(status, 200);
    assert_eq!(
        keys(&removed),
        keys(&example(&dir, "deployments_result.json"))
    );
    let (status, missing) = call(&url("/v2/apps/foo"), reqwest::Method::GET, None).await;
    assert_eq!(
        (status, missing["message"].as_str()),
        (404, Some("App '/foo' does not exist"))
    );
}

fn target(dir: &Path, url: &str) -> MarathonTarget {
    MarathonTarget::new(
        Spec {
            url: url.to_owned(),
            token_env: None,
            ca_file: None,
            app: "app.json".into(),
            timeout: Span::from_secs(1),
            interval: Span::from_secs(1),
        },
        greenlight::spec::load(
            "t.yaml",
            &crate::support::spec_yaml("strategy:\n  blueGreen: {}\n"),
            &greenlight::spec::LoadOptions::default(),
        )
        .unwrap_or_else(|e| panic!("{e}"))
        .context,
        dir.to_owned(),
        Arc::new(SystemClock),
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

#[tokio::test]
async fn greenlight_reads_marathons_documented_answers() {
    let Some(dir) = reference_dir() else { return };
    let deployments = example(&dir, "deployments.json").to_string();
    let toggle = documented_response(&dir, "#### GET `/v2/apps/{appId}`");
    let tasks = json!({ "tasks": toggle["app"]["tasks"] }).to_string();
    let app = toggle.to_string();
    let server = HttpServer::start(Arc::new(move |request| match request.path.as_str() {
        "/v2/deployments" => Response::json(200, deployments.clone()),
        "/v2/apps/toggle/tasks" | "/v2/apps/foo/tasks" => Response::json(200, tasks.clone()),
        _ => Response::json(200, app.clone()),
    }))
    .await;
    let _ = http_client();
    let target = target(&dir, &server.url(""));

    // The documented app: no deployment, every task running and alive.
    let progress = target.progress("/toggle").await.unwrap();
    assert!(progress.ready(), "{progress:?}");
    assert_eq!((progress.running, progress.healthy), (2, 2));
    // The RAML deployment holds /foo: its id and what it waits for are named.
    let progress = target.progress("/foo").await.unwrap();
    assert_eq!(
        progress.deployments,
        vec![(
            "97c136bf-5a28-4821-9d94-480d9fbb01c8".to_owned(),
            "step 1/1: ScaleApplication /foo (readiness check myReadyCheck of task foo.instance-c9de6033 not ready, last response HTTP 500)".to_owned()
        )]
    );
}

#[tokio::test]
async fn greenlights_marathon_requests_fit_the_app_schema_and_delete_tasks() {
    let Some(dir) = reference_dir() else { return };
    let schema: Value =
        serde_json::from_str(&read(&dir, "marathon/historical/AppDefinition.schema.json")).unwrap();
    let allowed = keys(&schema["properties"]);
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/dcos");
    for (file, version) in [
        ("svc.json", "v2"),
        ("svc-blue-green.json", "v2"),
        ("svc-blue-green.json", "v3"),
    ] {
        let text = std::fs::read_to_string(examples.join(file)).unwrap();
        let rendered = text
            .replace("{{ version }}", version)
            .replace("{{ pool.new }}", "green");
        let app: Value = serde_json::from_str(&rendered).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert!(
            keys(&app).is_subset(&allowed),
            "{file}: {:?}",
            keys(&app).difference(&allowed)
        );
    }

    let marathon = FakeMarathon::start().await;
    marathon.add_app(app("/foo"));
    let target = target(&dir, &marathon.url());
    let ids = marathon.task_ids("/foo");
    // Marathon refuses to scale an app its kill's deployment still locks: wait for it.
    marathon.state().deployment_reads = 1;
    target.kill(&ids[..1]).await.unwrap();
    target.wait_ready("/foo").await.unwrap();
    target.scale("/foo", 3).await.unwrap();
    let requests: Vec<_> = marathon
        .server
        .requests()
        .into_iter()
        .filter(|r| r.method != "GET")
        .collect();
    let kill: Value = serde_json::from_str(&requests[0].body).unwrap();
    // tasks.raml's example body, `{ "ids": [ "task1", "task2" ] }`.
    assert_eq!(keys(&kill), BTreeSet::from(["ids".to_owned()]));
    assert_eq!(requests[0].path, "/v2/tasks/delete?scale=true");
    let scale: Value = serde_json::from_str(&requests[1].body).unwrap();
    assert!(keys(&scale).is_subset(&allowed));
}

/// Validates `value` against a Swagger 2 definition: types, properties, items, enums.
fn swagger_check(swagger: &Value, schema: &Value, value: &Value, at: &str) -> Result<(), String> {
    if let Some(reference) = schema["$ref"].as_str() {
        let name = reference.trim_start_matches("#/definitions/");
        return swagger_check(swagger, &swagger["definitions"][name], value, at);
    }
    if let Some(allowed) = schema["enum"].as_array()
        && !allowed.contains(value)
    {
        return Err(format!("{at}: {value} is not one of {allowed:?}"));
    }
    let fits = match schema["type"].as_str() {
        Some("object") => value.is_object(),
        Some("array") => value.is_array(),
        Some("string") => value.is_string(),
        Some("integer") => value.is_i64() || value.is_u64(),
        Some("number") => value.is_number(),
        Some("boolean") => value.is_boolean(),
        _ => true,
    };
    let null_allowed = value.is_null() && schema["x-nullable"] == true;
    if !(fits || null_allowed) {
        return Err(format!("{at}: {value} is not of type {}", schema["type"]));
    }
    if let (Some(properties), Some(object)) = (schema["properties"].as_object(), value.as_object())
    {
        for (key, field) in object {
            if let Some(property) = properties.get(key) {
                swagger_check(swagger, property, field, &format!("{at}.{key}"))?;
            }
        }
    }
    if let Some(items) = value.as_array() {
        for (index, item) in items.iter().enumerate() {
            swagger_check(swagger, &schema["items"], item, &format!("{at}[{index}]"))?;
        }
    }
    Ok(())
}

/// Every JSON pool with apiVersion V2 in the Edge-LB docs.
fn documented_pools(dir: &Path) -> Vec<Value> {
    let mut pools = Vec::new();
    for page in [
        "edge-lb/docs-1.7/reference_pool-configuration-reference_v2-examples.md",
        "edge-lb/docs-1.7/tutorials_blue-green-deploy.md",
        "edge-lb/docs-1.7/how-to-tasks_weighted-backends.md",
    ] {
        let text = read(dir, page);
        for block in text.split("```json").skip(1) {
            let body = block.split("```").next().unwrap_or("");
            if let Ok(pool) = serde_json::from_str::<Value>(body)
                && pool["apiVersion"] == "V2"
            {
                pools.push(pool);
            }
        }
    }
    assert!(
        pools.len() >= 5,
        "only {} documented V2 pools found",
        pools.len()
    );
    pools
}

#[tokio::test]
async fn edgelb_double_and_greenlights_pools_fit_the_v2_swagger() {
    let Some(dir) = reference_dir() else { return };
    let swagger: Value =
        serde_yaml::from_str(&read(&dir, "edge-lb/swagger/edge-lb-v2.yaml")).unwrap();
    let pool_schema = json!({"$ref": "#/definitions/V2Pool"});
    let put = &swagger["paths"]["/v2/pools/{name}"]["put"];
    assert!(put.is_object(), "the V2 Swagger has PUT /pools/{{name}}");

    // The double takes every documented pool, as Edge-LB does.
    for pool in documented_pools(&dir) {
        swagger_check(&swagger, &pool_schema, &pool, "pool").unwrap();
        check_pool(&pool).unwrap_or_else(|e| panic!("the double refuses {}: {e}", pool["name"]));
    }
    // And refuses what the Swagger refuses.
    let mut bad = documented_pools(&dir).remove(0);
    bad["haproxy"]["backends"][0]["protocol"] = json!("HTTP2");
    assert!(swagger_check(&swagger, &pool_schema, &bad, "pool").is_err());
    assert!(check_pool(&bad).is_err());

    // What greenlight writes fits the Swagger at every weight.
    let weighted = documented_pools(&dir)
        .into_iter()
        .find(|pool| pool["name"] == "sample-deployment-config")
        .unwrap_or_else(|| panic!("the blue/green tutorial's pool is missing"));
    let edgelb = FakeEdgeLb::start(vec![weighted.clone()]).await;
    let _ = http_client();
    let router = EdgeLbRouter::new(
        EdgeLbSpec {
            url: edgelb.url(),
            token_env: None,
            ca_file: None,
            pool: "sample-deployment-config".into(),
            backend: "svc".into(),
            stable_service: "/svc-blue".into(),
            new_service: "/svc-green".into(),
            mode: EdgeLbMode::Weighted,
            timeout: Span::from_secs(5),
        },
        Path::new("."),
    )
    .unwrap();
    for percent in [10, 50, 100, 0] {
        let weight = Weight::new(percent).unwrap();
        assert_eq!(router.apply(weight).await.unwrap(), weight);
    }
    let history = edgelb.state().history.clone();
    assert_eq!(history.len(), 4);
    for pool in &history {
        swagger_check(&swagger, &pool_schema, pool, "pool").unwrap();
    }
    assert_eq!(edgelb.pool("sample-deployment-config"), weighted);
}
