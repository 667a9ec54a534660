//! Loopback networking helpers shared by the process harnesses and the tests.

use std::collections::BTreeSet;
use std::future::Future;
use std::sync::{Mutex, PoisonError};

/// reqwest is built with `rustls-no-provider`: the binary installs ring at start-up, tests
/// do it here before building a client.
pub fn http_client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap_or_else(|e| panic!("cannot build an HTTP client: {e}"))
}

/// Ports this test process has handed out. One is never handed out twice, so two tests
/// running at once never configure their programs on the same port.
static HANDED_OUT: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());

/// How many times a program that lost a port is started again on fresh ones.
const PORT_ATTEMPTS: usize = 5;

/// A loopback port nobody listens on right now and no other test of this process was given.
/// Only for programs we cannot hand a listener to (HAProxy, Prometheus): start those with
/// [`on_free_ports`], since another process may still take the port before they bind it.
pub fn free_port() -> u16 {
    loop {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap_or_else(|e| panic!("cannot bind a loopback port: {e}"));
        let port = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("no local address: {e}"))
            .port();
        let mut handed_out = HANDED_OUT.lock().unwrap_or_else(PoisonError::into_inner);
        if handed_out.insert(port) {
            return port;
        }
    }
}

/// Starts `program`, which must bind `count` loopback ports chosen for it. Between the
/// choice and its bind another process (a test server on an ephemeral port) may take one;
/// the program then exits saying so and is started again on fresh ports. `start` returns
/// `Err` with the program's exit and output when it exited during start-up.
pub async fn on_free_ports<T, Fut>(
    program: &str,
    count: usize,
    mut start: impl FnMut(Vec<u16>) -> Fut,
) -> T
where
    Fut: Future<Output = Result<T, String>>,
{
    let mut last = String::new();
    for _ in 0..PORT_ATTEMPTS {
        let ports = (0..count).map(|_| free_port()).collect();
        match start(ports).await {
            Ok(started) => return started,
            Err(exit) if exit.to_ascii_lowercase().contains("address already in use") => {
                last = exit;
            }
            Err(exit) => panic!("{program} {exit}"),
        }
    }
    panic!(
        "{program} lost a port to another process {PORT_ATTEMPTS} times in a row; the last time it {last}"
    )
}

/// A loopback address that refuses connections for as long as the socket lives: bound, so
/// no other test can listen there, but not listening.
pub fn refusing_address() -> (tokio::net::TcpSocket, std::net::SocketAddr) {
    let socket =
        tokio::net::TcpSocket::new_v4().unwrap_or_else(|e| panic!("cannot create a socket: {e}"));
    socket
        .bind(std::net::SocketAddr::from(([127, 0, 0, 1], 0)))
        .unwrap_or_else(|e| panic!("cannot bind a loopback port: {e}"));
    let addr = socket
        .local_addr()
        .unwrap_or_else(|e| panic!("no local address: {e}"));
    (socket, addr)
}
