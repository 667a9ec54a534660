//! Smoke checks: the new version must answer before it gets any user traffic.

use std::time::{Duration, Instant};

use async_trait::async_trait;

use crate::engine::SmokeResult;
use crate::process::run_shell;
use crate::release::Release;
use crate::spec::types::{HttpCheck, SmokeCheck};

#[async_trait]
pub trait SmokeChecks: Send + Sync {
    async fn run_all(&self) -> Vec<SmokeResult>;
}

pub struct SmokeSuite {
    checks: Vec<SmokeCheck>,
    release: Release,
    http: reqwest::Client,
}

/// First wait between attempts; doubles up to `MAX_BACKOFF`.
const FIRST_BACKOFF: Duration = Duration::from_millis(200);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

impl SmokeSuite {
    pub fn new(checks: Vec<SmokeCheck>, release: Release, http: reqwest::Client) -> Self {
        Self {
            checks,
            release,
            http,
        }
    }

    /// Retries a failing check with backoff until its timeout.
    async fn run_one(&self, check: &SmokeCheck) -> SmokeResult {
        let deadline = Instant::now() + check.timeout.get();
        let mut backoff = FIRST_BACKOFF;
        let mut attempts = 0u32;
        loop {
            attempts += 1;
            let remaining = deadline.saturating_duration_since(Instant::now());
            let outcome = match (&check.http, &check.command) {
                (Some(http), _) => self.http_once(http, remaining).await,
                (None, Some(command)) => self.command_once(command, remaining).await,
                (None, None) => Err("the check has neither `http` nor `command`".to_owned()),
            };
            match outcome {
                Ok(detail) => {
                    return SmokeResult {
                        check: check.name.clone(),
                        passed: true,
                        detail,
                    };
                }
                Err(detail) if Instant::now() + backoff >= deadline => {
                    return SmokeResult {
                        check: check.name.clone(),
                        passed: false,
                        detail: format!("{detail} (after {attempts} attempt(s))"),
                    };
                }
                Err(_) => {
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
    }

    async fn http_once(&self, check: &HttpCheck, timeout: Duration) -> Result<String, String> {
        let response = self
            .http
            .get(&check.url)
            .timeout(timeout.max(Duration::from_millis(100)))
            .send()
            .await
            .map_err(|error| format!("GET {}: {error}", check.url))?;
        let status = response.status().as_u16();
        if status == check.expect_status {
            Ok(format!("GET {} answered {status}", check.url))
        } else {
            Err(format!(
                "GET {} answered {status}, expected {}",
                check.url, check.expect_status
            ))
        }
    }

    async fn command_once(&self, command: &str, timeout: Duration) -> Result<String, String> {
        let mut env = self.release.env();
        env.push(("GREENLIGHT_VERSION", self.release.new_version.clone()));
        let finished = run_shell(command, &env, timeout.max(Duration::from_millis(100)))
            .await
            .map_err(|error| error.to_string())?;
        if finished.success {
            Ok(format!("`{command}` exited 0"))
        } else {
            Err(format!(
                "`{command}` {}: {}",
                finished.status(),
                finished.last_words()
            ))
        }
    }
}

#[async_trait]
impl SmokeChecks for SmokeSuite {
    async fn run_all(&self) -> Vec<SmokeResult> {
        let mut results = Vec::with_capacity(self.checks.len());
        for check in &self.checks {
            results.push(self.run_one(check).await);
        }
        results
    }
}
