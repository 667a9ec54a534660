//! A stand-in for DC/OS Admin Router: a real HAProxy terminating TLS with a certificate
//! from a private CA (made with `openssl`), serving an upstream under a path prefix
//! (`https://…/marathon/v2/apps` → `http://upstream/v2/apps`).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use tempfile::TempDir;

use super::haproxy::until_runtime_api_answers;
use super::net::on_free_ports;
use super::process::{ChildGuard, require_program};

pub struct AdminRouter {
    process: ChildGuard,
    /// `https://127.0.0.1:PORT`.
    pub url: String,
    /// The private CA's certificate (PEM).
    pub ca_file: PathBuf,
    _dir: TempDir,
}

fn openssl(dir: &Path, args: &[&str]) {
    let program = require_program("openssl", "openssl");
    let output = Command::new(program)
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run openssl: {e}"));
    assert!(
        output.status.success(),
        "openssl {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

impl AdminRouter {
    /// Serves `upstream` at `https://127.0.0.1:PORT{prefix}`.
    pub async fn start(upstream: SocketAddr, prefix: &str) -> AdminRouter {
        let program = require_program("haproxy", "haproxy");
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("no temp dir: {e}"));
        let path = dir.path();
        openssl(
            path,
            &[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "2",
                "-subj",
                "/CN=test cluster CA",
                "-keyout",
                "ca.key",
                "-out",
                "ca.crt",
            ],
        );
        openssl(
            path,
            &[
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-subj",
                "/CN=127.0.0.1",
                "-keyout",
                "server.key",
                "-out",
                "server.csr",
            ],
        );
        std::fs::write(
            path.join("san.ext"),
            "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n",
        )
        .unwrap_or_else(|e| panic!("cannot write san.ext: {e}"));
        openssl(
            path,
            &[
                "x509",
                "-req",
                "-in",
                "server.csr",
                "-CA",
                "ca.crt",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-days",
                "2",
                "-extfile",
                "san.ext",
                "-out",
                "server.crt",
            ],
        );
        let pem = [
            std::fs::read_to_string(path.join("server.crt")).unwrap_or_default(),
            std::fs::read_to_string(path.join("server.key")).unwrap_or_default(),
        ]
        .concat();
        std::fs::write(path.join("server.pem"), pem)
            .unwrap_or_else(|e| panic!("cannot write server.pem: {e}"));
        let (process, listen) = on_free_ports("admin-router", 1, |ports| {
            Self::start_on(&program, path, upstream, prefix, ports[0])
        })
        .await;
        AdminRouter {
            process,
            url: format!("https://{listen}"),
            ca_file: path.join("ca.crt"),
            _dir: dir,
        }
    }

    /// One start on `port`; `Err` when HAProxy exited instead of coming up.
    async fn start_on(
        program: &Path,
        path: &Path,
        upstream: SocketAddr,
        prefix: &str,
        port: u16,
    ) -> Result<(ChildGuard, SocketAddr), String> {
        let listen = SocketAddr::from(([127, 0, 0, 1], port));
        // HAProxy answers on this socket only once every listener is bound: a connection
        // to the port alone could reach whichever process took it first.
        let socket = path.join("admin-router.sock");
        let config = format!(
            "global
    nbthread 1
    stats socket {socket} level user
defaults
    mode http
    timeout connect 5s
    timeout client 30s
    timeout server 30s
frontend admin_router
    bind {listen} ssl crt {pem}
    http-request deny deny_status 404 unless {{ path_beg {prefix}/ }}
    http-request replace-path ^{prefix}(/.*) \\1
    default_backend service
backend service
    server upstream {upstream}
",
            socket = socket.display(),
            pem = path.join("server.pem").display(),
        );
        let config_path = path.join("haproxy.cfg");
        std::fs::write(&config_path, config)
            .unwrap_or_else(|e| panic!("cannot write haproxy.cfg: {e}"));
        let mut command = Command::new(program);
        command.arg("-db").arg("-f").arg(&config_path);
        let mut process = ChildGuard::spawn("admin-router", command, path);
        let exit = until_runtime_api_answers(
            &mut process,
            &socket,
            "the TLS front to listen",
            Duration::from_millis(20),
        )
        .await;
        match exit {
            Some(exit) => Err(exit),
            None => Ok((process, listen)),
        }
    }

    /// HAProxy's output, for assertion messages.
    pub fn log(&self) -> String {
        self.process.log()
    }
}
