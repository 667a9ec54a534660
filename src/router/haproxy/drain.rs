//! Waiting for a draining server's sessions to reach zero, bounded by a timeout.

use std::future::Future;
use std::time::Duration;

use crate::clock::Clock;
use crate::provider::ProviderError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DrainOutcome {
    /// The server held no session any more after `waited`.
    Drained { waited: Duration },
    /// The timeout passed with `sessions` still open: the caller decides (halt, or go on).
    TimedOut { sessions: u64, waited: Duration },
}

/// Polls `sessions` every `interval` until it returns 0 or `timeout` has passed. The last poll
/// happens at the deadline, so a server that empties just in time counts as drained.
pub async fn wait_until_empty<F, Fut>(
    mut sessions: F,
    timeout: Duration,
    interval: Duration,
    clock: &dyn Clock,
) -> Result<DrainOutcome, ProviderError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<u64, ProviderError>>,
{
    let start = clock.now();
    loop {
        let open = sessions().await?;
        let now = clock.now();
        let waited = now.duration_since(start).unwrap_or(Duration::ZERO);
        if open == 0 {
            return Ok(DrainOutcome::Drained { waited });
        }
        if waited >= timeout {
            return Ok(DrainOutcome::TimedOut {
                sessions: open,
                waited,
            });
        }
        // Never sleep past the deadline.
        clock
            .sleep_until(now + interval.min(timeout - waited))
            .await;
    }
}

#[cfg(test)]
mod tests {
    use std::time::UNIX_EPOCH;

    use super::*;
    use crate::clock::ManualClock;

    fn clock() -> ManualClock {
        ManualClock::starting_at(UNIX_EPOCH)
    }

    fn scripted(
        values: Vec<u64>,
    ) -> impl FnMut() -> std::future::Ready<Result<u64, ProviderError>> {
        let mut values = values.into_iter();
        move || std::future::ready(Ok(values.next().unwrap_or(0)))
    }

    #[tokio::test]
    async fn drained_once_sessions_reach_zero() {
        let clock = clock();
        let outcome = wait_until_empty(
            scripted(vec![3, 2, 0]),
            Duration::from_secs(10),
            Duration::from_secs(1),
            &clock,
        )
        .await
        .unwrap();
        assert_eq!(
            outcome,
            DrainOutcome::Drained {
                waited: Duration::from_secs(2)
            }
        );
    }

    #[tokio::test]
    async fn times_out_at_the_deadline_without_oversleeping() {
        let clock = clock();
        let outcome = wait_until_empty(
            scripted(vec![5; 100]),
            Duration::from_millis(2500),
            Duration::from_secs(1),
            &clock,
        )
        .await
        .unwrap();
        assert_eq!(
            outcome,
            DrainOutcome::TimedOut {
                sessions: 5,
                waited: Duration::from_millis(2500)
            }
        );
    }

    #[tokio::test]
    async fn zero_timeout_still_checks_once() {
        let clock = clock();
        let outcome = wait_until_empty(
            scripted(vec![0]),
            Duration::ZERO,
            Duration::from_secs(1),
            &clock,
        )
        .await
        .unwrap();
        assert!(matches!(outcome, DrainOutcome::Drained { .. }));
    }

    #[tokio::test]
    async fn provider_errors_stop_the_wait() {
        let clock = clock();
        let err = wait_until_empty(
            || std::future::ready(Err::<u64, _>(ProviderError::new("socket gone"))),
            Duration::from_secs(5),
            Duration::from_secs(1),
            &clock,
        )
        .await
        .unwrap_err();
        assert_eq!(err.message, "socket gone");
    }
}
