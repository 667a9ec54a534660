//! A tiny versioned HTTP app whose failures and slowness can be dialled in while
//! it runs: the "app under test" for the demo and for integration tests.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::HeaderValue;
use hyper::{Request, Response, StatusCode};

use super::lock;
use super::server::LoopbackServer;

/// Response header naming the version that answered, so callers can see the split.
pub const VERSION_HEADER: &str = "x-greenlight-version";

/// Always answers 200, unaffected by faults, for smoke checks.
pub const HEALTH_PATH: &str = "/healthz";

/// Error rates are applied in millionths so the error diffusion is exact integer arithmetic.
const PARTS_PER_MILLION: u32 = 1_000_000;

/// Misbehaviour to inject into every request except [`HEALTH_PATH`].
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Faults {
    /// Fraction of requests answered with 500, in `0.0..=1.0`.
    pub error_rate: f64,
    /// Delay before every answer, failed or not.
    pub latency: Duration,
}

impl Faults {
    pub const NONE: Faults = Faults {
        error_rate: 0.0,
        latency: Duration::ZERO,
    };

    /// Only failures, e.g. `Faults::failing(0.3)` fails 3 of every 10 requests.
    pub fn failing(error_rate: f64) -> Self {
        Self {
            error_rate,
            ..Self::NONE
        }
    }

    /// Only a delay, e.g. `Faults::slow(Duration::from_millis(500))`.
    pub fn slow(latency: Duration) -> Self {
        Self {
            latency,
            ..Self::NONE
        }
    }

    pub fn validate(&self) -> Result<(), InvalidFaults> {
        if (0.0..=1.0).contains(&self.error_rate) {
            Ok(())
        } else {
            Err(InvalidFaults {
                error_rate: self.error_rate,
            })
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
#[error("fault error_rate must be between 0 and 1, got {error_rate}")]
pub struct InvalidFaults {
    pub error_rate: f64,
}

/// One running app version on 127.0.0.1. Stops when dropped or shut down.
pub struct AppServer {
    state: Arc<AppState>,
    server: LoopbackServer,
}

struct AppState {
    version: String,
    version_header: HeaderValue,
    faults: Mutex<FaultDial>,
    requests: AtomicU64,
    errors: AtomicU64,
}

/// Error diffusion: each request adds the error rate to `owed`, and a request
/// fails whenever a whole failure is owed. So 0.3 fails exactly 3 of every 10
/// consecutive requests, evenly spread, with no randomness to make tests flaky.
struct FaultDial {
    faults: Faults,
    error_ppm: u32,
    owed_ppm: u32,
}

impl FaultDial {
    fn new(faults: Faults) -> Self {
        Self {
            faults,
            // In range after `validate`, so the cast cannot truncate.
            error_ppm: (faults.error_rate * f64::from(PARTS_PER_MILLION)).round() as u32,
            owed_ppm: 0,
        }
    }

    fn change(&mut self, faults: Faults) {
        let owed_ppm = self.owed_ppm;
        *self = Self::new(faults);
        self.owed_ppm = owed_ppm;
    }

    /// Returns whether this request fails, and how long to delay it.
    fn next_request(&mut self) -> (bool, Duration) {
        self.owed_ppm += self.error_ppm;
        let fail = self.owed_ppm >= PARTS_PER_MILLION;
        if fail {
            self.owed_ppm -= PARTS_PER_MILLION;
        }
        (fail, self.faults.latency)
    }
}

impl AppServer {
    /// Starts `version` on an ephemeral loopback port with `faults` already applied.
    pub async fn start(version: impl Into<String>, faults: Faults) -> io::Result<AppServer> {
        let version = version.into();
        faults
            .validate()
            .map_err(|error| io::Error::new(io::ErrorKind::InvalidInput, error))?;
        let version_header = HeaderValue::from_str(&version).map_err(|error| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("app version {version:?} cannot be sent as an HTTP header: {error}"),
            )
        })?;
        let state = Arc::new(AppState {
            version,
            version_header,
            faults: Mutex::new(FaultDial::new(faults)),
            requests: AtomicU64::new(0),
            errors: AtomicU64::new(0),
        });
        let handler_state = Arc::clone(&state);
        let server =
            LoopbackServer::start(move |request| handle(Arc::clone(&handler_state), request))
                .await
                .map_err(|error| {
                    io::Error::new(
                        error.kind(),
                        format!("starting app {} on 127.0.0.1: {error}", state.version),
                    )
                })?;
        Ok(AppServer { state, server })
    }

    pub fn version(&self) -> &str {
        &self.state.version
    }

    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    /// Base URL without a trailing slash, e.g. `http://127.0.0.1:41234`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr())
    }

    pub fn faults(&self) -> Faults {
        lock(&self.state.faults).faults
    }

    /// Takes effect from the next request on; requests already delayed keep their delay.
    pub fn set_faults(&self, faults: Faults) -> Result<(), InvalidFaults> {
        faults.validate()?;
        lock(&self.state.faults).change(faults);
        Ok(())
    }

    /// Requests received, excluding health checks.
    pub fn request_count(&self) -> u64 {
        self.state.requests.load(Ordering::Relaxed)
    }

    /// Requests failed on purpose with a 500.
    pub fn error_count(&self) -> u64 {
        self.state.errors.load(Ordering::Relaxed)
    }

    /// Stops the server and waits until its connections are closed.
    pub async fn shutdown(self) {
        self.server.shutdown().await;
    }
}

async fn handle(state: Arc<AppState>, request: Request<Incoming>) -> Response<Full<Bytes>> {
    if request.uri().path() == HEALTH_PATH {
        return respond(&state, StatusCode::OK, "ok\n".to_owned());
    }
    state.requests.fetch_add(1, Ordering::Relaxed);
    let (fail, latency) = lock(&state.faults).next_request();
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    if fail {
        state.errors.fetch_add(1, Ordering::Relaxed);
        let body = format!("{}: injected failure\n", state.version);
        respond(&state, StatusCode::INTERNAL_SERVER_ERROR, body)
    } else {
        let body = format!("hello from {}\n", state.version);
        respond(&state, StatusCode::OK, body)
    }
}

fn respond(state: &AppState, status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(VERSION_HEADER, state.version_header.clone());
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sandbox::test_support::TestClient;

    #[tokio::test]
    async fn fails_exactly_the_configured_fraction_evenly_spread() {
        let app = AppServer::start("v2", Faults::failing(0.3)).await.unwrap();
        let client = TestClient::new();

        let mut statuses = Vec::new();
        for _ in 0..100 {
            statuses.push(client.get(&app.url()).await.status);
        }

        for (chunk_index, chunk) in statuses.chunks(10).enumerate() {
            let failures = chunk
                .iter()
                .filter(|status| **status == StatusCode::INTERNAL_SERVER_ERROR)
                .count();
            let first = chunk_index * 10;
            assert_eq!(failures, 3, "requests {first}..{}", first + 9);
        }
        assert_eq!(app.request_count(), 100);
        assert_eq!(app.error_count(), 30);
    }

    #[tokio::test]
    async fn every_response_names_the_version() {
        let app = AppServer::start("v7", Faults::failing(0.5)).await.unwrap();
        let client = TestClient::new();

        for _ in 0..4 {
            let reply = client.get(&format!("{}/some/path", app.url())).await;
            assert_eq!(reply.version.as_deref(), Some("v7"));
        }
    }

    #[tokio::test]
    async fn faults_change_while_running() {
        let app = AppServer::start("v2", Faults::NONE).await.unwrap();
        let client = TestClient::new();
        assert_eq!(client.get(&app.url()).await.status, StatusCode::OK);

        app.set_faults(Faults::failing(1.0)).unwrap();
        assert_eq!(app.faults(), Faults::failing(1.0));
        for _ in 0..5 {
            let reply = client.get(&app.url()).await;
            assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR);
        }

        app.set_faults(Faults::NONE).unwrap();
        assert_eq!(client.get(&app.url()).await.status, StatusCode::OK);
    }

    #[tokio::test]
    async fn health_check_ignores_faults_and_is_not_counted() {
        let app = AppServer::start("v2", Faults::failing(1.0)).await.unwrap();
        let client = TestClient::new();

        let reply = client.get(&format!("{}{HEALTH_PATH}", app.url())).await;

        assert_eq!(reply.status, StatusCode::OK);
        assert_eq!(app.request_count(), 0);
    }

    #[tokio::test]
    async fn latency_fault_delays_answers() {
        let latency = Duration::from_millis(40);
        let app = AppServer::start("v2", Faults::slow(latency)).await.unwrap();
        let client = TestClient::new();

        let started = std::time::Instant::now();
        let reply = client.get(&app.url()).await;

        assert_eq!(reply.status, StatusCode::OK);
        assert!(started.elapsed() >= latency);
    }

    #[tokio::test]
    async fn rejects_error_rates_outside_zero_to_one() {
        let started = AppServer::start("v2", Faults::failing(1.5)).await;
        assert_eq!(
            started.err().map(|error| error.kind()),
            Some(io::ErrorKind::InvalidInput)
        );

        let app = AppServer::start("v2", Faults::NONE).await.unwrap();
        assert!(app.set_faults(Faults::failing(-0.1)).is_err());
        assert!(app.set_faults(Faults::failing(f64::NAN)).is_err());
        assert_eq!(app.faults(), Faults::NONE);
    }

    #[tokio::test]
    async fn shutdown_closes_the_port() {
        let app = AppServer::start("v1", Faults::NONE).await.unwrap();
        let addr = app.addr();

        app.shutdown().await;

        assert!(tokio::net::TcpStream::connect(addr).await.is_err());
    }
}
