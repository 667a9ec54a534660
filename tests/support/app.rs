//! An application version under test: answers 200, or fails a given share of requests with
//! 500, or answers slowly; the behaviour can change while it runs.
//! (The lead will unify this with `src/sandbox/app.rs`.)

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::http_server::{HttpServer, Response};

#[derive(Debug, Clone, Copy, Default)]
pub struct Behaviour {
    /// Share of requests answered with 500, in percent. Spread evenly: with 20, exactly one
    /// request in five fails, so tests are deterministic.
    pub fail_percent: u8,
    pub delay: Duration,
}

pub struct App {
    pub server: HttpServer,
    behaviour: Arc<Mutex<Behaviour>>,
    served: Arc<AtomicU64>,
}

impl App {
    pub async fn start(version: &str, behaviour: Behaviour) -> App {
        let shared = Arc::new(Mutex::new(behaviour));
        let served = Arc::new(AtomicU64::new(0));
        let (b, n, version) = (shared.clone(), served.clone(), version.to_owned());
        let server = HttpServer::start(Arc::new(move |_request| {
            let behaviour = b.lock().map(|b| *b).unwrap_or_default();
            let i = n.fetch_add(1, Ordering::SeqCst);
            let p = u64::from(behaviour.fail_percent.min(100));
            // Request i fails when it crosses the next multiple of 100 in i × p.
            let fails = (i + 1) * p / 100 > i * p / 100;
            let response = if fails {
                Response::text(500, format!("{version} failed on purpose\n"))
            } else {
                Response::text(200, format!("{version}\n"))
            };
            response.delayed(behaviour.delay)
        }))
        .await;
        App {
            server,
            behaviour: shared,
            served,
        }
    }

    pub fn set(&self, behaviour: Behaviour) {
        if let Ok(mut b) = self.behaviour.lock() {
            *b = behaviour;
        }
    }

    pub fn served(&self) -> u64 {
        self.served.load(Ordering::SeqCst)
    }
}
