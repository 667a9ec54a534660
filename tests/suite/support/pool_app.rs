//! Apps standing for a router's fixed pools, and who answers real requests
//! through the router: what the pool tests measure traffic with.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use super::haproxy::BACKEND;
use super::http_server::{HttpServer, Response};
use super::net::http_client;

/// An app server standing for one pool: it answers with the version deployed
/// to the pool (the content of `pool-<name>` in `dir`), or 503 when none is.
pub async fn pool_server(dir: &Path, pool: &str) -> HttpServer {
    let file = dir.join(format!("pool-{pool}"));
    HttpServer::start(Arc::new(move |_| {
        match std::fs::read_to_string(&file)
            .map(|text| text.trim().to_owned())
            .unwrap_or_default()
        {
            version if version.is_empty() => Response::text(503, "nothing deployed here"),
            version => Response::text(200, version),
        }
    }))
    .await
}

/// Who answers `requests` requests at `web`: (answer, count) sorted by
/// answer, errors as their status code or message.
pub async fn answers(web: SocketAddr, requests: usize) -> Vec<(String, usize)> {
    let client = http_client();
    let mut counts: Vec<(String, usize)> = Vec::new();
    for _ in 0..requests {
        let answer = match client.get(format!("http://{web}/")).send().await {
            Ok(response) if response.status().is_success() => {
                response.text().await.unwrap_or_default()
            }
            Ok(response) => response.status().as_u16().to_string(),
            Err(error) => format!("error: {error}"),
        };
        match counts.iter_mut().find(|(seen, _)| *seen == answer) {
            Some((_, count)) => *count += 1,
            None => counts.push((answer, 1)),
        }
    }
    counts.sort();
    counts
}

/// The spec's `router:` block for HAProxy's two fixed pools (`blue` and
/// `green` servers of the test backend), draining for `drain` (`timeout` and
/// `interval`, as the spec writes them).
pub fn haproxy_pools(socket: &Path, drain: (&str, &str)) -> String {
    let (timeout, interval) = drain;
    format!(
        "router:
  haproxy:
    socket: {socket}
    backend: {BACKEND}
    stableServers: [blue]
    newServers: [green]
    drain: {{timeout: {timeout}, interval: {interval}}}
",
        socket = socket.display(),
    )
}
