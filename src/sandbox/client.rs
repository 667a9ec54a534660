//! The keep-alive HTTP client the proxy and the load generator use to reach loopback servers.

use bytes::Bytes;
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;

use super::task::OwnedTasks;

pub(crate) type LoopbackClient = Client<HttpConnector, Full<Bytes>>;

/// Connection tasks are spawned into `tasks`, so they stop with the client's owner.
pub(crate) fn loopback_client(tasks: &OwnedTasks) -> LoopbackClient {
    let mut connector = HttpConnector::new();
    // Same reason as on the server side: keep Nagle out of measured latency.
    connector.set_nodelay(true);
    Client::builder(tasks.clone()).build(connector)
}
