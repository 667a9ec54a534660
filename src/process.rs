//! Running the user's shell commands: with the rollout context in the
//! environment, a timeout, output captured within a size limit, and in a
//! process group of its own, so that stopping a command stops everything it
//! started and nothing finishes after greenlight has moved on.

use std::future::Future;
use std::process::Stdio;
use std::sync::OnceLock;
use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::process::{Child, Command};

use crate::provider::ProviderError;
use crate::secrets::Masker;

/// Output kept from each stream; the rest is dropped with a marker.
pub const OUTPUT_LIMIT: usize = 16 * 1024;

/// How long a stopped command's processes get between SIGTERM and SIGKILL.
pub const GRACE: Duration = Duration::from_secs(5);

/// How often a stopping process group is looked at.
const POLL: Duration = Duration::from_millis(20);

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

    /// How `script` ended, in the words every command provider reports:
    /// "`script` exited 2: its last line".
    pub fn outcome(&self, script: &str) -> String {
        format!("`{script}` {}: {}", self.status(), self.last_words())
    }
}

/// Masks the values of secret-looking environment variables; built once.
fn environment_masker() -> &'static Masker {
    static MASKER: OnceLock<Masker> = OnceLock::new();
    MASKER.get_or_init(|| Masker::from_env(std::env::vars()))
}

/// Runs `script` with `sh -c`, stopping its whole process group after `timeout`.
pub async fn run_shell(
    script: &str,
    env: &[(&str, String)],
    timeout: Duration,
) -> Result<Finished, ProviderError> {
    run_shell_until(script, env, timeout, std::future::pending()).await
}

/// Runs `script` like [`run_shell`]; a command that fails is an error saying
/// what it was `doing` (e.g. "setting 20%"; empty for nothing) and how the
/// script ended.
pub async fn run_script(
    script: &str,
    env: &[(&str, String)],
    timeout: Duration,
    doing: &str,
) -> Result<Finished, ProviderError> {
    let finished = run_shell(script, env, timeout).await?;
    if finished.success {
        return Ok(finished);
    }
    let outcome = finished.outcome(script);
    Err(ProviderError::new(if doing.is_empty() {
        outcome
    } else {
        format!("{doing}: {outcome}")
    }))
}

/// Like [`run_shell`], and also stops the command when `cancelled` completes.
///
/// Whether it timed out, was cancelled or exited, this returns only once no
/// process of the command's group is left: SIGTERM first, SIGKILL after
/// [`GRACE`]. Dropping the future instead kills the group at once (SIGKILL),
/// without waiting.
pub async fn run_shell_until(
    script: &str,
    env: &[(&str, String)],
    timeout: Duration,
    cancelled: impl Future<Output = ()>,
) -> Result<Finished, ProviderError> {
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(script)
        .envs(env.iter().map(|(key, value)| (*key, value)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own group: a signal to the group reaches every process it started.
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .map_err(|error| ProviderError::new(format!("cannot start `sh -c {script}`: {error}")))?;
    let Some(group) = child.id().and_then(ProcessGroup::led_by) else {
        return Err(ProviderError::new(format!(
            "`{script}` exited before its process group could be known"
        )));
    };
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    let work = async {
        let (stdout, stderr) = tokio::join!(read_capped(stdout), read_capped(stderr));
        let status = child.wait().await;
        (status, stdout, stderr)
    };
    let outcome = tokio::select! {
        finished = work => Ok(finished),
        () = tokio::time::sleep(timeout) => Err(ProviderError::new(format!(
            "`{script}` did not finish within {}",
            crate::duration::display(timeout)
        ))
        .with_hint("raise the timeout, or make the command finish sooner")),
        () = cancelled => Err(ProviderError::new(format!("`{script}` was cancelled"))),
    };
    // Whatever happened, processes the command left behind do not outlive it.
    group.stop(&mut child).await?;
    match outcome? {
        (Ok(status), stdout, stderr) => Ok(Finished {
            success: status.success(),
            code: status.code(),
            // What a command prints ends up in errors and reports: a secret
            // it echoes from the environment must not.
            stdout: environment_masker().mask(&stdout),
            stderr: environment_masker().mask(&stderr),
        }),
        (Err(error), ..) => Err(ProviderError::new(format!(
            "`{script}` could not be waited for: {error}"
        ))),
    }
}

/// The process group a command runs in. Dropped while processes are still in
/// it (the command's future was dropped), it kills them.
#[derive(Debug)]
pub struct ProcessGroup {
    id: rustix::process::Pid,
    stopped: bool,
}

impl ProcessGroup {
    /// The group whose leader is the process `pid` (spawned with `process_group(0)`).
    pub fn led_by(pid: u32) -> Option<Self> {
        let id = rustix::process::Pid::from_raw(i32::try_from(pid).ok()?)?;
        Some(Self { id, stopped: false })
    }

    pub fn id(&self) -> i32 {
        self.id.as_raw_nonzero().get()
    }

    /// Stops every process of the group: SIGTERM, SIGKILL to what is left after
    /// [`GRACE`], and returns once none is left (`leader` is reaped on the way).
    pub async fn stop(mut self, leader: &mut Child) -> Result<(), ProviderError> {
        use rustix::process::Signal;
        self.stopped = true;
        let mut leader_reaped = false;
        let mut killed = false;
        let mut deadline = tokio::time::Instant::now() + GRACE;
        let mut signal = Some(Signal::TERM);
        loop {
            if !leader_reaped {
                leader_reaped = !matches!(leader.try_wait(), Ok(None));
            }
            if leader_reaped && !self.has_members() {
                return Ok(());
            }
            if let Some(sent) = signal.take() {
                // An error only means the group emptied meanwhile.
                let _ = rustix::process::kill_process_group(self.id, sent);
            }
            if tokio::time::Instant::now() >= deadline {
                if killed {
                    return Err(ProviderError::new(format!(
                        "processes of group {} survived SIGKILL for {}",
                        self.id(),
                        crate::duration::display(GRACE)
                    ))
                    .with_hint(
                        "a process stuck in the kernel (state D) cannot be killed; check the host",
                    ));
                }
                killed = true;
                signal = Some(Signal::KILL);
                deadline = tokio::time::Instant::now() + GRACE;
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Whether a live (not zombie) process is still in the group.
    pub fn has_members(&self) -> bool {
        has_live_member(self.id())
    }
}

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        if !self.stopped {
            // Cannot wait here: kill outright, the kernel does the rest.
            let _ = rustix::process::kill_process_group(self.id, rustix::process::Signal::KILL);
        }
    }
}

/// Whether process group `group` has a member that is not a zombie. Orphans are
/// reaped by whatever adopted them, which may be slow (or never, in some
/// containers): a zombie runs nothing, so it does not count.
#[cfg(target_os = "linux")]
pub fn has_live_member(group: i32) -> bool {
    // One syscall answers the usual case, a command that left nothing behind:
    // no process at all (not even a zombie) is in the group. Scanning /proc
    // costs a read per process on the host, twice per traffic step.
    if group_is_empty(group) {
        return false;
    }
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return group_signalable(group);
    };
    entries.flatten().any(|entry| {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|name| name.parse::<u32>().ok())
        else {
            return false;
        };
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|stat| parse_stat(&stat))
            .is_some_and(|(state, pgrp)| pgrp == group && state != 'Z' && state != 'X')
    })
}

#[cfg(not(target_os = "linux"))]
pub fn has_live_member(group: i32) -> bool {
    group_signalable(group)
}

/// Whether no process at all is in `group`; a group we may not signal (a
/// member that changed user) is not empty.
#[cfg(target_os = "linux")]
fn group_is_empty(group: i32) -> bool {
    rustix::process::Pid::from_raw(group).is_none_or(|pid| {
        rustix::process::test_kill_process_group(pid) == Err(rustix::io::Errno::SRCH)
    })
}

fn group_signalable(group: i32) -> bool {
    rustix::process::Pid::from_raw(group)
        .is_some_and(|pid| rustix::process::test_kill_process_group(pid).is_ok())
}

/// The state and process group from `/proc/<pid>/stat`. The command name (field
/// 2) is in parentheses and may contain anything, so fields count from the last `)`.
pub fn parse_stat(stat: &str) -> Option<(char, i32)> {
    let (_, rest) = stat.rsplit_once(')')?;
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let _parent = fields.next()?;
    let group = fields.next()?.parse().ok()?;
    Some((state, group))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_count_from_the_last_parenthesis() {
        assert_eq!(
            parse_stat("42 (odd) name) S 1 4242 4242 0 -1"),
            Some(('S', 4242))
        );
        assert_eq!(parse_stat("garbage"), None);
    }

    /// A group is empty once its last process is reaped (the one-syscall
    /// answer), and a zombie left in it does not count (the /proc answer).
    #[cfg(target_os = "linux")]
    #[test]
    fn only_a_live_process_makes_a_group_busy() {
        use std::os::unix::process::CommandExt;
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .process_group(0)
            .spawn()
            .unwrap();
        let group = i32::try_from(child.id()).unwrap();
        assert!(has_live_member(group));
        assert!(!group_is_empty(group));
        let pid = rustix::process::Pid::from_raw(group).unwrap();
        rustix::process::kill_process(pid, rustix::process::Signal::KILL).unwrap();
        // Killed but not reaped: a zombie, still in the group.
        while std::fs::read_to_string(format!("/proc/{group}/stat"))
            .ok()
            .and_then(|stat| parse_stat(&stat))
            .is_some_and(|(state, _)| state != 'Z')
        {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(!group_is_empty(group));
        assert!(!has_live_member(group));
        child.wait().unwrap();
        assert!(group_is_empty(group));
        assert!(!has_live_member(group));
    }

    /// The group's id, written by the command itself, once it is there.
    async fn group_written_to(path: &std::path::Path) -> i32 {
        loop {
            if let Some(id) = std::fs::read_to_string(path)
                .ok()
                .and_then(|text| text.trim().parse().ok())
            {
                return id;
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// A shell whose child ignores SIGTERM and outlives it: the timeout stops
    /// the whole group, and only returns once nothing of it is left.
    #[tokio::test]
    async fn a_timeout_stops_children_that_ignore_sigterm() {
        let dir = tempfile::tempdir().unwrap();
        let pgid = dir.path().join("pgid");
        let late = dir.path().join("late");
        let script = format!(
            "echo $$ > {pgid}; (trap '' TERM; sleep 30; echo late > {late}) &              trap '' TERM; sleep 30",
            pgid = pgid.display(),
            late = late.display()
        );
        let run = run_shell(&script, &[], Duration::from_millis(300));
        let (result, group) = tokio::join!(run, group_written_to(&pgid));
        let error = result.unwrap_err();
        assert!(error.message.contains("did not finish within"), "{error}");
        assert!(!has_live_member(group), "group {group} still has processes");
        assert!(!late.exists());
    }

    #[tokio::test]
    async fn cancelling_stops_the_group_before_returning() {
        let dir = tempfile::tempdir().unwrap();
        let pgid = dir.path().join("pgid");
        let script = format!("echo $$ > {}; sleep 30 & wait", pgid.display());
        let cancel = async {
            group_written_to(&pgid).await;
        };
        let error = run_shell_until(&script, &[], Duration::from_secs(60), cancel)
            .await
            .unwrap_err();
        assert!(error.message.contains("was cancelled"), "{error}");
        let group = group_written_to(&pgid).await;
        assert!(!has_live_member(group));
    }

    #[tokio::test]
    async fn what_a_finished_command_left_running_is_stopped() {
        let dir = tempfile::tempdir().unwrap();
        let pgid = dir.path().join("pgid");
        let script = format!(
            "echo $$ > {}; sleep 30 > /dev/null 2>&1 & echo done",
            pgid.display()
        );
        let finished = run_shell(&script, &[], Duration::from_secs(60))
            .await
            .unwrap();
        assert!(finished.success);
        assert_eq!(finished.stdout.trim(), "done");
        let group = group_written_to(&pgid).await;
        assert!(!has_live_member(group));
    }
}
