//! A loopback reverse proxy that splits traffic between a stable and a new
//! upstream by a live-adjustable percentage, recording every request in the stats.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{self, HeaderMap, HeaderName};
use hyper::{Request, Response, StatusCode};

use super::client::{LoopbackClient, loopback_client};
use super::lock;
use super::server::LoopbackServer;
use super::stats::{Side, TrafficStats};
use super::task::{AbortOnDrop, OwnedTasks};

/// Upper bound on one proxied exchange, so a hung upstream shows up as a 504
/// in the stats instead of a request that never finishes.
const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(30);

/// Connection-scoped headers that must not be forwarded (RFC 9110 §7.6.1).
const HOP_BY_HOP_HEADERS: [HeaderName; 6] = [
    header::CONNECTION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
    header::PROXY_AUTHORIZATION,
];

/// Where the two versions listen. Loopback only: the sandbox never sends traffic elsewhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Upstreams {
    pub stable: SocketAddr,
    pub new: SocketAddr,
}

impl Upstreams {
    pub fn addr(&self, side: Side) -> SocketAddr {
        match side {
            Side::Stable => self.stable,
            Side::New => self.new,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    #[error(
        "the {side} upstream {addr} is not a loopback address; the sandbox proxy only reaches 127.0.0.0/8 and ::1"
    )]
    NotLoopback { side: Side, addr: SocketAddr },
    #[error("starting the sandbox proxy on 127.0.0.1")]
    Bind(#[source] io::Error),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("traffic weight must be a percentage from 0 to 100, got {0}")]
pub struct WeightOutOfRange(pub u8);

/// The sandbox's traffic router. Starts with weight 0 (everything to stable).
pub struct WeightedProxy {
    state: Arc<ProxyState>,
    server: LoopbackServer,
    client_tasks: AbortOnDrop,
}

struct ProxyState {
    upstreams: Upstreams,
    splitter: Mutex<Splitter>,
    client: LoopbackClient,
    stats: TrafficStats,
}

/// Error diffusion over percent: each request adds the weight to `owed`, and
/// goes to the new version whenever a whole request (100) is owed. Any 100
/// consecutive requests at a fixed weight contain exactly `weight` new ones,
/// evenly spread, so short analysis windows see the intended share.
struct Splitter {
    weight: u8,
    owed: u16,
}

impl Splitter {
    fn next_side(&mut self) -> Side {
        self.owed += u16::from(self.weight);
        if self.owed >= 100 {
            self.owed -= 100;
            Side::New
        } else {
            Side::Stable
        }
    }
}

impl WeightedProxy {
    /// Binds 127.0.0.1:0 in front of `upstreams`, recording into `stats`.
    pub async fn start(
        upstreams: Upstreams,
        stats: TrafficStats,
    ) -> Result<WeightedProxy, ProxyError> {
        for side in [Side::Stable, Side::New] {
            let addr = upstreams.addr(side);
            if !addr.ip().is_loopback() {
                return Err(ProxyError::NotLoopback { side, addr });
            }
        }
        let client_tasks = OwnedTasks::default();
        let state = Arc::new(ProxyState {
            upstreams,
            splitter: Mutex::new(Splitter { weight: 0, owed: 0 }),
            client: loopback_client(&client_tasks),
            stats,
        });
        let handler_state = Arc::clone(&state);
        let server =
            LoopbackServer::start(move |request| forward(Arc::clone(&handler_state), request))
                .await
                .map_err(ProxyError::Bind)?;
        Ok(WeightedProxy {
            state,
            server,
            client_tasks: client_tasks.abort_on_drop(),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    /// Base URL without a trailing slash, e.g. `http://127.0.0.1:41234`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr())
    }

    pub fn upstreams(&self) -> Upstreams {
        self.state.upstreams
    }

    pub fn stats(&self) -> &TrafficStats {
        &self.state.stats
    }

    /// Percent of requests currently sent to the new version.
    pub fn weight(&self) -> u8 {
        lock(&self.state.splitter).weight
    }

    /// Sets the percent of requests sent to the new version, effective from the next request.
    pub fn set_weight(&self, percent: u8) -> Result<(), WeightOutOfRange> {
        if percent > 100 {
            return Err(WeightOutOfRange(percent));
        }
        lock(&self.state.splitter).weight = percent;
        Ok(())
    }

    /// Stops serving and waits until the proxy's connections, upstream ones included, are gone.
    pub async fn shutdown(self) {
        self.server.shutdown().await;
        self.client_tasks.shutdown().await;
    }
}

impl fmt::Debug for WeightedProxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WeightedProxy")
            .field("addr", &self.addr())
            .field("upstreams", &self.state.upstreams)
            .field("weight", &self.weight())
            .finish()
    }
}

async fn forward(state: Arc<ProxyState>, request: Request<Incoming>) -> Response<Full<Bytes>> {
    let started = Instant::now();
    let side = lock(&state.splitter).next_side();
    let upstream = state.upstreams.addr(side);
    let exchange = exchange(&state.client, upstream, request);
    let response = match tokio::time::timeout(UPSTREAM_TIMEOUT, exchange).await {
        Ok(Ok(response)) => response,
        Ok(Err(error)) => {
            tracing::debug!(%side, %upstream, %error, "sandbox proxy could not reach upstream");
            gateway_error(StatusCode::BAD_GATEWAY, side, &error.to_string())
        }
        Err(_elapsed) => gateway_error(
            StatusCode::GATEWAY_TIMEOUT,
            side,
            &format!("no answer within {UPSTREAM_TIMEOUT:?}"),
        ),
    };
    state
        .stats
        .record(side, response.status().as_u16(), started.elapsed());
    response
}

#[derive(Debug, thiserror::Error)]
enum ExchangeError {
    #[error("reading the client's request body: {0}")]
    RequestBody(#[source] hyper::Error),
    #[error("building the upstream URI: {0}")]
    Uri(#[source] hyper::http::uri::InvalidUri),
    #[error("sending to upstream: {0}")]
    Send(#[source] hyper_util::client::legacy::Error),
    #[error("reading the upstream response body: {0}")]
    ResponseBody(#[source] hyper::Error),
}

/// Forwards one request with buffered bodies: sandbox payloads are tiny, and
/// buffering makes the recorded latency cover the complete response.
async fn exchange(
    client: &LoopbackClient,
    upstream: SocketAddr,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, ExchangeError> {
    let (mut parts, body) = request.into_parts();
    let body = body
        .collect()
        .await
        .map_err(ExchangeError::RequestBody)?
        .to_bytes();
    let path = parts
        .uri
        .path_and_query()
        .map_or("/", |path_and_query| path_and_query.as_str());
    parts.uri = format!("http://{upstream}{path}")
        .parse()
        .map_err(ExchangeError::Uri)?;
    remove_hop_by_hop(&mut parts.headers);
    let response = client
        .request(Request::from_parts(parts, Full::new(body)))
        .await
        .map_err(ExchangeError::Send)?;
    let (mut parts, body) = response.into_parts();
    let body = body
        .collect()
        .await
        .map_err(ExchangeError::ResponseBody)?
        .to_bytes();
    remove_hop_by_hop(&mut parts.headers);
    Ok(Response::from_parts(parts, Full::new(body)))
}

fn remove_hop_by_hop(headers: &mut HeaderMap) {
    for name in &HOP_BY_HOP_HEADERS {
        headers.remove(name);
    }
    headers.remove("keep-alive");
}

fn gateway_error(status: StatusCode, side: Side, detail: &str) -> Response<Full<Bytes>> {
    let body = format!("greenlight sandbox proxy: {side} upstream failed: {detail}\n");
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sandbox::app::{AppServer, Faults};
    use crate::sandbox::test_support::TestClient;

    struct Rig {
        stable: AppServer,
        new: AppServer,
        proxy: WeightedProxy,
        client: TestClient,
    }

    async fn rig(new_faults: Faults) -> Rig {
        let stable = AppServer::start("v1", Faults::NONE).await.unwrap();
        let new = AppServer::start("v2", new_faults).await.unwrap();
        let upstreams = Upstreams {
            stable: stable.addr(),
            new: new.addr(),
        };
        let proxy = WeightedProxy::start(upstreams, TrafficStats::new())
            .await
            .unwrap();
        Rig {
            stable,
            new,
            proxy,
            client: TestClient::new(),
        }
    }

    #[tokio::test]
    async fn splits_1000_requests_within_3_points_of_the_weight() {
        for weight in [0u8, 10, 25, 50, 100] {
            let rig = rig(Faults::NONE).await;
            let since = rig.proxy.stats().now();
            rig.proxy.set_weight(weight).unwrap();

            let mut answered_by_new = 0u64;
            for _ in 0..1000 {
                let reply = rig.client.get(&rig.proxy.url()).await;
                assert_eq!(reply.status, StatusCode::OK);
                if reply.version.as_deref() == Some("v2") {
                    answered_by_new += 1;
                }
            }

            let expected_new = u64::from(weight) * 10;
            assert!(
                rig.new.request_count().abs_diff(expected_new) <= 30,
                "weight {weight}: new app served {}",
                rig.new.request_count()
            );
            assert_eq!(rig.stable.request_count() + rig.new.request_count(), 1000);
            assert_eq!(answered_by_new, rig.new.request_count());
            let stats = rig.proxy.stats();
            assert_eq!(
                stats.window(Side::New, since).requests,
                rig.new.request_count()
            );
            assert_eq!(
                stats.window(Side::Stable, since).requests,
                rig.stable.request_count()
            );
        }
    }

    #[tokio::test]
    async fn any_100_consecutive_requests_are_within_1_of_the_weight() {
        let rig = rig(Faults::NONE).await;
        rig.proxy.set_weight(37).unwrap();

        let mut went_to_new = Vec::new();
        for _ in 0..300 {
            let reply = rig.client.get(&rig.proxy.url()).await;
            went_to_new.push(reply.version.as_deref() == Some("v2"));
        }

        for window in went_to_new.windows(100) {
            let new = window.iter().filter(|&&is_new| is_new).count();
            assert!((36..=38).contains(&new), "{new} of 100 went to new");
        }
    }

    #[tokio::test]
    async fn weight_reads_back_and_above_100_is_rejected() {
        let rig = rig(Faults::NONE).await;
        assert_eq!(rig.proxy.weight(), 0);

        rig.proxy.set_weight(42).unwrap();
        assert_eq!(rig.proxy.weight(), 42);
        rig.proxy.set_weight(100).unwrap();
        assert_eq!(rig.proxy.weight(), 100);

        assert_eq!(rig.proxy.set_weight(101), Err(WeightOutOfRange(101)));
        assert_eq!(rig.proxy.set_weight(255), Err(WeightOutOfRange(255)));
        assert_eq!(rig.proxy.weight(), 100);
    }

    #[tokio::test]
    async fn stats_see_exactly_the_errors_the_new_version_answered() {
        let rig = rig(Faults::failing(0.3)).await;
        let since = rig.proxy.stats().now();
        rig.proxy.set_weight(100).unwrap();

        for _ in 0..100 {
            rig.client.get(&rig.proxy.url()).await;
        }

        let new = rig.proxy.stats().window(Side::New, since);
        assert_eq!(new.requests, 100);
        assert_eq!(new.errors, rig.new.error_count());
        assert!(new.errors > 0);
        assert_eq!(new.error_rate, Some(new.errors as f64 / 100.0));
        assert_eq!(
            rig.proxy.stats().window(Side::Stable, since).error_rate,
            None
        );
    }

    #[tokio::test]
    async fn latency_fault_is_visible_in_p99() {
        let latency = Duration::from_millis(50);
        let rig = rig(Faults::slow(latency)).await;
        let since = rig.proxy.stats().now();
        rig.proxy.set_weight(50).unwrap();

        for _ in 0..20 {
            rig.client.get(&rig.proxy.url()).await;
        }

        let stats = rig.proxy.stats();
        let new_p99 = stats.window(Side::New, since).p99.unwrap();
        assert!(new_p99 >= latency, "new p99 {new_p99:?}");
        let new_p50 = stats.window(Side::New, since).p50.unwrap();
        assert!(new_p50 >= latency, "new p50 {new_p50:?}");
    }

    #[tokio::test]
    async fn unreachable_upstream_counts_as_502_for_its_side() {
        let stable = AppServer::start("v1", Faults::NONE).await.unwrap();
        let closed = AppServer::start("gone", Faults::NONE).await.unwrap();
        let closed_addr = closed.addr();
        closed.shutdown().await;
        let upstreams = Upstreams {
            stable: stable.addr(),
            new: closed_addr,
        };
        let proxy = WeightedProxy::start(upstreams, TrafficStats::new())
            .await
            .unwrap();
        let since = proxy.stats().now();
        proxy.set_weight(50).unwrap();
        let client = TestClient::new();

        let mut statuses = Vec::new();
        for _ in 0..4 {
            statuses.push(client.get(&proxy.url()).await.status);
        }

        assert_eq!(
            statuses
                .iter()
                .filter(|status| **status == StatusCode::BAD_GATEWAY)
                .count(),
            2
        );
        let new = proxy.stats().window(Side::New, since);
        assert_eq!((new.requests, new.errors), (2, 2));
        let stable_window = proxy.stats().window(Side::Stable, since);
        assert_eq!((stable_window.requests, stable_window.errors), (2, 0));
    }

    #[tokio::test]
    async fn refuses_non_loopback_upstreams() {
        let upstreams = Upstreams {
            stable: "127.0.0.1:8080".parse().unwrap(),
            new: "192.0.2.10:8080".parse().unwrap(),
        };

        let started = WeightedProxy::start(upstreams, TrafficStats::new()).await;

        assert!(matches!(
            started,
            Err(ProxyError::NotLoopback {
                side: Side::New,
                ..
            })
        ));
    }

    #[tokio::test]
    async fn shutdown_closes_the_port() {
        let rig = rig(Faults::NONE).await;
        rig.client.get(&rig.proxy.url()).await;
        let addr = rig.proxy.addr();

        rig.proxy.shutdown().await;

        assert!(tokio::net::TcpStream::connect(addr).await.is_err());
    }
}
