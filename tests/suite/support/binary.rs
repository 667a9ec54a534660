//! The one way tests run the greenlight binary. Every command starts without
//! any CI system's variables (GitHub Actions, GitLab CI, runners, tokens, and
//! greenlight's own settings), so a suite that itself runs in a CI job never
//! writes into that job's step summary, outputs, pull request or merge
//! request. A test that plays a CI job sets those variables on top.
//!
//! `Greenlight::new()` dereferences to the `std::process::Command`, so the
//! usual builder calls chain (`.arg(..)`, `.env(..)`, `.current_dir(..)`),
//! and `assert_cmd`'s `.assert()` works on it.

use std::ffi::OsStr;
use std::ops::{Deref, DerefMut};
use std::process::Command;

pub struct Greenlight(Command);

impl Greenlight {
    pub fn new() -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_greenlight"));
        for (name, _) in std::env::vars_os() {
            if name.to_str().is_some_and(is_ci_variable) {
                command.env_remove(&name);
            }
        }
        Self(command)
    }

    /// `greenlight VERB -f SPEC`.
    pub fn on(verb: &str, spec: impl AsRef<OsStr>) -> Self {
        let mut command = Self::new();
        command.arg(verb).arg("-f").arg(spec);
        command
    }

    /// The command, for tests that spawn it themselves (to signal it, or
    /// to wait on it from async code).
    pub fn into_std(self) -> Command {
        self.0
    }

    pub fn into_tokio(self) -> tokio::process::Command {
        tokio::process::Command::from(self.0)
    }
}

impl Default for Greenlight {
    fn default() -> Self {
        Self::new()
    }
}

impl Deref for Greenlight {
    type Target = Command;
    fn deref(&self) -> &Command {
        &self.0
    }
}

impl DerefMut for Greenlight {
    fn deref_mut(&mut self) -> &mut Command {
        &mut self.0
    }
}

/// Variables that tell the binary it runs in a CI job, or configure what it
/// writes there.
fn is_ci_variable(name: &str) -> bool {
    name == "CI"
        || [
            "GITHUB_",
            "GITLAB_",
            "CI_",
            "RUNNER_",
            "ACTIONS_",
            "GREENLIGHT_",
        ]
        .iter()
        .any(|prefix| name.starts_with(prefix))
}

#[test]
fn the_ci_environment_never_reaches_the_binary() {
    for name in [
        "CI",
        "GITHUB_ACTIONS",
        "GITHUB_STEP_SUMMARY",
        "GITHUB_OUTPUT",
        "GITLAB_CI",
        "CI_JOB_TOKEN",
        "GREENLIGHT_GITHUB_TOKEN",
    ] {
        assert!(is_ci_variable(name), "{name}");
    }
    for name in ["PATH", "HOME", "KUBECONFIG", "TMPDIR"] {
        assert!(!is_ci_variable(name), "{name}");
    }
}
