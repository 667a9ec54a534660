//! Where HAProxy's runtime API listens: a unix socket path or a TCP address.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

/// The address of a `stats socket ... level admin` line.
///
/// Parsed from the forms people copy from haproxy.cfg or write by hand:
/// `/run/haproxy/admin.sock`, `unix:/path`, `./admin.sock` (unix socket);
/// `127.0.0.1:9999`, `tcp:host:9999`, `ipv4@127.0.0.1:9999`, `[::1]:9999` (TCP).
/// A value with a `/` is always a path; otherwise a trailing `:<port>` makes it TCP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuntimeApiAddress {
    Unix(PathBuf),
    Tcp(String),
}

impl RuntimeApiAddress {
    /// The `stats socket` line haproxy.cfg needs for this address, for hints.
    pub fn stats_socket_line(&self) -> String {
        match self {
            RuntimeApiAddress::Unix(path) => {
                format!("stats socket {} level admin", path.display())
            }
            RuntimeApiAddress::Tcp(addr) => format!("stats socket ipv4@{addr} level admin"),
        }
    }
}

impl fmt::Display for RuntimeApiAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RuntimeApiAddress::Unix(path) => write!(f, "{}", path.display()),
            RuntimeApiAddress::Tcp(addr) => write!(f, "{addr}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{0}` is not a runtime API address: use a unix socket path (/run/haproxy/admin.sock) or host:port"
)]
pub struct BadAddress(String);

impl FromStr for RuntimeApiAddress {
    type Err = BadAddress;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        let text = raw.trim();
        if text.is_empty() {
            return Err(BadAddress(raw.to_owned()));
        }
        if let Some(path) = text.strip_prefix("unix:").or(text.strip_prefix("unix@")) {
            return non_empty(path, raw).map(|p| RuntimeApiAddress::Unix(PathBuf::from(p)));
        }
        for prefix in ["tcp:", "ipv4@", "ipv6@"] {
            if let Some(addr) = text.strip_prefix(prefix) {
                return tcp(addr, raw);
            }
        }
        if text.contains('/') {
            return Ok(RuntimeApiAddress::Unix(PathBuf::from(text)));
        }
        match tcp(text, raw) {
            Ok(addr) => Ok(addr),
            // No usable port: a relative socket file name such as `admin.sock`.
            Err(_) => Ok(RuntimeApiAddress::Unix(PathBuf::from(text))),
        }
    }
}

fn non_empty<'a>(value: &'a str, raw: &str) -> Result<&'a str, BadAddress> {
    if value.is_empty() {
        Err(BadAddress(raw.to_owned()))
    } else {
        Ok(value)
    }
}

fn tcp(addr: &str, raw: &str) -> Result<RuntimeApiAddress, BadAddress> {
    let (host, port) = addr
        .rsplit_once(':')
        .ok_or_else(|| BadAddress(raw.to_owned()))?;
    let host_ok = !host.is_empty();
    let port_ok = port.parse::<u16>().is_ok_and(|p| p != 0);
    if host_ok && port_ok {
        Ok(RuntimeApiAddress::Tcp(addr.to_owned()))
    } else {
        Err(BadAddress(raw.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> RuntimeApiAddress {
        s.parse().unwrap()
    }

    #[test]
    fn paths_are_unix_sockets() {
        for s in [
            "/run/haproxy/admin.sock",
            "./admin.sock",
            "admin.sock",
            "unix:/x.sock",
        ] {
            assert!(matches!(parse(s), RuntimeApiAddress::Unix(_)), "{s}");
        }
        assert_eq!(
            parse("unix:/x.sock"),
            RuntimeApiAddress::Unix(PathBuf::from("/x.sock"))
        );
    }

    #[test]
    fn host_port_forms_are_tcp() {
        assert_eq!(
            parse("127.0.0.1:9999"),
            RuntimeApiAddress::Tcp("127.0.0.1:9999".into())
        );
        assert_eq!(
            parse("ipv4@10.0.0.1:9999"),
            RuntimeApiAddress::Tcp("10.0.0.1:9999".into())
        );
        assert_eq!(
            parse("tcp:lb:9999"),
            RuntimeApiAddress::Tcp("lb:9999".into())
        );
        assert_eq!(
            parse("[::1]:9999"),
            RuntimeApiAddress::Tcp("[::1]:9999".into())
        );
    }

    #[test]
    fn rejects_empty_and_portless_tcp() {
        assert!("".parse::<RuntimeApiAddress>().is_err());
        assert!("tcp:lb".parse::<RuntimeApiAddress>().is_err());
        assert!("ipv4@lb:0".parse::<RuntimeApiAddress>().is_err());
    }

    #[test]
    fn hint_line_matches_haproxy_syntax() {
        assert_eq!(
            parse("127.0.0.1:9999").stats_socket_line(),
            "stats socket ipv4@127.0.0.1:9999 level admin"
        );
    }
}
