//! Per-version traffic records for the sandbox, queried the way a metrics
//! backend would be: "error rate and latency of this version since T".

use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::lock;

/// Which side of a rollout a request was routed to: the router's own notion.
pub use crate::traffic::Side;

/// Source of the records' monotonic timestamps (`Instant`s, not the wall
/// time of `crate::clock::Clock`), injectable so tests can move time without
/// sleeping.
pub trait Instants: Send + Sync + 'static {
    fn now(&self) -> Instant;
}

/// The real monotonic clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct RealInstants;

impl Instants for RealInstants {
    fn now(&self) -> Instant {
        Instant::now()
    }
}

/// A clock that only moves when told to, for deterministic tests of windows and retention.
#[derive(Debug, Clone)]
pub struct ManualInstants {
    now: Arc<Mutex<Instant>>,
}

impl ManualInstants {
    /// Starts at the current real instant so `Instant` arithmetic stays in range.
    pub fn new() -> Self {
        Self {
            now: Arc::new(Mutex::new(Instant::now())),
        }
    }

    pub fn advance(&self, by: Duration) {
        *lock(&self.now) += by;
    }
}

impl Default for ManualInstants {
    fn default() -> Self {
        Self::new()
    }
}

impl Instants for ManualInstants {
    fn now(&self) -> Instant {
        *lock(&self.now)
    }
}

/// How much history to keep; whichever limit is hit first evicts the oldest records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    pub max_age: Duration,
    pub max_records: usize,
}

impl Default for Retention {
    /// Ten minutes covers any realistic analysis interval; the record cap keeps
    /// memory bounded (~40 MB) even if someone drives far more than the demo rate.
    fn default() -> Self {
        Self {
            max_age: Duration::from_secs(10 * 60),
            max_records: 1 << 20,
        }
    }
}

/// Aggregates for one side over a time window.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WindowStats {
    pub requests: u64,
    /// Responses with a 5xx status (including the proxy's own 502/504).
    pub errors: u64,
    /// `None` when there were no requests: "no data" must never read as "0% errors".
    pub error_rate: Option<f64>,
    pub p50: Option<Duration>,
    pub p99: Option<Duration>,
}

#[derive(Debug, Clone, Copy)]
struct Record {
    at: Instant,
    side: Side,
    status: u16,
    latency: Duration,
}

/// Thread-safe, bounded store of proxied requests; cheap to clone (shared).
#[derive(Clone)]
pub struct TrafficStats {
    inner: Arc<Inner>,
}

struct Inner {
    clock: Arc<dyn Instants>,
    retention: Retention,
    /// Ordered by `at` because timestamps are taken under this lock from a monotonic clock.
    records: Mutex<VecDeque<Record>>,
    /// Woken on every record, so a reader can wait for traffic instead of for time.
    recorded: tokio::sync::Notify,
}

impl fmt::Debug for TrafficStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TrafficStats")
            .field("retention", &self.inner.retention)
            .field("records", &lock(&self.inner.records).len())
            .finish()
    }
}

impl Default for TrafficStats {
    fn default() -> Self {
        Self::new()
    }
}

impl TrafficStats {
    /// Real clock, default retention.
    pub fn new() -> Self {
        Self::with_clock(RealInstants, Retention::default())
    }

    pub fn with_clock(clock: impl Instants, retention: Retention) -> Self {
        Self {
            inner: Arc::new(Inner {
                clock: Arc::new(clock),
                retention,
                records: Mutex::new(VecDeque::new()),
                recorded: tokio::sync::Notify::new(),
            }),
        }
    }

    /// The store's notion of "now", to build `since` instants on the same clock.
    pub fn now(&self) -> Instant {
        self.inner.clock.now()
    }

    /// Records one finished request, timestamped now, evicting what retention no longer allows.
    pub fn record(&self, side: Side, status: u16, latency: Duration) {
        let mut records = lock(&self.inner.records);
        let at = self.inner.clock.now();
        let retention = self.inner.retention;
        while let Some(oldest) = records.front() {
            let too_old = at.saturating_duration_since(oldest.at) > retention.max_age;
            if too_old || records.len() >= retention.max_records {
                records.pop_front();
            } else {
                break;
            }
        }
        if retention.max_records > 0 {
            records.push_back(Record {
                at,
                side,
                status,
                latency,
            });
        }
        drop(records);
        self.inner.recorded.notify_waiters();
    }

    /// Returns once `side` has at least `count` requests recorded at or after `since`:
    /// a window then holds the same amount of traffic however slowly the machine runs.
    pub async fn wait_for(&self, side: Side, since: Instant, count: u64) {
        loop {
            // Registered before counting, so a record landing in between still wakes us.
            let recorded = self.inner.recorded.notified();
            if self.window(side, since).requests >= count {
                return;
            }
            recorded.await;
        }
    }

    /// Aggregates `side`'s records timestamped at or after `since`.
    pub fn window(&self, side: Side, since: Instant) -> WindowStats {
        let mut latencies = Vec::new();
        let mut errors = 0u64;
        {
            let records = lock(&self.inner.records);
            let first = records.partition_point(|record| record.at < since);
            for record in records.range(first..).filter(|record| record.side == side) {
                latencies.push(record.latency);
                if record.status >= 500 {
                    errors += 1;
                }
            }
        }
        latencies.sort_unstable();
        let requests = latencies.len() as u64;
        WindowStats {
            requests,
            errors,
            error_rate: (requests > 0).then(|| errors as f64 / requests as f64),
            p50: percentile(&latencies, 50),
            p99: percentile(&latencies, 99),
        }
    }

    /// `side`'s requests in `since..until`: how many, how many failed (5xx), and
    /// how many took longer than `slower_than`.
    pub fn counts(
        &self,
        side: Side,
        since: Instant,
        until: Instant,
        slower_than: Option<Duration>,
    ) -> (u64, u64, u64) {
        let (mut requests, mut errors, mut slow) = (0, 0, 0);
        let records = lock(&self.inner.records);
        let first = records.partition_point(|record| record.at < since);
        let last = records.partition_point(|record| record.at < until);
        for record in records.range(first..last.max(first)) {
            if record.side != side {
                continue;
            }
            requests += 1;
            errors += u64::from(record.status >= 500);
            slow += u64::from(slower_than.is_some_and(|bound| record.latency > bound));
        }
        (requests, errors, slow)
    }

    /// `side`'s latencies in `since..until`, unsorted.
    pub fn latencies(&self, side: Side, since: Instant, until: Instant) -> Vec<Duration> {
        let records = lock(&self.inner.records);
        let first = records.partition_point(|record| record.at < since);
        let last = records.partition_point(|record| record.at < until);
        records
            .range(first..last.max(first))
            .filter(|record| record.side == side)
            .map(|record| record.latency)
            .collect()
    }

    /// Like [`TrafficStats::window`] for the last `lookback`; clamps to all history
    /// when `lookback` reaches before the clock's origin.
    pub fn window_last(&self, side: Side, lookback: Duration) -> WindowStats {
        let now = self.now();
        match now.checked_sub(lookback) {
            Some(since) => self.window(side, since),
            None => self.window_all(side),
        }
    }

    fn window_all(&self, side: Side) -> WindowStats {
        let oldest = lock(&self.inner.records).front().map(|record| record.at);
        match oldest {
            Some(since) => self.window(side, since),
            None => self.window(side, self.now()),
        }
    }
}

/// Nearest-rank percentile of already sorted samples.
fn percentile(sorted: &[Duration], percent: usize) -> Option<Duration> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (sorted.len() * percent).div_ceil(100).max(1);
    sorted.get(rank - 1).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats_with_manual_clock(retention: Retention) -> (TrafficStats, ManualInstants) {
        let clock = ManualInstants::new();
        (TrafficStats::with_clock(clock.clone(), retention), clock)
    }

    fn is_ready(wait: &mut std::pin::Pin<&mut impl std::future::Future<Output = ()>>) -> bool {
        let mut context = std::task::Context::from_waker(std::task::Waker::noop());
        wait.as_mut().poll(&mut context).is_ready()
    }

    #[test]
    fn waiting_for_traffic_ends_on_the_records_not_on_time() {
        let (stats, clock) = stats_with_manual_clock(Retention::default());
        stats.record(Side::New, 200, Duration::from_millis(1));
        clock.advance(Duration::from_secs(1));
        let since = stats.now();
        let wait = stats.wait_for(Side::New, since, 2);
        let mut wait = std::pin::pin!(wait);

        // Older records and the other side's do not count; time alone ends nothing.
        assert!(!is_ready(&mut wait));
        stats.record(Side::Stable, 200, Duration::from_millis(1));
        stats.record(Side::New, 500, Duration::from_millis(1));
        clock.advance(Duration::from_secs(60));
        assert!(!is_ready(&mut wait));
        stats.record(Side::New, 200, Duration::from_millis(1));
        assert!(is_ready(&mut wait));
    }

    #[test]
    fn empty_window_has_no_error_rate_rather_than_zero() {
        let (stats, _clock) = stats_with_manual_clock(Retention::default());
        stats.record(Side::Stable, 200, Duration::from_millis(1));

        let new = stats.window(Side::New, stats.now());

        assert_eq!(new.requests, 0);
        assert_eq!(new.error_rate, None);
        assert_eq!(new.p50, None);
        assert_eq!(new.p99, None);
    }

    #[test]
    fn window_excludes_records_older_than_since() {
        let (stats, clock) = stats_with_manual_clock(Retention::default());
        stats.record(Side::New, 500, Duration::from_millis(900));
        stats.record(Side::New, 503, Duration::from_millis(900));
        clock.advance(Duration::from_secs(30));
        let since = stats.now();
        stats.record(Side::New, 200, Duration::from_millis(5));
        clock.advance(Duration::from_secs(1));
        stats.record(Side::New, 500, Duration::from_millis(7));

        let recent = stats.window(Side::New, since);

        assert_eq!(recent.requests, 2);
        assert_eq!(recent.errors, 1);
        assert_eq!(recent.error_rate, Some(0.5));
        assert_eq!(recent.p99, Some(Duration::from_millis(7)));
        let last_second = stats.window_last(Side::New, Duration::from_secs(1));
        assert_eq!(last_second.requests, 2);
        let everything = stats.window_last(Side::New, Duration::from_secs(3600));
        assert_eq!(everything.requests, 4);
    }

    #[test]
    fn window_counts_only_the_asked_side_and_only_5xx_as_errors() {
        let (stats, _clock) = stats_with_manual_clock(Retention::default());
        let since = stats.now();
        stats.record(Side::Stable, 500, Duration::ZERO);
        stats.record(Side::New, 404, Duration::ZERO);
        stats.record(Side::New, 200, Duration::ZERO);

        let new = stats.window(Side::New, since);

        assert_eq!(new.requests, 2);
        assert_eq!(new.errors, 0);
        assert_eq!(new.error_rate, Some(0.0));
    }

    #[test]
    fn percentiles_use_nearest_rank() {
        let (stats, _clock) = stats_with_manual_clock(Retention::default());
        let since = stats.now();
        for millis in (1..=100).rev() {
            stats.record(Side::Stable, 200, Duration::from_millis(millis));
        }

        let window = stats.window(Side::Stable, since);

        assert_eq!(window.p50, Some(Duration::from_millis(50)));
        assert_eq!(window.p99, Some(Duration::from_millis(99)));
    }

    #[test]
    fn retention_evicts_by_age_and_by_count() {
        let (stats, clock) = stats_with_manual_clock(Retention {
            max_age: Duration::from_secs(60),
            max_records: 3,
        });
        let start = stats.now();
        stats.record(Side::Stable, 200, Duration::ZERO);
        clock.advance(Duration::from_secs(61));
        stats.record(Side::Stable, 200, Duration::ZERO);
        assert_eq!(stats.window(Side::Stable, start).requests, 1);

        for _ in 0..10 {
            stats.record(Side::Stable, 200, Duration::ZERO);
        }
        assert_eq!(stats.window(Side::Stable, start).requests, 3);
    }
}
