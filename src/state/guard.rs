//! Holding the lock for as long as a command runs: taken before anything
//! changes, renewed in the background, released on the way out.

use std::sync::{Arc, Mutex};

use super::StateStore;
use super::lock::{Acquired, Held, Holder, LOCK_DURATION, Lock, Request, Takeover};
use crate::clock::Clock;
use crate::provider::ProviderError;

/// Why the lock could not be had.
#[derive(Debug)]
pub enum Refused {
    /// Another job holds it and it has not expired.
    Busy(Lock),
    Failed(ProviderError),
}

/// The lock, held; call [`LockGuard::release`] on every way out (a process
/// that dies without it leaves a lock that expires, or that the next run on
/// this host sees is gone).
pub struct LockGuard {
    store: Arc<dyn StateStore>,
    held: Arc<Mutex<Held>>,
    renewal: tokio::task::JoinHandle<()>,
}

impl LockGuard {
    /// Takes the lock for `holder`; with `force`, even from a live holder.
    pub async fn acquire(
        store: Arc<dyn StateStore>,
        clock: Arc<dyn Clock>,
        holder: Holder,
        force: bool,
    ) -> Result<Self, Refused> {
        let request = Request {
            holder: holder.clone(),
            now: clock.now(),
            duration: LOCK_DURATION,
            force,
        };
        let (held, over) = match store.acquire(&request).await.map_err(Refused::Failed)? {
            Acquired::Taken { lock, over } => (lock, over),
            Acquired::Busy(lock) => return Err(Refused::Busy(lock)),
        };
        if let Some(previous) = over {
            let why = match previous.takeover(&holder, request.now, force) {
                Some(Takeover::Expired) | None => "it had expired",
                Some(Takeover::HolderGone) => "its process no longer runs",
                Some(Takeover::Rerun) => "this is a later attempt of the same CI job",
                Some(Takeover::Forced) => "--force",
            };
            eprintln!(
                "greenlight: took over the lock from {} ({why})",
                previous.holder.name
            );
        }
        let held = Arc::new(Mutex::new(held));
        let renewal = tokio::spawn(renew_until_stopped(
            store.clone(),
            clock.clone(),
            held.clone(),
        ));
        Ok(Self {
            store,
            held,
            renewal,
        })
    }

    /// Stops renewing and gives the lock up.
    pub async fn release(self) {
        self.renewal.abort();
        let held = current(&self.held);
        if let Err(error) = self.store.release(&held).await {
            tracing::warn!(
                "could not release the lock in {}: {error}; it expires by itself at {}",
                self.store.describe(),
                crate::clock::rfc3339_millis(held.lock.expires_at())
            );
        }
    }
}

fn current(held: &Mutex<Held>) -> Held {
    held.lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .clone()
}

/// Renews three times per lock duration, so one failed renewal is survived.
async fn renew_until_stopped(
    store: Arc<dyn StateStore>,
    clock: Arc<dyn Clock>,
    held: Arc<Mutex<Held>>,
) {
    let interval = LOCK_DURATION / 3;
    loop {
        clock.sleep_until(clock.now() + interval).await;
        let now_held = current(&held);
        match store.renew(&now_held, clock.now()).await {
            Ok(renewed) => {
                *held.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = renewed;
            }
            Err(error) => {
                tracing::warn!("could not renew the lock in {}: {error}", store.describe())
            }
        }
    }
}

impl Refused {
    /// For the user: who holds the lock, until when, and what to do.
    pub fn explain(&self, service: &str, store: &str) -> String {
        match self {
            Refused::Busy(lock) => format!(
                "another job is working on {service}: the lock in {store} is {} (pid {} on {}); wait for that job, or stop it and run again with --force",
                lock.describe(),
                lock.holder.pid,
                lock.holder.host,
            ),
            Refused::Failed(error) => format!("cannot take the lock in {store}: {error}"),
        }
    }
}
