//! `query: {sandbox: …}`: what the demo's proxy saw of each version.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use async_trait::async_trait;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Measurement, MetricDomain, MetricSource, QuerySettings, SharedSettings};
use crate::duration::Span;
use crate::judge::Counts;
use crate::judge::evidence::VersionCounts;
use crate::provider::{ProviderContext, ProviderError};
use crate::sandbox::{Sandbox, Side};

// `query: {sandbox: …}` as the spec writes it (no doc comment: it would enter the schema).
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SandboxQuery {
    pub stat: SandboxStat,
    /// How far back to look (default: the analysis interval).
    pub window: Option<Span>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SandboxStat {
    /// Share of the new version's responses that were 5xx (0–1).
    ErrorRate,
    /// 99th percentile latency of the new version, in milliseconds.
    P99LatencyMs,
    /// Failed requests and requests of each version since the last measurement (for `compare`).
    Errors,
    /// Requests of each version slower than the stable version's p99 over the minute
    /// before the window, and requests (for `compare`).
    SlowRequests,
}

impl QuerySettings for SandboxQuery {
    fn kind(&self) -> &'static str {
        "sandbox"
    }

    fn default_domain(&self) -> MetricDomain {
        match self.stat {
            SandboxStat::ErrorRate => MetricDomain::Rate,
            SandboxStat::P99LatencyMs => MetricDomain::NonNegative,
            // Per-version counts: each count is checked where it is read.
            SandboxStat::Errors | SandboxStat::SlowRequests => MetricDomain::NonNegative,
        }
    }

    fn counts_requests(&self) -> bool {
        !matches!(self.stat, SandboxStat::P99LatencyMs)
    }

    fn counts_each_version(&self) -> bool {
        matches!(self.stat, SandboxStat::Errors | SandboxStat::SlowRequests)
    }

    fn build(
        &self,
        _shared: SharedSettings<'_>,
        context: &ProviderContext,
    ) -> Result<Box<dyn MetricSource>, ProviderError> {
        Ok(Box::new(SandboxMetric::new(
            context.sandbox()?,
            self.stat,
            self.window.map_or(context.interval, |window| window.get()),
        )))
    }
}

/// The stable version's latency over this much time before a window sets the
/// bound a slow request exceeds.
const LATENCY_HISTORY: Duration = Duration::from_secs(60);
/// Fewer stable requests than this give no usable bound; the last one is kept. Few
/// samples make a rough p99 (the slowest of 20), which costs power, not validity.
const LATENCY_HISTORY_MIN: usize = 20;
/// New-version requests a counting window holds before it closes: windows end on
/// traffic as well as on time, so a starved machine (a busy CI runner) gives fewer
/// windows, never empty ones that would read as "no data".
const MIN_WINDOW_REQUESTS: u64 = 20;
/// How long to wait for that traffic before judging the window as it is: only a load
/// generator that stopped, or a weight that sends nothing to the side, gets this far.
const TRAFFIC_WAIT_LIMIT: Duration = Duration::from_secs(30);

pub struct SandboxMetric {
    sandbox: Arc<Sandbox>,
    stat: SandboxStat,
    window: Duration,
    /// Where the last counting window ended: comparison windows must not overlap.
    last: Mutex<Option<Instant>>,
    /// The latest bound for `slow_requests`.
    slow_bound: Mutex<Option<Duration>>,
}

impl SandboxMetric {
    pub fn new(sandbox: Arc<Sandbox>, stat: SandboxStat, window: Duration) -> Self {
        Self {
            sandbox,
            stat,
            window,
            last: Mutex::new(None),
            slow_bound: Mutex::new(None),
        }
    }

    /// The next window: from where the last one ended (or `window` ago) until the new
    /// version has had [`MIN_WINDOW_REQUESTS`] requests in it.
    async fn next_window(&self) -> (Instant, Instant) {
        let stats = self.sandbox.stats();
        let now = stats.now();
        let since = self
            .last
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .filter(|last| *last <= now)
            .unwrap_or_else(|| now.checked_sub(self.window).unwrap_or(now));
        let enough = stats.wait_for(Side::New, since, MIN_WINDOW_REQUESTS);
        // Past the limit the window is judged as it is (no requests: no data).
        let _ = tokio::time::timeout(TRAFFIC_WAIT_LIMIT, enough).await;
        let until = stats.now();
        *self.last.lock().unwrap_or_else(PoisonError::into_inner) = Some(until);
        (since, until)
    }

    /// Before the first slow-requests window: waits for the stable history its bound
    /// needs, and starts the window after it, so the bound is fixed before the window's
    /// requests exist however late the load got going.
    async fn await_latency_history(&self) {
        if self
            .slow_bound
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some()
        {
            return;
        }
        let stats = self.sandbox.stats();
        let now = stats.now();
        let history_start = now.checked_sub(LATENCY_HISTORY).unwrap_or(now);
        if stats.latencies(Side::Stable, history_start, now).len() >= LATENCY_HISTORY_MIN {
            return;
        }
        let enough = stats.wait_for(Side::Stable, history_start, LATENCY_HISTORY_MIN as u64);
        let _ = tokio::time::timeout(TRAFFIC_WAIT_LIMIT, enough).await;
        *self.last.lock().unwrap_or_else(PoisonError::into_inner) = Some(stats.now());
    }

    /// The stable version's p99 before `since`: fixed before the window's
    /// requests are seen, so it cannot be tuned by them and the test stays valid.
    fn slow_bound(&self, since: Instant) -> Option<Duration> {
        let stats = self.sandbox.stats();
        let history_start = since.checked_sub(LATENCY_HISTORY).unwrap_or(since);
        let mut latencies = stats.latencies(Side::Stable, history_start, since);
        let mut bound = self
            .slow_bound
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if latencies.len() >= LATENCY_HISTORY_MIN {
            latencies.sort_unstable();
            let rank = (latencies.len() * 99).div_ceil(100).max(1);
            *bound = latencies.get(rank - 1).copied();
        }
        *bound
    }
}

#[async_trait]
impl MetricSource for SandboxMetric {
    fn describe(&self) -> String {
        format!("sandbox {:?} over the last {:?}", self.stat, self.window)
    }

    async fn measure(&self) -> Result<Measurement, ProviderError> {
        let stats = self.sandbox.stats();
        let counts = |side, since, until, slower_than| {
            let (requests, errors, slow) = stats.counts(side, since, until, slower_than);
            let events = if slower_than.is_some() { slow } else { errors };
            Counts { requests, events }
        };
        // No requests in the window is "no data", never a perfect score.
        let measured = match self.stat {
            SandboxStat::ErrorRate => {
                let until = stats.now();
                let since = until.checked_sub(self.window).unwrap_or(until);
                let new = counts(Side::New, since, until, None);
                (new.requests > 0).then_some(VersionCounts {
                    new,
                    stable: Some(counts(Side::Stable, since, until, None)),
                    slower_than_ms: None,
                })
            }
            SandboxStat::P99LatencyMs => {
                let window = stats.window_last(Side::New, self.window);
                return Ok(window.p99.map_or(Measurement::NoData, |p99| {
                    Measurement::Value(p99.as_secs_f64() * 1000.0)
                }));
            }
            SandboxStat::Errors => {
                let (since, until) = self.next_window().await;
                let new = counts(Side::New, since, until, None);
                (new.requests > 0).then_some(VersionCounts {
                    new,
                    stable: Some(counts(Side::Stable, since, until, None)),
                    slower_than_ms: None,
                })
            }
            SandboxStat::SlowRequests => {
                self.await_latency_history().await;
                let (since, until) = self.next_window().await;
                self.slow_bound(since).and_then(|bound| {
                    let new = counts(Side::New, since, until, Some(bound));
                    (new.requests > 0).then_some(VersionCounts {
                        new,
                        stable: Some(counts(Side::Stable, since, until, Some(bound))),
                        slower_than_ms: Some(bound.as_secs_f64() * 1000.0),
                    })
                })
            }
        };
        Ok(measured.map_or(Measurement::NoData, Measurement::Counts))
    }
}
