//! Time as the drain loop sees it, injectable so tests cover the timeout without sleeping.
//! (The lead's engine has its own clock; this one is only for provider-side waits.)

use std::time::{Duration, Instant};

#[async_trait::async_trait]
pub trait Clock: Send + Sync {
    fn now(&self) -> Instant;
    async fn sleep(&self, duration: Duration);
}

/// The real clock: `Instant::now` and `tokio::time::sleep`.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

#[async_trait::async_trait]
impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }

    async fn sleep(&self, duration: Duration) {
        tokio::time::sleep(duration).await;
    }
}
