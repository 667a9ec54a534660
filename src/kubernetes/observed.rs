//! Waiting, after a write, until the controller that serves a route has
//! observed it. Reading the object back proves the API server stored the
//! change, not that the gateway took it: a controller answers some hundreds of
//! milliseconds later in the object's status, and may refuse it (a Service
//! that does not exist, a listener that does not allow the route). So every
//! router write waits (bounded, on the injected clock) for the status of the
//! new `metadata.generation`; a refusal is a provider error carrying the
//! controller's own words. A route no controller writes status for is said
//! once, and the read-back is all there is.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde_json::Value;

use super::objects::Objects;
use crate::clock::Clock;
use crate::provider::ProviderError;
use crate::traffic::Weight;

/// How long a controller may take to answer a write.
pub const TIMEOUT: Duration = Duration::from_secs(60);
/// How often the status is read while waiting.
pub const POLL: Duration = Duration::from_millis(100);
/// When the first progress line is printed, and how often after that.
const FIRST_PROGRESS: Duration = Duration::from_secs(2);
const PROGRESS_EVERY: Duration = Duration::from_secs(10);

/// What a route's status says about one generation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Observed, and every condition is good.
    Good,
    /// Observed and refused: the controller's message.
    Bad(ProviderError),
    /// Not observed yet: what greenlight waits for, for the progress line.
    Pending(String),
    /// This status cannot tell (no controller writes one, or it carries no
    /// generation): why, said once per run.
    Silent(String),
}

/// A router's reading of its object's status for a generation (`what` names it).
pub type Judge = fn(&Value, i64, &str) -> Verdict;

/// A read-back that is refused only while the new version gets traffic: a
/// refusal of an object that sends it nothing changes nothing for users.
pub fn unless_refused(
    weight: Weight,
    object: &Value,
    what: &str,
    judge: Judge,
) -> Result<Weight, ProviderError> {
    match judge(object, generation(object), what) {
        Verdict::Bad(error) if weight != Weight::ZERO => Err(error),
        _ => Ok(weight),
    }
}

/// Waits for controllers on one injected clock; remembers what it said.
pub struct Observer {
    clock: Arc<dyn Clock>,
    timeout: Duration,
    said_silent: AtomicBool,
}

/// The generation the API server gave the object.
pub fn generation(object: &Value) -> i64 {
    object
        .pointer("/metadata/generation")
        .and_then(Value::as_i64)
        .unwrap_or(0)
}

impl Observer {
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self {
            clock,
            timeout: TIMEOUT,
            said_silent: AtomicBool::new(false),
        }
    }

    /// Returns once `judge` finds the status of `written`'s generation good,
    /// with the time that took, or `None` when the status cannot tell.
    /// Reads the object again every [`POLL`] until [`TIMEOUT`].
    pub async fn wait<J>(
        &self,
        objects: &Objects<'_>,
        name: &str,
        written: &Value,
        judge: J,
    ) -> Result<Option<Duration>, ProviderError>
    where
        J: Fn(&Value, i64) -> Verdict,
    {
        self.wait_with(&objects.what(name), written, judge, || {
            objects.get_existing(name)
        })
        .await
    }

    /// After a write that set `weight`: waits for `judge` (a router's reading
    /// of its status) and settles the outcome like [`settle`].
    pub async fn after_write(
        &self,
        objects: &Objects<'_>,
        name: &str,
        written: &Value,
        weight: Weight,
        judge: Judge,
    ) -> Result<(), ProviderError> {
        let what = objects.what(name);
        let observed = self
            .wait(objects, name, written, |object, generation| {
                judge(object, generation, &what)
            })
            .await;
        settle(observed, weight, &what)
    }

    /// [`Observer::wait`], reading the object with `read`.
    pub async fn wait_with<J, R, F>(
        &self,
        what: &str,
        written: &Value,
        judge: J,
        mut read: R,
    ) -> Result<Option<Duration>, ProviderError>
    where
        J: Fn(&Value, i64) -> Verdict,
        R: FnMut() -> F,
        F: Future<Output = Result<Value, ProviderError>>,
    {
        let wanted = generation(written);
        let start = self.clock.now();
        let deadline = start + self.timeout;
        let mut progress_at = start + FIRST_PROGRESS;
        let mut object = written.clone();
        loop {
            let now = self.clock.now();
            let elapsed = now.duration_since(start).unwrap_or_default();
            match judge(&object, wanted) {
                Verdict::Good => {
                    tracing::info!(
                        "the controller observed generation {wanted} of {what} {} ms after the write",
                        elapsed.as_millis()
                    );
                    return Ok(Some(elapsed));
                }
                Verdict::Bad(error) => return Err(error),
                Verdict::Silent(why) => {
                    if !self.said_silent.swap(true, Ordering::Relaxed) {
                        tracing::warn!("{why}; greenlight relies on reading {what} back");
                    }
                    return Ok(None);
                }
                Verdict::Pending(waiting) => {
                    if now >= deadline {
                        return Err(timed_out(what, wanted, &waiting, self.timeout));
                    }
                    if now >= progress_at {
                        tracing::warn!("{waiting} ({}s so far)", elapsed.as_secs());
                        progress_at = now + PROGRESS_EVERY;
                    }
                }
            }
            self.clock.sleep_until(now + POLL).await;
            object = read().await?;
        }
    }
}

/// What a router makes of the wait after setting `weight`: a refusal fails
/// the change, except when it sends nothing to the new version. Putting all
/// traffic back on the stable version must not be stopped by a controller
/// that refuses the new backend (the usual reason for rolling back).
pub fn settle(
    observed: Result<Option<Duration>, ProviderError>,
    weight: Weight,
    what: &str,
) -> Result<(), ProviderError> {
    match observed {
        Ok(_) => Ok(()),
        Err(error) if weight == Weight::ZERO => {
            tracing::warn!(
                "{error}; {what} sends nothing to the new version, so greenlight goes on"
            );
            Ok(())
        }
        Err(error) => Err(error),
    }
}

fn timed_out(what: &str, generation: i64, waiting: &str, timeout: Duration) -> ProviderError {
    ProviderError::new(format!(
        "no controller observed generation {generation} of {what} within {}: {waiting}",
        crate::duration::display(timeout)
    ))
    .with_hint("check that the controller serving this route runs (`kubectl describe` the route shows its status); the change is not known to be live")
}

/// The entries a controller writes under `status.<field>` of `object`, one
/// per controller (or parent), or the verdict when no `writer` writes any.
pub fn status_entries<'a>(
    object: &'a Value,
    field: &str,
    writer: &str,
    what: &str,
) -> Result<&'a [Value], Verdict> {
    match object
        .get("status")
        .and_then(|status| status.get(field))
        .and_then(Value::as_array)
    {
        Some(entries) if !entries.is_empty() => Ok(entries),
        _ => Err(Verdict::Silent(format!(
            "no {writer} writes `status.{field}` of {what}"
        ))),
    }
}

/// The conditions of a status entry (`status.parents[]`, `status.ingress[]`, `status`).
pub fn conditions(entry: &Value) -> &[Value] {
    entry
        .get("conditions")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
}

/// The condition of type `kind` among `conditions`.
pub fn condition<'a>(conditions: &'a [Value], kind: &str) -> Option<&'a Value> {
    conditions
        .iter()
        .find(|condition| condition.get("type").and_then(Value::as_str) == Some(kind))
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::time::SystemTime;

    use serde_json::json;

    use super::*;
    use crate::clock::ManualClock;

    fn observer() -> (Arc<ManualClock>, Observer) {
        let clock = Arc::new(ManualClock::starting_at(SystemTime::UNIX_EPOCH));
        (clock.clone(), Observer::new(clock))
    }

    /// Pending until the status says `observed`, then good or bad by `ok`.
    fn judge(object: &Value, generation: i64) -> Verdict {
        match object.pointer("/status/observed").and_then(Value::as_i64) {
            None => Verdict::Silent("no status".into()),
            Some(seen) if seen < generation => Verdict::Pending("waiting".into()),
            Some(_) if object["status"]["ok"] == true => Verdict::Good,
            Some(_) => Verdict::Bad(ProviderError::new("refused")),
        }
    }

    fn run<T>(future: impl Future<Output = T>) -> T {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime")
            .block_on(future)
    }

    #[test]
    fn waits_on_the_clock_until_the_new_generation_is_observed() {
        let (_, observer) = observer();
        let written = json!({"metadata": {"generation": 3}, "status": {"observed": 2, "ok": true}});
        let reads = Mutex::new(vec![
            json!({"metadata": {"generation": 3}, "status": {"observed": 3, "ok": true}}),
            json!({"metadata": {"generation": 3}, "status": {"observed": 2, "ok": true}}),
        ]);
        let took = run(observer.wait_with("route", &written, judge, || {
            let next = reads.lock().unwrap().pop().unwrap();
            async move { Ok(next) }
        }));
        assert_eq!(took, Ok(Some(POLL * 2)));
    }

    #[test]
    fn a_refusal_is_the_controllers_error_and_silence_is_not_waited_for() {
        let (clock, observer) = observer();
        let never = || async { Err(ProviderError::new("not read")) };
        let refused =
            json!({"metadata": {"generation": 1}, "status": {"observed": 1, "ok": false}});
        assert_eq!(
            run(observer.wait_with("route", &refused, judge, never)),
            Err(ProviderError::new("refused"))
        );
        let silent = json!({"metadata": {"generation": 1}});
        assert_eq!(
            run(observer.wait_with("route", &silent, judge, never)),
            Ok(None)
        );
        assert_eq!(clock.now(), SystemTime::UNIX_EPOCH, "nothing waited");
    }

    #[test]
    fn a_controller_that_never_answers_fails_after_the_timeout() {
        let (clock, observer) = observer();
        let stale = json!({"metadata": {"generation": 2}, "status": {"observed": 1, "ok": true}});
        let error = run(observer.wait_with("HTTPRoute shop/web", &stale, judge, || {
            let stale = stale.clone();
            async move { Ok(stale) }
        }))
        .unwrap_err();
        assert!(
            error
                .message
                .starts_with("no controller observed generation 2 of HTTPRoute shop/web within 1m"),
            "{}",
            error.message
        );
        assert_eq!(clock.now(), SystemTime::UNIX_EPOCH + TIMEOUT);
    }
}
