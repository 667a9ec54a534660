//! A client for HAProxy's runtime API (the "stats socket" CLI) in non-interactive mode.
//!
//! Each exchange opens a connection, writes one line of `;`-separated commands, and reads until
//! HAProxy closes the connection. HAProxy answers every command with its output followed by an
//! empty line; a successful `set ...` command prints nothing, so its reply is empty and any text
//! is HAProxy's refusal, quoted verbatim in our errors.

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpStream, UnixStream};

use super::address::RuntimeApiAddress;
use crate::provider::ProviderError;

/// Replies larger than this are not from the commands we send (a `show stat` of a huge config
/// is far below it); the cap keeps a misbehaving peer from exhausting memory.
const MAX_REPLY_BYTES: u64 = 16 * 1024 * 1024;

#[derive(Debug, Clone)]
pub struct RuntimeApi {
    address: RuntimeApiAddress,
    timeout: Duration,
}

impl RuntimeApi {
    /// `timeout` bounds one whole exchange: connect, write, read.
    pub fn new(address: RuntimeApiAddress, timeout: Duration) -> Self {
        Self { address, timeout }
    }

    pub fn address(&self) -> &RuntimeApiAddress {
        &self.address
    }

    /// Runs one command and returns its output (without the terminating empty line).
    pub async fn command(&self, command: &str) -> Result<String, ProviderError> {
        let mut replies = self.commands(&[command.to_owned()]).await?;
        Ok(replies.pop().unwrap_or_default())
    }

    /// Runs commands in order over one connection, so HAProxy applies them back to back, and
    /// returns one reply per command.
    pub async fn commands(&self, commands: &[String]) -> Result<Vec<String>, ProviderError> {
        for command in commands {
            // A `;` or newline would smuggle extra commands into the line.
            if command.contains([';', '\n', '\r']) {
                return Err(ProviderError::new(format!(
                    "refusing to send `{command}` to the HAProxy runtime API: it contains `;` or a line break"
                )));
            }
        }
        let line = format!("{}\n", commands.join(";"));
        let raw = match tokio::time::timeout(self.timeout, self.exchange(&line)).await {
            Ok(result) => result?,
            Err(_) => {
                return Err(ProviderError::new(format!(
                    "the HAProxy runtime API at {} did not answer `{}` within {:?}",
                    self.address,
                    commands.join(";"),
                    self.timeout
                ))
                .with_hint("check that HAProxy is not overloaded or stuck reloading"));
            }
        };
        split_replies(&raw, commands.len()).ok_or_else(|| {
            ProviderError::new(format!(
                "the HAProxy runtime API at {} sent an unexpected reply to `{}`: {:?}",
                self.address,
                commands.join(";"),
                crate::text::shorten(&raw, 300)
            ))
            .with_hint("is this address an HAProxy `stats socket`?")
        })
    }

    async fn exchange(&self, line: &str) -> Result<String, ProviderError> {
        match &self.address {
            RuntimeApiAddress::Unix(path) => {
                let stream = UnixStream::connect(path)
                    .await
                    .map_err(|e| self.connect_error(e))?;
                self.talk(stream, line).await
            }
            RuntimeApiAddress::Tcp(addr) => {
                let stream = TcpStream::connect(addr.as_str())
                    .await
                    .map_err(|e| self.connect_error(e))?;
                self.talk(stream, line).await
            }
        }
    }

    async fn talk<S>(&self, mut stream: S, line: &str) -> Result<String, ProviderError>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let io_error = |e: std::io::Error| {
            ProviderError::new(format!(
                "lost the connection to the HAProxy runtime API at {}: {e}",
                self.address
            ))
        };
        stream.write_all(line.as_bytes()).await.map_err(io_error)?;
        stream.flush().await.map_err(io_error)?;
        let mut bytes = Vec::new();
        (&mut stream)
            .take(MAX_REPLY_BYTES)
            .read_to_end(&mut bytes)
            .await
            .map_err(io_error)?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    fn connect_error(&self, e: std::io::Error) -> ProviderError {
        ProviderError::new(format!(
            "cannot connect to the HAProxy runtime API at {}: {e}",
            self.address
        ))
        .with_hint(format!(
            "is HAProxy running, and is `{}` in the global section of haproxy.cfg?",
            self.address.stats_socket_line()
        ))
    }
}

/// Splits a non-interactive reply into `expected` replies, each ended by an empty line.
/// Returns None when the count does not match (not HAProxy, or a truncated reply).
fn split_replies(raw: &str, expected: usize) -> Option<Vec<String>> {
    let mut replies = Vec::with_capacity(expected);
    let mut current: Vec<&str> = Vec::new();
    for line in raw.split_inclusive('\n') {
        let line = line.trim_end_matches(['\n', '\r']);
        if line.is_empty() {
            replies.push(current.join("\n"));
            current.clear();
        } else {
            current.push(line);
        }
    }
    // Text after the last empty line means the reply was cut off.
    (current.is_empty() && replies.len() == expected).then_some(replies)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_empty_and_refused_replies() {
        let raw = "\n\nNo such server.\n\n";
        assert_eq!(
            split_replies(raw, 3).unwrap(),
            vec!["".to_owned(), "".to_owned(), "No such server.".to_owned()]
        );
    }

    #[test]
    fn keeps_multi_line_output_together() {
        let raw = "1\n# be_id be_name\n4 app\n\n";
        assert_eq!(
            split_replies(raw, 1).unwrap(),
            vec!["1\n# be_id be_name\n4 app"]
        );
    }

    #[test]
    fn rejects_wrong_count_or_truncation() {
        assert!(split_replies("\n", 2).is_none());
        assert!(split_replies("1\n# be_id", 1).is_none());
        assert!(split_replies("", 1).is_none());
    }

    #[tokio::test]
    async fn refuses_command_injection() {
        let api = RuntimeApi::new(
            RuntimeApiAddress::Unix("/nonexistent".into()),
            Duration::from_secs(1),
        );
        let err = api
            .command("show info;shutdown sessions")
            .await
            .unwrap_err();
        assert!(err.message.contains("refusing"), "{}", err.message);
    }

    #[tokio::test]
    async fn unreachable_socket_error_names_it_and_hints_config() {
        let api = RuntimeApi::new(
            RuntimeApiAddress::Unix("/nonexistent/admin.sock".into()),
            Duration::from_secs(1),
        );
        let err = api.command("show info").await.unwrap_err();
        assert!(
            err.message.starts_with(
                "cannot connect to the HAProxy runtime API at /nonexistent/admin.sock: "
            ),
            "{}",
            err.message
        );
        assert!(
            err.hint
                .unwrap()
                .contains("stats socket /nonexistent/admin.sock level admin")
        );
    }
}
