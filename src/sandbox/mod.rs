//! A self-contained rollout playground for `greenlight demo`: two app versions,
//! a weighted proxy in front of them and steady load, all on 127.0.0.1.

pub mod app;
mod client;
pub mod load;
pub mod proxy;
mod server;
pub mod stats;
mod task;
#[cfg(test)]
mod test_support;

pub use app::{AppServer, Faults, HEALTH_PATH, InvalidFaults, VERSION_HEADER};
pub use load::{DEFAULT_RATE, LoadCounters, LoadCounts, LoadError, LoadGenerator, MAX_RATE};
pub use proxy::{ProxyError, Upstreams, WeightOutOfRange, WeightedProxy};
pub use stats::{Clock, ManualClock, Retention, Side, SystemClock, TrafficStats, WindowStats};

use std::sync::{Mutex, MutexGuard, PoisonError};

/// Every lock in the sandbox guards counters or plain data that a panicking
/// holder cannot leave in a harmful state, so poisoning is ignored rather than
/// turned into a second panic.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
