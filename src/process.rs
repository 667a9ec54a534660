//! Running the user's shell commands: with the rollout context in the
//! environment, a timeout, and output captured within a size limit.

use std::process::Stdio;
use std::sync::OnceLock;
use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::process::Command;

use crate::provider::ProviderError;
use crate::secrets::Masker;

/// Output kept from each stream; the rest is dropped with a marker.
pub const OUTPUT_LIMIT: usize = 16 * 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finished {
    pub success: bool,
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Finished {
    /// The last line of stderr (or stdout), which usually says what went wrong.
    pub fn last_words(&self) -> &str {
        let text = if self.stderr.trim().is_empty() {
            &self.stdout
        } else {
            &self.stderr
        };
        text.trim().lines().last().unwrap_or("")
    }

    pub fn status(&self) -> String {
        self.code.map_or_else(
            || "was killed by a signal".to_owned(),
            |code| format!("exited {code}"),
        )
    }
}

/// Masks the values of secret-looking environment variables; built once.
fn environment_masker() -> &'static Masker {
    static MASKER: OnceLock<Masker> = OnceLock::new();
    MASKER.get_or_init(|| Masker::from_env(std::env::vars()))
}

/// Runs `script` with `sh -c`, killing it after `timeout`.
pub async fn run_shell(
    script: &str,
    env: &[(&str, String)],
    timeout: Duration,
) -> Result<Finished, ProviderError> {
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(script)
        .envs(env.iter().map(|(key, value)| (*key, value)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|error| ProviderError::new(format!("cannot start `sh -c {script}`: {error}")))?;
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    let work = async {
        let (stdout, stderr) = tokio::join!(read_capped(stdout), read_capped(stderr));
        let status = child.wait().await;
        (status, stdout, stderr)
    };
    match tokio::time::timeout(timeout, work).await {
        Ok((Ok(status), stdout, stderr)) => Ok(Finished {
            success: status.success(),
            code: status.code(),
            // What a command prints ends up in errors and reports: a secret
            // it echoes from the environment must not.
            stdout: environment_masker().mask(&stdout),
            stderr: environment_masker().mask(&stderr),
        }),
        Ok((Err(error), ..)) => Err(ProviderError::new(format!(
            "`{script}` could not be waited for: {error}"
        ))),
        Err(_) => Err(ProviderError::new(format!(
            "`{script}` did not finish within {}",
            crate::duration::display(timeout)
        ))
        .with_hint("raise the timeout, or make the command finish sooner")),
    }
}

async fn read_capped<R: tokio::io::AsyncRead + Unpin>(stream: Option<R>) -> String {
    let Some(mut stream) = stream else {
        return String::new();
    };
    let mut kept = Vec::new();
    let mut chunk = [0u8; 8192];
    let mut dropped = 0usize;
    // Keep reading past the limit so the child never blocks on a full pipe.
    while let Ok(read) = stream.read(&mut chunk).await {
        if read == 0 {
            break;
        }
        let room = OUTPUT_LIMIT.saturating_sub(kept.len()).min(read);
        kept.extend_from_slice(&chunk[..room]);
        dropped += read - room;
    }
    let mut text = String::from_utf8_lossy(&kept).into_owned();
    if dropped > 0 {
        text.push_str(&format!("\n… {dropped} more byte(s) not kept"));
    }
    text
}
