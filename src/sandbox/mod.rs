//! A self-contained rollout playground for `greenlight demo`: two app versions,
//! a weighted proxy in front of them and steady load, all on 127.0.0.1.
//!
//! The engine drives it like a real target: [`WeightedProxy`] is the router
//! (`set_weight`), [`TrafficStats`] the metric source (`window`), and
//! [`AppServer::set_faults`] makes the new version misbehave on cue.

pub mod app;
mod client;
pub mod load;
pub mod proxy;
mod server;
pub mod stats;
mod task;
#[cfg(test)]
mod test_support;

pub use app::{AppServer, Faults, HEALTH_PATH, InvalidFaults, Jitter, VERSION_HEADER};
pub use load::{DEFAULT_RATE, LoadCounters, LoadCounts, LoadError, LoadGenerator, MAX_RATE};
pub use proxy::{ProxyError, Upstreams, WeightOutOfRange, WeightedProxy};
pub use stats::{
    Instants, ManualInstants, RealInstants, Retention, Side, TrafficStats, WindowStats,
};

use std::io;
use std::sync::{Mutex, MutexGuard, PoisonError};

// `target: sandbox` and `router: sandbox` (the doc line below is the schema's).
/// The demo's in-process sandbox; it has no settings.
#[derive(Debug, Clone, Default, serde::Deserialize, serde::Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SandboxProvider {}

/// What to run, and how each version misbehaves.
#[derive(Debug, Clone, PartialEq)]
pub struct SandboxConfig {
    pub stable_version: String,
    pub new_version: String,
    pub stable_faults: Faults,
    pub new_faults: Faults,
    /// Load generator requests per second, 1..=[`MAX_RATE`].
    pub rate: u32,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        Self {
            stable_version: "v1".to_owned(),
            new_version: "v2".to_owned(),
            stable_faults: Faults::NONE,
            new_faults: Faults::NONE,
            rate: DEFAULT_RATE,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("starting the {side} app {version:?} of the sandbox")]
    App {
        side: Side,
        version: String,
        #[source]
        source: io::Error,
    },
    #[error(transparent)]
    Proxy(#[from] ProxyError),
    #[error("starting the sandbox load generator")]
    Load(#[source] LoadError),
}

/// Two apps behind a weighted proxy with load flowing through it.
/// Traffic starts at weight 0 (all stable). Everything stops when it is dropped.
pub struct Sandbox {
    // Declared in shutdown order, so a plain drop also stops the load first.
    load: LoadGenerator,
    proxy: WeightedProxy,
    stable: AppServer,
    new: AppServer,
}

impl Sandbox {
    pub async fn start(config: SandboxConfig) -> Result<Sandbox, SandboxError> {
        let stable = start_app(Side::Stable, config.stable_version, config.stable_faults).await?;
        let new = start_app(Side::New, config.new_version, config.new_faults).await?;
        let upstreams = Upstreams {
            stable: stable.addr(),
            new: new.addr(),
        };
        let proxy = WeightedProxy::start(upstreams, TrafficStats::new()).await?;
        let load = LoadGenerator::start(&proxy.url(), config.rate)
            .await
            .map_err(SandboxError::Load)?;
        Ok(Sandbox {
            load,
            proxy,
            stable,
            new,
        })
    }

    /// The router: `set_weight` moves traffic, `url` is the sandbox's entry point.
    pub fn proxy(&self) -> &WeightedProxy {
        &self.proxy
    }

    /// The metric source: everything that went through the proxy, per side.
    pub fn stats(&self) -> &TrafficStats {
        self.proxy.stats()
    }

    pub fn stable_app(&self) -> &AppServer {
        &self.stable
    }

    /// Call `set_faults` on it to make the rollout go wrong.
    pub fn new_app(&self) -> &AppServer {
        &self.new
    }

    pub fn load(&self) -> &LoadGenerator {
        &self.load
    }

    /// Stops the load first (so its last requests are not recorded as 502s
    /// from vanished apps), then the proxy, then the apps; returns the final load counts.
    pub async fn shutdown(self) -> LoadCounts {
        let counts = self.load.stop().await;
        self.proxy.shutdown().await;
        self.stable.shutdown().await;
        self.new.shutdown().await;
        counts
    }
}

async fn start_app(side: Side, version: String, faults: Faults) -> Result<AppServer, SandboxError> {
    match AppServer::start(version.clone(), faults).await {
        Ok(app) => Ok(app),
        Err(source) => Err(SandboxError::App {
            side,
            version,
            source,
        }),
    }
}

/// Every lock in the sandbox guards counters or plain data that a panicking
/// holder cannot leave in a harmful state, so poisoning is ignored rather than
/// turned into a second panic.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use hyper::StatusCode;

    use super::*;
    use test_support::TestClient;

    #[tokio::test]
    async fn routes_by_weight_to_the_faulty_new_version_and_records_it() {
        let sandbox = Sandbox::start(SandboxConfig {
            new_faults: Faults::failing(1.0),
            ..SandboxConfig::default()
        })
        .await
        .unwrap();
        let since = sandbox.stats().now();
        sandbox.proxy().set_weight(100).unwrap();
        let client = TestClient::new();

        let reply = client.get(&sandbox.proxy().url()).await;

        assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(reply.version.as_deref(), Some("v2"));
        assert_eq!(sandbox.new_app().version(), "v2");
        assert_eq!(sandbox.stable_app().version(), "v1");
        assert!(sandbox.stats().window(Side::New, since).errors >= 1);
        sandbox.shutdown().await;
    }

    // Paused clock: the load generator's pacing runs on virtual time, so one
    // "second" of load passes without waiting for it.
    #[tokio::test(start_paused = true)]
    async fn load_flows_through_the_proxy_into_the_stats() {
        let sandbox = Sandbox::start(SandboxConfig {
            rate: 100,
            ..SandboxConfig::default()
        })
        .await
        .unwrap();
        let since = sandbox.stats().now();
        assert_eq!(
            sandbox.load().target().to_string(),
            format!("{}/", sandbox.proxy().url())
        );

        tokio::time::sleep(Duration::from_secs(1)).await;
        let stats = sandbox.stats().clone();
        let counts = sandbox.shutdown().await;

        let recorded = stats.window(Side::Stable, since).requests;
        assert!(counts.succeeded > 0, "{counts:?}");
        assert!(
            recorded >= counts.succeeded + counts.failed,
            "{recorded} {counts:?}"
        );
        assert!(recorded <= counts.sent, "{recorded} {counts:?}");
        assert_eq!(stats.window(Side::New, since).requests, 0);
    }

    #[tokio::test]
    async fn shutdown_closes_every_port() {
        let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
        let addrs = [
            sandbox.proxy().addr(),
            sandbox.stable_app().addr(),
            sandbox.new_app().addr(),
        ];

        sandbox.shutdown().await;

        for addr in addrs {
            assert!(
                tokio::net::TcpStream::connect(addr).await.is_err(),
                "{addr}"
            );
        }
    }

    #[tokio::test]
    async fn start_reports_which_part_failed() {
        let bad_faults = Sandbox::start(SandboxConfig {
            new_faults: Faults::failing(2.0),
            ..SandboxConfig::default()
        })
        .await;
        assert!(matches!(
            bad_faults,
            Err(SandboxError::App {
                side: Side::New,
                ..
            })
        ));

        let bad_rate = Sandbox::start(SandboxConfig {
            rate: 0,
            ..SandboxConfig::default()
        })
        .await;
        assert!(matches!(
            bad_rate,
            Err(SandboxError::Load(LoadError::Rate(0)))
        ));
    }
}
