//! Steady background traffic for the sandbox, so the rollout has requests to judge.

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, Uri};
use tokio::sync::{Semaphore, oneshot};
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;

use super::client::{LoopbackClient, loopback_client};
use super::task::{AbortOnDrop, OwnedTasks};

/// Requests per second when the caller has no opinion.
pub const DEFAULT_RATE: u32 = 200;

/// Beyond this the pacing interval drops below 100µs, which the timer cannot honour.
pub const MAX_RATE: u32 = 10_000;

/// Caps concurrency when the target slows down (e.g. a latency fault): the
/// generator then waits instead of piling up requests, so the rate only drops.
const MAX_IN_FLIGHT: usize = 1024;

/// A request with no answer by then counts as failed instead of hanging forever.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("load target {url:?} is not a usable http:// URL: {reason}")]
    InvalidUrl { url: String, reason: String },
    #[error(
        "load target {url:?} is not on loopback; the sandbox only sends load to 127.0.0.0/8, ::1 or localhost"
    )]
    NotLoopback { url: String },
    #[error("load rate must be from 1 to {MAX_RATE} requests per second, got {0}")]
    Rate(u32),
}

/// What the generator has done so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LoadCounts {
    /// Requests started.
    pub sent: u64,
    /// Answered with a status below 500.
    pub succeeded: u64,
    /// Answered with a 5xx, not answered (connection error) or timed out.
    /// Requests still in flight when the generator stops count in neither.
    pub failed: u64,
}

/// Live view of a generator's counts that stays readable after it stops.
#[derive(Debug, Clone, Default)]
pub struct LoadCounters {
    inner: Arc<Counters>,
}

#[derive(Debug, Default)]
struct Counters {
    sent: AtomicU64,
    succeeded: AtomicU64,
    failed: AtomicU64,
}

impl LoadCounters {
    pub fn snapshot(&self) -> LoadCounts {
        LoadCounts {
            sent: self.inner.sent.load(Ordering::Relaxed),
            succeeded: self.inner.succeeded.load(Ordering::Relaxed),
            failed: self.inner.failed.load(Ordering::Relaxed),
        }
    }
}

/// Sends GET requests to one loopback URL at a fixed pace over keep-alive
/// connections. It never exceeds the rate: missed ticks are skipped, not made up.
/// Dropping it stops everything at once; [`LoadGenerator::stop`] also waits.
pub struct LoadGenerator {
    target: Uri,
    rate: u32,
    counters: LoadCounters,
    stop: Option<oneshot::Sender<()>>,
    driver: JoinHandle<()>,
    client_tasks: AbortOnDrop,
}

impl LoadGenerator {
    /// Starts sending `rate` requests per second to `url`, which must be http:// on loopback.
    pub async fn start(url: &str, rate: u32) -> Result<LoadGenerator, LoadError> {
        let target = loopback_target(url)?;
        if !(1..=MAX_RATE).contains(&rate) {
            return Err(LoadError::Rate(rate));
        }
        let client_tasks = OwnedTasks::default();
        let client = loopback_client(&client_tasks);
        let counters = LoadCounters::default();
        let (stop, stopped) = oneshot::channel();
        let driver = tokio::spawn(drive(
            client,
            target.clone(),
            Duration::from_secs(1) / rate,
            counters.clone(),
            stopped,
        ));
        Ok(LoadGenerator {
            target,
            rate,
            counters,
            stop: Some(stop),
            driver,
            client_tasks: client_tasks.abort_on_drop(),
        })
    }

    pub fn target(&self) -> &Uri {
        &self.target
    }

    /// Requests per second.
    pub fn rate(&self) -> u32 {
        self.rate
    }

    pub fn counts(&self) -> LoadCounts {
        self.counters.snapshot()
    }

    pub fn counters(&self) -> LoadCounters {
        self.counters.clone()
    }

    /// Stops sending, abandons requests in flight, waits until nothing is left
    /// running and returns the final counts.
    pub async fn stop(mut self) -> LoadCounts {
        if let Some(stop) = self.stop.take() {
            // A send error means the driver already ended, which is what we want.
            let _ = stop.send(());
        }
        if let Err(error) = (&mut self.driver).await {
            tracing::debug!(%error, "sandbox load driver ended abnormally");
        }
        self.client_tasks.shutdown().await;
        self.counters.snapshot()
    }
}

impl Drop for LoadGenerator {
    fn drop(&mut self) {
        self.driver.abort();
    }
}

impl fmt::Debug for LoadGenerator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoadGenerator")
            .field("target", &self.target)
            .field("rate", &self.rate)
            .field("counts", &self.counts())
            .finish()
    }
}

async fn drive(
    client: LoopbackClient,
    target: Uri,
    period: Duration,
    counters: LoadCounters,
    mut stopped: oneshot::Receiver<()>,
) {
    let requests = OwnedTasks::default();
    let in_flight = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    let mut ticks = tokio::time::interval(period);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            biased;
            _ = &mut stopped => break,
            _ = ticks.tick() => {}
        }
        let permit = tokio::select! {
            biased;
            _ = &mut stopped => break,
            permit = Arc::clone(&in_flight).acquire_owned() => match permit {
                Ok(permit) => permit,
                // Never closed while this loop runs; stopping is the only sane reaction.
                Err(_closed) => break,
            },
        };
        counters.inner.sent.fetch_add(1, Ordering::Relaxed);
        let (client, target, counters) = (client.clone(), target.clone(), counters.clone());
        requests.spawn(async move {
            let succeeded = send_one(&client, target).await;
            let counter = if succeeded {
                &counters.inner.succeeded
            } else {
                &counters.inner.failed
            };
            counter.fetch_add(1, Ordering::Relaxed);
            // Frees the in-flight slot only once the request is fully done.
            drop(permit);
        });
    }
    requests.shutdown().await;
}

/// Returns whether the target answered below 500 within the timeout.
async fn send_one(client: &LoopbackClient, target: Uri) -> bool {
    let mut request = Request::new(Full::<Bytes>::default());
    *request.uri_mut() = target;
    let exchange = async {
        let response = client.request(request).await?;
        let status = response.status();
        // Reading the body to the end lets the connection be reused.
        response.into_body().collect().await?;
        Ok::<_, Box<dyn std::error::Error + Send + Sync>>(status)
    };
    match tokio::time::timeout(REQUEST_TIMEOUT, exchange).await {
        Ok(Ok(status)) => !status.is_server_error(),
        Ok(Err(error)) => {
            tracing::debug!(%error, "sandbox load request failed");
            false
        }
        Err(_elapsed) => false,
    }
}

/// Parses `url` and checks it can only reach this machine.
fn loopback_target(url: &str) -> Result<Uri, LoadError> {
    let invalid = |reason: &str| LoadError::InvalidUrl {
        url: url.to_owned(),
        reason: reason.to_owned(),
    };
    let uri: Uri = url
        .parse()
        .map_err(|error: hyper::http::uri::InvalidUri| invalid(&error.to_string()))?;
    if uri.scheme_str() != Some("http") {
        return Err(invalid("only http:// is supported"));
    }
    let host = uri.host().ok_or_else(|| invalid("it has no host"))?;
    let unbracketed = host.trim_start_matches('[').trim_end_matches(']');
    let is_loopback = unbracketed.eq_ignore_ascii_case("localhost")
        || unbracketed
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if !is_loopback {
        return Err(LoadError::NotLoopback {
            url: url.to_owned(),
        });
    }
    Ok(uri)
}

#[cfg(test)]
mod tests {
    use tokio::time::Instant;

    use super::*;
    use crate::sandbox::app::{AppServer, Faults};

    // These run on tokio's paused clock: pacing is checked against virtual time,
    // so the tests are exact and take no wall-clock time to "wait".

    #[tokio::test(start_paused = true)]
    async fn never_exceeds_the_rate_and_counts_what_it_sent() {
        let app = AppServer::start("v1", Faults::NONE).await.unwrap();
        let rate = 50;
        let started = Instant::now();
        let load = LoadGenerator::start(&app.url(), rate).await.unwrap();

        tokio::time::sleep(Duration::from_secs(2)).await;
        let counts = load.stop().await;

        let allowed = (f64::from(rate) * started.elapsed().as_secs_f64()).floor() as u64 + 1;
        assert!(counts.sent <= allowed, "sent {} > {allowed}", counts.sent);
        assert!(counts.sent >= u64::from(rate), "sent only {}", counts.sent);
        assert!(counts.succeeded + counts.failed <= counts.sent);
        assert_eq!(counts.failed, 0);
        assert!(app.request_count() <= counts.sent);
    }

    #[tokio::test(start_paused = true)]
    async fn stops_sending_when_dropped() {
        let app = AppServer::start("v1", Faults::NONE).await.unwrap();
        let load = LoadGenerator::start(&app.url(), 100).await.unwrap();
        tokio::time::sleep(Duration::from_millis(500)).await;
        let counters = load.counters();

        drop(load);
        let sent_at_drop = counters.snapshot().sent;
        tokio::time::sleep(Duration::from_secs(5)).await;

        assert!(sent_at_drop > 0);
        assert_eq!(counters.snapshot().sent, sent_at_drop);
    }

    #[tokio::test(start_paused = true)]
    async fn counts_server_errors_and_unreachable_targets_as_failed() {
        let failing = AppServer::start("v2", Faults::failing(1.0)).await.unwrap();
        let gone = AppServer::start("gone", Faults::NONE).await.unwrap();
        let gone_url = gone.url();
        gone.shutdown().await;

        for url in [failing.url(), gone_url] {
            let load = LoadGenerator::start(&url, 20).await.unwrap();
            tokio::time::sleep(Duration::from_secs(1)).await;
            let counts = load.stop().await;
            assert_eq!(counts.succeeded, 0, "{url}");
            assert!(counts.failed > 0, "{url}");
        }
    }

    #[tokio::test]
    async fn refuses_bad_rates() {
        for rate in [0, MAX_RATE + 1] {
            let started = LoadGenerator::start("http://127.0.0.1:9/", rate).await;
            assert!(matches!(started, Err(LoadError::Rate(r)) if r == rate));
        }
    }

    #[test]
    fn accepts_only_http_loopback_targets() {
        for url in [
            "http://127.0.0.1:8080/",
            "http://127.9.9.9/x?y=1",
            "http://[::1]:80",
            "http://LOCALHOST:1",
        ] {
            assert!(loopback_target(url).is_ok(), "{url}");
        }
        for url in [
            "http://192.0.2.1/",
            "http://example.com/",
            "http://[2001:db8::1]/",
        ] {
            assert!(
                matches!(loopback_target(url), Err(LoadError::NotLoopback { .. })),
                "{url}"
            );
        }
        for url in ["https://127.0.0.1/", "127.0.0.1:80", "not a url", "/path"] {
            assert!(
                matches!(loopback_target(url), Err(LoadError::InvalidUrl { .. })),
                "{url}"
            );
        }
    }
}
