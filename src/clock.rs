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
        let Ok(wait) = deadline.duration_since(SystemTime::now()) else {
            return;
        };
        // tokio's timer rounds a deadline up to its next whole millisecond
        // (and the kernel's wait in milliseconds up again), so a 1 ms hold
        // lasted 1 to 2 ms. It sleeps all but the last millisecond; a
        // thread sleeps the rest, on time to a few microseconds.
        if wait > TIMER_TICK {
            tokio::time::sleep(wait - TIMER_TICK).await;
        }
        if let Ok(rest) = deadline.duration_since(SystemTime::now()) {
            // At most a tick (the wall clock may have been set back meanwhile;
            // the caller then sleeps again). Dropped early (a cancellation),
            // the thread ends its short sleep alone.
            let rest = rest.min(TIMER_TICK);
            let _ = tokio::task::spawn_blocking(move || std::thread::sleep(rest)).await;
        }
    }
}

/// The resolution of tokio's timer.
const TIMER_TICK: Duration = Duration::from_millis(1);

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

#[cfg(test)]
mod tests {
    use super::*;

    /// The last tick is slept on a thread, not on tokio's timer: the wall
    /// clock still never wakes before the deadline, under a tick away or more.
    #[tokio::test]
    async fn the_wall_clock_never_wakes_before_the_deadline() {
        for wait in [Duration::from_micros(300), Duration::from_millis(3)] {
            let deadline = SystemTime::now() + wait;
            SystemClock.sleep_until(deadline).await;
            assert!(
                SystemTime::now() >= deadline,
                "woke before a deadline {wait:?} away"
            );
        }
    }
}
