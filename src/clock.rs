//! Time as the engine sees it: injected, so every timed behaviour is testable
//! on a virtual clock without sleeping.

use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;

#[async_trait]
pub trait Clock: Send + Sync {
    fn now(&self) -> SystemTime;
    /// Returns once `deadline` has passed (at once if it already has).
    async fn sleep_until(&self, deadline: SystemTime);
}

/// The wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

#[async_trait]
impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }

    async fn sleep_until(&self, deadline: SystemTime) {
        if let Ok(wait) = deadline.duration_since(SystemTime::now()) {
            tokio::time::sleep(wait).await;
        }
    }
}

/// A virtual clock: sleeping moves time forward instantly.
#[derive(Debug)]
pub struct ManualClock {
    now: Mutex<SystemTime>,
}

impl ManualClock {
    pub fn starting_at(start: SystemTime) -> Self {
        Self {
            now: Mutex::new(start),
        }
    }

    pub fn advance(&self, by: Duration) {
        let mut now = self
            .now
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        *now += by;
    }
}

#[async_trait]
impl Clock for ManualClock {
    fn now(&self) -> SystemTime {
        *self
            .now
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    async fn sleep_until(&self, deadline: SystemTime) {
        let mut now = self
            .now
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if deadline > *now {
            *now = deadline;
        }
    }
}

/// RFC 3339 with milliseconds, in UTC, as every report prints time.
pub fn rfc3339_millis(at: SystemTime) -> String {
    humantime::format_rfc3339_millis(at).to_string()
}
