//! Loopback networking helpers shared by the process harnesses and the tests.

/// reqwest is built with `rustls-no-provider`: the binary installs ring at start-up, tests
/// do it here before building a client.
pub fn http_client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap_or_else(|e| panic!("cannot build an HTTP client: {e}"))
}

/// A loopback port nobody listens on right now. Only for programs we cannot hand a listener
/// to (HAProxy, Prometheus); there is a small window in which another process could take it.
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap_or_else(|e| panic!("cannot bind a loopback port: {e}"));
    listener
        .local_addr()
        .unwrap_or_else(|e| panic!("no local address: {e}"))
        .port()
}
