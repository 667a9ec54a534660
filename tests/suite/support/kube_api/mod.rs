//! An HTTP fake of the Kubernetes API server, where no real one runs in
//! tests: it keeps objects, honours resourceVersion, applies merge, JSON and
//! apply patches, lists by label, rejects what the real server rejects (limits
//! written down in `limits.rs`), checks the bearer token, and injects faults.
//! Built on hyper 1 directly: kube already compiles it, and the fake needs no
//! routing beyond splitting a path, so a framework would only add build time.

mod controller;
mod faults;
mod limits;
mod patch;
mod store;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use serde_json::Value;

pub use controller::Behaviour;
use faults::Armed;
pub use faults::Fault;
use store::{Answer, Store, failure, parse_path};

/// The bearer token the fake accepts; tests check it never leaks.
pub const TOKEN: &str = "fake-token-5ecret-do-not-print";
pub const NAMESPACE: &str = "shop";

/// One request as the fake answered it.
#[derive(Debug, Clone)]
pub struct Logged {
    pub method: String,
    pub path: String,
    pub status: u16,
    pub content_type: String,
}

#[derive(Default)]
struct Shared {
    store: Store,
    faults: Vec<Armed>,
    log: Vec<Logged>,
}

pub struct FakeKube {
    addr: SocketAddr,
    shared: Arc<Mutex<Shared>>,
}

impl FakeKube {
    /// Starts the fake on a free loopback port, on its own thread and runtime;
    /// it stops with the test process.
    pub fn start() -> Self {
        let shared = Arc::new(Mutex::new(Shared::default()));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        listener
            .set_nonblocking(true)
            .expect("non-blocking listener");
        let addr = listener.local_addr().expect("local address");
        let state = shared.clone();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(serve(listener, state));
        });
        Self { addr, shared }
    }

    fn lock(&self) -> MutexGuard<'_, Shared> {
        self.shared
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The fake's URL.
    pub fn server(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A kubeconfig (token auth, namespace `shop`) pointing at the fake.
    pub fn kubeconfig(&self, dir: &Path) -> PathBuf {
        let path = dir.join("kubeconfig");
        let text = format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: fake\nclusters:\n- name: fake\n  cluster:\n    server: {}\ncontexts:\n- name: fake\n  context:\n    cluster: fake\n    user: ci\n    namespace: {NAMESPACE}\nusers:\n- name: ci\n  user:\n    token: {TOKEN}\n",
            self.server()
        );
        std::fs::write(&path, text).expect("write the kubeconfig");
        path
    }

    /// Stores `object` (created as through the API) under `collection`.
    pub fn insert(&self, collection: &str, object: Value) -> Value {
        let answer = self.lock().store.create(collection, object);
        assert_eq!(answer.status, 201, "fixture rejected: {}", answer.body);
        answer.body
    }

    pub fn object(&self, collection: &str, name: &str) -> Option<Value> {
        self.lock()
            .store
            .objects
            .get(&store::Key {
                collection: collection.into(),
                name: name.into(),
            })
            .cloned()
    }

    /// Writes a status, as a controller would through the status subresource.
    pub fn set_status(&self, collection: &str, name: &str, status: Value) {
        let mut shared = self.lock();
        let key = store::Key {
            collection: collection.into(),
            name: name.into(),
        };
        if let Some(object) = shared.store.objects.get_mut(&key) {
            object["status"] = status;
        }
    }

    /// Changes a stored object as a person with kubectl would (a write: it
    /// gets a new resourceVersion, and a Deployment rolls out again).
    pub fn edit(&self, collection: &str, name: &str, change: impl FnOnce(&mut Value)) {
        let mut shared = self.lock();
        let mut object = shared
            .store
            .objects
            .get(&store::Key {
                collection: collection.into(),
                name: name.into(),
            })
            .cloned()
            .unwrap_or_else(|| panic!("{collection}/{name} does not exist"));
        change(&mut object);
        let answer = shared.store.replace(collection, name, object);
        assert_eq!(answer.status, 200, "edit rejected: {}", answer.body);
    }

    pub fn deployment(&self, name: &str, behaviour: Behaviour) {
        self.lock()
            .store
            .deployments
            .insert(name.to_owned(), behaviour);
    }

    /// The next `count` `method` requests to a path ending in `path_suffix` meet `fault`.
    pub fn fail_next(&self, method: &str, path_suffix: &str, count: usize, fault: Fault) {
        self.lock().faults.push(Armed {
            method: method.into(),
            path_suffix: path_suffix.into(),
            remaining: count,
            fault,
        });
    }

    /// Every stored object, for conformance checks.
    pub fn objects(&self) -> Vec<Value> {
        self.lock().store.objects.values().cloned().collect()
    }

    pub fn requests(&self) -> Vec<Logged> {
        self.lock().log.clone()
    }

    /// Requests that could have changed something.
    pub fn writes(&self) -> Vec<Logged> {
        self.requests()
            .into_iter()
            .filter(|logged| logged.method != "GET")
            .collect()
    }
}

async fn serve(listener: std::net::TcpListener, shared: Arc<Mutex<Shared>>) {
    let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
        return;
    };
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let shared = shared.clone();
        tokio::spawn(async move {
            let service =
                hyper::service::service_fn(move |request| handle(request, shared.clone()));
            let io = hyper_util::rt::TokioIo::new(stream);
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(io, service)
                .await;
        });
    }
}

fn query_value(query: &str, name: &str) -> String {
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| {
            value
                .replace("%3D", "=")
                .replace("%2C", ",")
                .replace("%2F", "/")
        })
        .unwrap_or_default()
}

async fn handle(
    request: Request<Incoming>,
    shared: Arc<Mutex<Shared>>,
) -> Result<Response<Full<Bytes>>, hyper::Error> {
    let method = request.method().as_str().to_owned();
    let path = request.uri().path().to_owned();
    let query = request.uri().query().unwrap_or_default().to_owned();
    let header = |name: &str| {
        request
            .headers()
            .get(name)
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let authorization = header("authorization");
    let content_type = header("content-type");
    let body = request.into_body().collect().await?.to_bytes();

    let fault = {
        let mut shared = shared
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        faults::take(&mut shared.faults, &method, &path)
    };
    if let Some(Fault::Slow(delay)) = fault {
        tokio::time::sleep(delay).await;
    }
    let mut shared = shared
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let answer = if authorization != format!("Bearer {TOKEN}") {
        failure(401, "Unauthorized", "Unauthorized")
    } else {
        match fault {
            Some(Fault::Conflict) => failure(
                409,
                "Conflict",
                format!(
                    "Operation cannot be fulfilled on {path}: the object has been modified; please apply your changes to the latest version and try again"
                ),
            ),
            Some(Fault::ServerError) => failure(
                500,
                "InternalError",
                "Internal error occurred: injected by the test",
            ),
            _ => route(
                &mut shared.store,
                &method,
                &path,
                &query,
                &content_type,
                &body,
            ),
        }
    };
    shared.log.push(Logged {
        method,
        path,
        status: answer.status,
        content_type,
    });
    let text = serde_json::to_vec(&answer.body).unwrap_or_default();
    Ok(Response::builder()
        .status(answer.status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(text)))
        .unwrap_or_default())
}

fn route(
    store: &mut Store,
    method: &str,
    path: &str,
    query: &str,
    content_type: &str,
    body: &[u8],
) -> Answer {
    let Some((collection, name)) = parse_path(path) else {
        return failure(404, "NotFound", format!("the fake serves no {path}"));
    };
    let json = || serde_json::from_slice::<Value>(body);
    match (method, name) {
        ("GET", Some(name)) => store.get(&collection, &name),
        ("GET", None) => store.list(&collection, &query_value(query, "labelSelector")),
        ("POST", None) => match json() {
            Ok(object) => store.create(&collection, object),
            Err(error) => failure(400, "BadRequest", error.to_string()),
        },
        ("PUT", Some(name)) => match json() {
            Ok(object) => store.replace(&collection, &name, object),
            Err(error) => failure(400, "BadRequest", error.to_string()),
        },
        ("PATCH", Some(name)) => {
            let manager = query_value(query, "fieldManager");
            if content_type.starts_with("application/apply-patch") && manager.is_empty() {
                return failure(400, "BadRequest", "PATCH /apply requires fieldManager");
            }
            store.patch(&collection, &name, content_type, body, &manager)
        }
        ("DELETE", Some(name)) => store.delete(&collection, &name),
        _ => failure(405, "MethodNotAllowed", format!("{method} {path}")),
    }
}
