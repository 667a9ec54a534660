//! A real Prometheus scraping one target every second, with its data in a temp dir.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use tempfile::TempDir;

use super::net::{http_client, on_free_ports};
use super::process::{ChildGuard, require_program};
use super::wait;

pub const JOB: &str = "haproxy";

pub struct Prometheus {
    // Dropped first: the process goes before its directory.
    process: ChildGuard,
    pub addr: SocketAddr,
    /// Kept so the directory lives as long as the process.
    _dir: TempDir,
}

impl Prometheus {
    /// Starts Prometheus scraping `target` (host:port, path /metrics) and returns once a
    /// sample of it can be queried.
    pub async fn start(target: SocketAddr) -> Prometheus {
        let program = require_program("prometheus", "prometheus");
        on_free_ports("prometheus", 1, |ports| {
            Self::start_on(&program, target, ports[0])
        })
        .await
    }

    /// One start on `port`; `Err` when Prometheus exited instead of coming up.
    async fn start_on(program: &Path, target: SocketAddr, port: u16) -> Result<Prometheus, String> {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("no temp dir: {e}"));
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let config = format!(
            "global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: {JOB}
    scrape_interval: 1s
    scrape_timeout: 1s
    static_configs:
      - targets: ['{target}']
"
        );
        let config_path = dir.path().join("prometheus.yml");
        std::fs::write(&config_path, config)
            .unwrap_or_else(|e| panic!("cannot write {config_path:?}: {e}"));
        let mut command = Command::new(program);
        command
            .arg(format!("--config.file={}", config_path.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address={addr}"))
            .arg("--log.level=warn");
        let started = std::time::Instant::now();
        let mut process = ChildGuard::spawn("prometheus", command, dir.path());
        let client = http_client();
        let query = format!("up{{job=\"{JOB}\"}} == 1");
        let url = reqwest::Url::parse_with_params(
            &format!("http://{addr}/api/v1/query"),
            [("query", query.as_str())],
        )
        .unwrap_or_else(|e| panic!("bad query URL: {e}"));
        let (exit, _) = wait::until(
            "the first Prometheus sample of HAProxy's exporter",
            Duration::from_secs(30),
            Duration::from_millis(100),
            || {
                let exit = process.exit();
                let request = client
                    .get(url.clone())
                    .timeout(Duration::from_secs(2))
                    .send();
                async move {
                    if exit.is_some() {
                        return Ok(exit);
                    }
                    let body = request
                        .await
                        .map_err(|e| e.to_string())?
                        .text()
                        .await
                        .map_err(|e| e.to_string())?;
                    if body.contains("\"value\"") {
                        Ok(None)
                    } else {
                        Err(body)
                    }
                }
            },
        )
        .await;
        if let Some(exit) = exit {
            return Err(exit);
        }
        eprintln!(
            "prometheus: first sample {:?} after start",
            started.elapsed()
        );
        Ok(Prometheus {
            process,
            addr,
            _dir: dir,
        })
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Kills Prometheus, as an outage in the middle of a rollout would.
    pub fn stop(&mut self) {
        self.process.stop();
    }
}
