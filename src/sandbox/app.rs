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

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use rand_distr::{Distribution, LogNormal};

use super::lock;
use super::server::LoopbackServer;

/// Response header naming the version that answered, so callers can see the split.
pub const VERSION_HEADER: &str = "x-greenlight-version";

/// Always answers 200, unaffected by faults, for smoke checks.
pub const HEALTH_PATH: &str = "/healthz";

/// Misbehaviour to inject into every request except [`HEALTH_PATH`].
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Faults {
    /// Chance that a request is answered with 500, in `0.0..=1.0`, drawn per request.
    pub error_rate: f64,
    /// Delay before every answer, failed or not.
    pub latency: Duration,
    /// Random extra delay on top: log-normal, for a realistic long tail.
    pub jitter: Jitter,
    /// Seeds the draws, so a run can be replayed.
    pub seed: u64,
}

/// A log-normal delay: half the requests wait less than `median`; `sigma`
/// sets the tail (0.6 puts p99 at about 4× the median).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Jitter {
    pub median: Duration,
    pub sigma: f64,
}

impl Faults {
    pub const NONE: Faults = Faults {
        error_rate: 0.0,
        latency: Duration::ZERO,
        jitter: Jitter {
            median: Duration::ZERO,
            sigma: 0.0,
        },
        seed: 0,
    };

    /// Only failures, e.g. `Faults::failing(0.3)` fails each request with chance 0.3.
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

    /// What a real service does on a good day: 1% of requests fail at random and
    /// latency has a long tail (median 20ms, p99 about 80ms).
    pub fn baseline(seed: u64) -> Self {
        Self {
            error_rate: 0.01,
            latency: Duration::ZERO,
            jitter: Jitter {
                median: Duration::from_millis(20),
                sigma: 0.6,
            },
            seed,
        }
    }

    pub fn validate(&self) -> Result<(), InvalidFaults> {
        let sigma_ok = self.jitter.sigma.is_finite() && (0.0..=3.0).contains(&self.jitter.sigma);
        if (0.0..=1.0).contains(&self.error_rate) && sigma_ok {
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

/// Draws each request's fate from a seeded generator: random like real
/// failures, yet the same sequence for the same seed.
struct FaultDial {
    faults: Faults,
    rng: StdRng,
}

impl FaultDial {
    fn new(faults: Faults) -> Self {
        Self {
            faults,
            rng: StdRng::seed_from_u64(faults.seed),
        }
    }

    /// New settings; the draws go on from where they were unless the seed changed.
    fn change(&mut self, faults: Faults) {
        if faults.seed != self.faults.seed {
            self.rng = StdRng::seed_from_u64(faults.seed);
        }
        self.faults = faults;
    }

    /// Returns whether this request fails, and how long to delay it.
    fn next_request(&mut self) -> (bool, Duration) {
        let faults = self.faults;
        let fail = faults.error_rate > 0.0 && self.rng.random::<f64>() < faults.error_rate;
        let mut delay = faults.latency;
        if !faults.jitter.median.is_zero() {
            let median = faults.jitter.median.as_secs_f64();
            let jitter = LogNormal::new(median.ln(), faults.jitter.sigma)
                .map_or(median, |distribution| distribution.sample(&mut self.rng));
            // Capped so one unlucky draw cannot outlast a request timeout.
            delay += Duration::from_secs_f64(jitter.min(10.0));
        }
        (fail, delay)
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
    async fn fails_at_random_about_the_configured_fraction() {
        let app = AppServer::start("v2", Faults::failing(0.3)).await.unwrap();
        let client = TestClient::new();

        for _ in 0..200 {
            client.get(&app.url()).await;
        }

        assert_eq!(app.request_count(), 200);
        // Binomial(200, 0.3): mean 60, sd 6.5.
        let errors = app.error_count();
        assert!((35..=85).contains(&errors), "{errors} errors");
    }

    #[test]
    fn the_same_seed_gives_the_same_failures_and_delays() {
        let draws = |seed| {
            let mut dial = FaultDial::new(Faults {
                seed,
                ..Faults::baseline(seed)
            });
            (0..2_000).map(|_| dial.next_request()).collect::<Vec<_>>()
        };
        let first = draws(1);
        assert_eq!(first, draws(1));
        assert_ne!(first, draws(2));
        let failures = first.iter().filter(|(fail, _)| *fail).count();
        assert!(
            (5..=40).contains(&failures),
            "{failures} failures in 2000 at 1%"
        );
        let mut delays: Vec<Duration> = first.iter().map(|(_, delay)| *delay).collect();
        delays.sort_unstable();
        let (median, p99) = (delays[1_000], delays[1_980]);
        assert!(
            median > Duration::from_millis(17) && median < Duration::from_millis(23),
            "{median:?}"
        );
        assert!(
            p99 > median * 3,
            "p99 {p99:?} vs median {median:?}: a long tail"
        );
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
