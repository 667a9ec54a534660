//! The rollout's lock: who holds it, until when, and when another job may take
//! it over. Stores implement it with compare-and-swap (an exclusive file, a
//! Kubernetes Lease); the rules for taking over a lock live here, once.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

/// How long a lock lasts without renewal: long enough to survive a slow
/// store, short enough that a runner that died frees it within a minute.
pub const LOCK_DURATION: Duration = Duration::from_secs(60);

/// Who runs a rollout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Holder {
    /// For people: the CI run URL with its attempt and job, or host and pid.
    pub name: String,
    pub host: String,
    pub pid: u32,
    /// The CI job this holder runs as, when it runs in one: a re-run of the
    /// same job takes its lock over at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ci: Option<CiJob>,
}

/// One CI job across its re-runs: GitHub's run and job with the run attempt,
/// GitLab's pipeline and job name with the job id (a retried job gets a new,
/// larger id in the same pipeline).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CiJob {
    /// The same for every attempt of the job.
    pub job: String,
    /// Larger for a later attempt.
    pub attempt: u64,
}

impl CiJob {
    /// The job this process runs as, if the CI system says enough.
    pub fn of_this_process(lookup: &impl Fn(&str) -> Option<String>) -> Option<Self> {
        let value = |name: &str| lookup(name).filter(|value| !value.is_empty());
        let is = |name: &str| value(name).is_some_and(|value| value == "true");
        let (run, job, attempt) = if is("GITHUB_ACTIONS") {
            (
                crate::forge::detect(lookup).run_url?,
                value("GITHUB_JOB")?,
                value("GITHUB_RUN_ATTEMPT")?,
            )
        } else if is("GITLAB_CI") {
            (
                value("CI_PIPELINE_URL").or_else(|| value("CI_PIPELINE_ID"))?,
                value("CI_JOB_NAME")?,
                value("CI_JOB_ID")?,
            )
        } else {
            return None;
        };
        Some(Self {
            job: format!("{run} job {job}"),
            attempt: attempt.parse().ok()?,
        })
    }

    /// Whether `self` is a later attempt of `earlier`'s job.
    pub fn reruns(&self, earlier: &CiJob) -> bool {
        self.job == earlier.job && self.attempt > earlier.attempt
    }
}

impl Holder {
    /// This process, named after the CI job it runs in (`lookup` reads the
    /// environment).
    pub fn of_this_process(lookup: impl Fn(&str) -> Option<String>) -> Self {
        let host = this_host(&lookup);
        let pid = std::process::id();
        let job = ci_job(&lookup);
        let name = match job {
            Some(job) => format!("{job} (on {host}, pid {pid})"),
            None => format!("{host}:{pid}"),
        };
        Self {
            name,
            host,
            pid,
            ci: CiJob::of_this_process(&lookup),
        }
    }

    /// Whether `self` is a later attempt of the CI job `earlier` runs as:
    /// that attempt was cancelled or failed, so its lock is free at once.
    pub fn reruns(&self, earlier: &Holder) -> bool {
        matches!((&self.ci, &earlier.ci), (Some(mine), Some(theirs)) if mine.reruns(theirs))
    }

    /// Whether this holder is known to be gone: a process on this host that no
    /// longer runs. Elsewhere, only the lock's expiry can tell.
    pub fn is_gone(&self, here: &Holder) -> bool {
        self.host == here.host && self.pid != here.pid && !process_runs(self.pid)
    }
}

/// "<run URL> attempt <n> job <id>", naming the one CI job (two jobs of one
/// run, or two attempts, are different holders).
fn ci_job(lookup: &impl Fn(&str) -> Option<String>) -> Option<String> {
    let facts = crate::forge::detect(lookup);
    let url = facts.run_url?;
    let parts = match facts.provider.as_str() {
        "github" => [("attempt", "GITHUB_RUN_ATTEMPT"), ("job", "GITHUB_JOB")],
        "gitlab" => [("pipeline", "CI_PIPELINE_ID"), ("job", "CI_JOB_ID")],
        _ => return Some(url),
    };
    let mut name = url;
    for (label, variable) in parts {
        if let Some(value) = lookup(variable).filter(|value| !value.is_empty()) {
            name.push_str(&format!(" {label} {value}"));
        }
    }
    Some(name)
}

fn this_host(lookup: &impl Fn(&str) -> Option<String>) -> String {
    lookup("HOSTNAME")
        .filter(|name| !name.is_empty())
        .or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|name| name.trim().to_owned())
                .filter(|name| !name.is_empty())
        })
        .unwrap_or_else(|| "localhost".to_owned())
}

/// Whether `pid` runs on this host; where that cannot be told (no /proc), it
/// is assumed to run, so only expiry frees its lock.
fn process_runs(pid: u32) -> bool {
    let proc = std::path::Path::new("/proc");
    !proc.join("self").exists() || proc.join(pid.to_string()).exists()
}

/// A lock as a store holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lock {
    pub holder: Holder,
    /// Unique to one acquisition, so a holder never mistakes another's lock
    /// (same CI run, same name) for its own.
    pub token: String,
    pub renewed_at: SystemTime,
    pub duration: Duration,
}

impl Lock {
    pub fn new(holder: Holder, now: SystemTime, duration: Duration) -> Self {
        Self {
            token: fresh_token(&holder, now),
            holder,
            renewed_at: now,
            duration,
        }
    }

    pub fn expires_at(&self) -> SystemTime {
        self.renewed_at + self.duration
    }

    /// Why `here` may take this lock over at `now`, or `None` while it is held.
    pub fn takeover(&self, here: &Holder, now: SystemTime, force: bool) -> Option<Takeover> {
        if now >= self.expires_at() {
            Some(Takeover::Expired)
        } else if self.holder.is_gone(here) {
            Some(Takeover::HolderGone)
        } else if here.reruns(&self.holder) {
            Some(Takeover::Rerun)
        } else if force {
            Some(Takeover::Forced)
        } else {
            None
        }
    }

    /// "held by X until T", for messages.
    pub fn describe(&self) -> String {
        format!(
            "held by {} until {}",
            self.holder.name,
            crate::clock::rfc3339_millis(self.expires_at())
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Takeover {
    Expired,
    HolderGone,
    /// A later attempt of the same CI job.
    Rerun,
    Forced,
}

/// What asking for the lock gave.
#[derive(Debug)]
pub enum Acquired {
    /// Ours, with the store's version of it for the next compare-and-swap.
    Taken { lock: Held, over: Option<Lock> },
    /// Someone else's, unexpired.
    Busy(Lock),
}

/// A lock this process holds.
#[derive(Debug, Clone)]
pub struct Held {
    pub lock: Lock,
    /// What the store compares on the next write (a resourceVersion, the token).
    pub version: String,
}

/// What a store needs to acquire the lock.
#[derive(Debug, Clone)]
pub struct Request {
    pub holder: Holder,
    pub now: SystemTime,
    pub duration: Duration,
    /// Take the lock even from a live holder (a person said that job is stopped).
    pub force: bool,
}

fn fresh_token(holder: &Holder, now: SystemTime) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    let wall = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    format!(
        "{}-{}-{nanos:x}-{wall:x}-{}",
        holder.host,
        holder.pid,
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// The lock as JSON, the way the file store writes it.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct LockDocument {
    pub holder: Holder,
    pub token: String,
    pub renewed_at: String,
    pub duration_seconds: u64,
    pub expires_at: String,
}

impl From<&Lock> for LockDocument {
    fn from(lock: &Lock) -> Self {
        Self {
            holder: lock.holder.clone(),
            token: lock.token.clone(),
            renewed_at: crate::clock::rfc3339_millis(lock.renewed_at),
            duration_seconds: lock.duration.as_secs(),
            expires_at: crate::clock::rfc3339_millis(lock.expires_at()),
        }
    }
}

impl TryFrom<LockDocument> for Lock {
    type Error = String;
    fn try_from(document: LockDocument) -> Result<Self, String> {
        let renewed_at = humantime::parse_rfc3339(&document.renewed_at)
            .map_err(|error| format!("renewedAt `{}`: {error}", document.renewed_at))?;
        Ok(Self {
            holder: document.holder,
            token: document.token,
            renewed_at,
            duration: Duration::from_secs(document.duration_seconds),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn holder(host: &str, pid: u32) -> Holder {
        Holder {
            name: format!("{host}:{pid}"),
            host: host.into(),
            pid,
            ci: None,
        }
    }

    const START: Duration = Duration::from_secs(1_800_000_000);

    #[test]
    fn an_unexpired_lock_of_a_live_holder_is_taken_over_only_by_force() {
        let now = SystemTime::UNIX_EPOCH + START;
        let lock = Lock::new(holder("elsewhere", 1), now, LOCK_DURATION);
        let here = holder("runner", 2);
        let later = now + LOCK_DURATION - Duration::from_secs(1);
        assert_eq!(lock.takeover(&here, later, false), None);
        assert_eq!(lock.takeover(&here, later, true), Some(Takeover::Forced));
        assert_eq!(
            lock.takeover(&here, now + LOCK_DURATION, false),
            Some(Takeover::Expired)
        );
    }

    #[test]
    fn a_holder_on_this_host_that_no_longer_runs_is_gone() {
        let now = SystemTime::UNIX_EPOCH + START;
        let here = Holder::of_this_process(|_| None);
        // Our own parent runs; pid 0 is never a process of ours in /proc.
        let alive = Holder {
            pid: std::os::unix::process::parent_id(),
            ..here.clone()
        };
        let dead = Holder {
            pid: u32::MAX - 1,
            ..here.clone()
        };
        assert_eq!(
            Lock::new(alive, now, LOCK_DURATION).takeover(&here, now, false),
            None
        );
        assert_eq!(
            Lock::new(dead.clone(), now, LOCK_DURATION).takeover(&here, now, false),
            Some(Takeover::HolderGone)
        );
        // On another host the same pid proves nothing.
        let remote = Holder {
            host: "another-runner".into(),
            ..dead
        };
        assert_eq!(
            Lock::new(remote, now, LOCK_DURATION).takeover(&here, now, false),
            None
        );
    }

    #[test]
    fn two_jobs_of_one_ci_run_are_different_holders() {
        let env = |job: &'static str| {
            move |name: &str| {
                match name {
                    "GITHUB_ACTIONS" => Some("true"),
                    "GITHUB_SERVER_URL" => Some("https://github.com"),
                    "GITHUB_REPOSITORY" => Some("acme/shop"),
                    "GITHUB_RUN_ID" => Some("42"),
                    "GITHUB_RUN_ATTEMPT" => Some("2"),
                    "GITHUB_JOB" => Some(job),
                    "HOSTNAME" => Some("runner-7"),
                    _ => None,
                }
                .map(str::to_owned)
            }
        };
        let deploy = Holder::of_this_process(env("deploy"));
        assert!(
            deploy
                .name
                .starts_with("https://github.com/acme/shop/actions/runs/42 attempt 2 job deploy"),
            "{}",
            deploy.name
        );
        assert_ne!(deploy.name, Holder::of_this_process(env("canary")).name);
    }

    #[test]
    fn a_later_attempt_of_the_same_ci_job_takes_the_lock_over_at_once() {
        let github = |attempt: &'static str, job: &'static str, host: &'static str| {
            move |name: &str| {
                match name {
                    "GITHUB_ACTIONS" => Some("true"),
                    "GITHUB_SERVER_URL" => Some("https://github.com"),
                    "GITHUB_REPOSITORY" => Some("acme/shop"),
                    "GITHUB_RUN_ID" => Some("42"),
                    "GITHUB_RUN_ATTEMPT" => Some(attempt),
                    "GITHUB_JOB" => Some(job),
                    "HOSTNAME" => Some(host),
                    _ => None,
                }
                .map(str::to_owned)
            }
        };
        let now = SystemTime::UNIX_EPOCH + START;
        let first = Lock::new(
            Holder::of_this_process(github("1", "deploy", "runner-1")),
            now,
            LOCK_DURATION,
        );
        let again = Holder::of_this_process(github("2", "deploy", "runner-2"));
        assert_eq!(first.takeover(&again, now, false), Some(Takeover::Rerun));
        // Another job of the run, or the same attempt, waits.
        let other_job = Holder::of_this_process(github("2", "canary", "runner-2"));
        assert_eq!(first.takeover(&other_job, now, false), None);
        let same = Holder::of_this_process(github("1", "deploy", "runner-2"));
        assert_eq!(first.takeover(&same, now, false), None);

        let gitlab = |job_id: &'static str, job: &'static str| {
            move |name: &str| {
                match name {
                    "GITLAB_CI" => Some("true"),
                    "CI_PIPELINE_URL" => Some("https://gitlab.com/acme/shop/-/pipelines/9"),
                    "CI_JOB_URL" => Some("https://gitlab.com/acme/shop/-/jobs/x"),
                    "CI_PIPELINE_ID" => Some("9"),
                    "CI_JOB_NAME" => Some(job),
                    "CI_JOB_ID" => Some(job_id),
                    "HOSTNAME" => Some("gl-runner"),
                    _ => None,
                }
                .map(str::to_owned)
            }
        };
        let first = Lock::new(
            Holder::of_this_process(gitlab("100", "deploy")),
            now,
            LOCK_DURATION,
        );
        let retried = Holder::of_this_process(gitlab("107", "deploy"));
        assert_eq!(first.takeover(&retried, now, false), Some(Takeover::Rerun));
        let sibling = Holder::of_this_process(gitlab("101", "smoke"));
        assert_eq!(first.takeover(&sibling, now, false), None);
    }

    #[test]
    fn the_document_keeps_the_lock() {
        let now = SystemTime::UNIX_EPOCH + START;
        let lock = Lock::new(holder("h", 3), now, LOCK_DURATION);
        let text = serde_json::to_string(&LockDocument::from(&lock)).unwrap();
        let back: LockDocument = serde_json::from_str(&text).unwrap();
        assert_eq!(Lock::try_from(back).unwrap(), lock);
        assert!(
            text.contains("\"expiresAt\":\"2027-01-15T08:01:00.000Z\""),
            "{text}"
        );
    }
}
