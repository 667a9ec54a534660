//! Bounded polling instead of blind sleeps.

use std::future::Future;
use std::time::{Duration, Instant};

/// Calls `check` every `interval` until it returns Some, and returns that value with the time
/// it took. Panics naming `what` (and the last observation) when `timeout` passes first.
pub async fn until<T, F, Fut>(
    what: &str,
    timeout: Duration,
    interval: Duration,
    mut check: F,
) -> (T, Duration)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let start = Instant::now();
    loop {
        match check().await {
            Ok(value) => return (value, start.elapsed()),
            Err(last) if start.elapsed() >= timeout => {
                panic!("timed out after {timeout:?} waiting for {what}; last: {last}")
            }
            Err(_) => tokio::time::sleep(interval).await,
        }
    }
}
