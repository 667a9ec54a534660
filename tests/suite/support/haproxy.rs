//! A real HAProxy with a generated config: frontend `web` → backend `app` (roundrobin) with
//! the given stable and new servers, the built-in Prometheus exporter on its own frontend, and
//! the runtime API at `level admin` on a unix socket and on a TCP port (and at `level user` on
//! another unix socket).

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use tempfile::TempDir;

use super::net::on_free_ports;
use super::process::{ChildGuard, require_program};
use super::wait;

pub const BACKEND: &str = "app";

pub struct Haproxy {
    // Dropped first: the process goes before its directory.
    process: ChildGuard,
    pub socket: PathBuf,
    /// A runtime API socket at `level user`, which refuses changes.
    pub user_socket: PathBuf,
    pub admin_tcp: SocketAddr,
    pub web: SocketAddr,
    pub metrics: SocketAddr,
    /// Kept so the directory lives as long as the process.
    _dir: TempDir,
}

impl Haproxy {
    /// `stable` and `new` are (server name, upstream address, initial weight).
    pub async fn start(
        stable: &[(String, SocketAddr, u16)],
        new: &[(String, SocketAddr, u16)],
    ) -> Haproxy {
        let program = require_program("haproxy", "haproxy");
        on_free_ports("haproxy", 3, |ports| {
            Self::start_on(&program, stable, new, ports)
        })
        .await
    }

    /// One start on the given ports; `Err` when HAProxy exited instead of coming up.
    async fn start_on(
        program: &Path,
        stable: &[(String, SocketAddr, u16)],
        new: &[(String, SocketAddr, u16)],
        ports: Vec<u16>,
    ) -> Result<Haproxy, String> {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("no temp dir: {e}"));
        let socket = dir.path().join("admin.sock");
        let user_socket = dir.path().join("user.sock");
        let loopback = |port| SocketAddr::from(([127, 0, 0, 1], port));
        let (admin_tcp, web, metrics) =
            (loopback(ports[0]), loopback(ports[1]), loopback(ports[2]));
        let servers: String = stable
            .iter()
            .chain(new)
            .map(|(name, addr, weight)| format!("    server {name} {addr} weight {weight}\n"))
            .collect();
        let config = format!(
            "global
    nbthread 1
    stats socket {socket} level admin
    stats socket ipv4@{admin_tcp} level admin
    stats socket {user_socket} level user
defaults
    mode http
    timeout connect 2s
    timeout client 30s
    timeout server 30s
frontend web
    bind {web}
    default_backend {BACKEND}
frontend metrics
    bind {metrics}
    http-request use-service prometheus-exporter if {{ path /metrics }}
backend {BACKEND}
    balance roundrobin
{servers}",
            socket = socket.display(),
            user_socket = user_socket.display(),
        );
        let config_path = dir.path().join("haproxy.cfg");
        std::fs::write(&config_path, config)
            .unwrap_or_else(|e| panic!("cannot write {config_path:?}: {e}"));
        let mut command = Command::new(program);
        command.arg("-f").arg(&config_path).arg("-db");
        let mut process = ChildGuard::spawn("haproxy", command, dir.path());
        let exit = until_runtime_api_answers(
            &mut process,
            &socket,
            "HAProxy's runtime API",
            Duration::from_millis(50),
        )
        .await;
        if let Some(exit) = exit {
            return Err(exit);
        }
        Ok(Haproxy {
            process,
            socket,
            user_socket,
            admin_tcp,
            web,
            metrics,
            _dir: dir,
        })
    }

    /// Sends one command to the runtime API without going through greenlight's client, so
    /// tests check what HAProxy itself says.
    pub fn command(&self, command: &str) -> String {
        raw_command(&self.socket, command)
            .unwrap_or_else(|e| panic!("runtime API command `{command}` failed: {e}"))
    }

    /// `srv_uweight` per server of the backend, straight from `show servers state`.
    pub fn weights(&self) -> Vec<(String, u16)> {
        let reply = self.command(&format!("show servers state {BACKEND}"));
        let mut lines = reply.lines();
        assert_eq!(lines.next(), Some("1"), "format version line of:\n{reply}");
        let header: Vec<&str> = lines
            .next()
            .and_then(|h| h.strip_prefix("# "))
            .unwrap_or_else(|| panic!("no header in:\n{reply}"))
            .split(' ')
            .collect();
        let col = |name| header.iter().position(|c| *c == name).unwrap();
        let (name, weight) = (col("srv_name"), col("srv_uweight"));
        lines
            .filter(|l| !l.is_empty())
            .map(|l| {
                let f: Vec<&str> = l.split(' ').collect();
                (f[name].to_owned(), f[weight].parse().unwrap())
            })
            .collect()
    }

    pub fn stop(&mut self) {
        self.process.stop();
    }
}

/// Waits until the HAProxy in `process` answers `show info` on its runtime
/// `socket` (only then are its listeners bound); its exit message if it
/// stopped first.
pub async fn until_runtime_api_answers(
    process: &mut ChildGuard,
    socket: &Path,
    what: &str,
    interval: Duration,
) -> Option<String> {
    let (exit, _) = wait::until(what, Duration::from_secs(10), interval, || {
        if let Some(exit) = process.exit() {
            return std::future::ready(Ok(Some(exit)));
        }
        let reply = raw_command(socket, "show info");
        std::future::ready(reply.and_then(|r| {
            if r.contains("Name: HAProxy") {
                Ok(None)
            } else {
                Err(r)
            }
        }))
    })
    .await;
    exit
}

/// One runtime API command over a unix socket, with HAProxy's reply.
pub fn raw_command(socket: &Path, command: &str) -> Result<String, String> {
    let mut stream = UnixStream::connect(socket).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .map_err(|e| e.to_string())?;
    stream
        .write_all(format!("{command}\n").as_bytes())
        .map_err(|e| e.to_string())?;
    let mut reply = String::new();
    stream
        .read_to_string(&mut reply)
        .map_err(|e| e.to_string())?;
    Ok(reply)
}
