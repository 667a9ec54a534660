//! Test support: real HAProxy and Prometheus processes, and small HTTP servers.
//!
//! Everything started here is stopped when its handle drops, also when a test panics.
//! A missing program makes the test fail with the command that installs it; nothing skips.

#![allow(dead_code)] // each test binary uses a different part of the support

pub mod app;
pub mod haproxy;
pub mod http_server;
pub mod process;
pub mod prometheus;
pub mod wait;

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
