//! The one way tests run the greenlight binary. Every command starts without
//! any CI system's variables (GitHub Actions, GitLab CI, runners, tokens, and
//! greenlight's own settings), so a suite that itself runs in a CI job never
//! writes into that job's step summary, outputs, pull request or merge
//! request. A test that plays a CI job sets those variables on top.
//!
//! Every file the binary can write for a CI system or a reader goes into the
//! run's own folder unless the test names another: `GITHUB_STEP_SUMMARY`,
//! `GITHUB_OUTPUT`, `--report` and `--summary` (for the commands that take
//! them), and GitLab's JUnit and dotenv files (written in the working
//! directory, so a GitLab job without one runs in that folder). `.run()`
//! returns them with the exit status and the output (`Run`).
//!
//! `Greenlight::new()` dereferences to the `std::process::Command`, so the
//! usual builder calls chain (`.arg(..)`, `.env(..)`, `.current_dir(..)`),
//! and `assert_cmd`'s `.assert()` works on it.

use std::ffi::OsStr;
use std::ops::{Deref, DerefMut};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};

use tempfile::TempDir;

pub struct Greenlight {
    command: Command,
    /// The run's own folder for the files it writes.
    files: TempDir,
}

/// What one run of the binary left: its status, its output, and each file
/// it wrote for a CI system or a reader (`None`: not written).
#[derive(Debug)]
pub struct Run {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
    /// The GitHub job summary (`GITHUB_STEP_SUMMARY`).
    pub summary: Option<String>,
    /// `GITHUB_OUTPUT`, as written.
    pub outputs: Option<String>,
    /// The JSON report (`--report`).
    pub report: Option<serde_json::Value>,
    /// The Markdown summary (`--summary`).
    pub markdown: Option<String>,
    /// GitLab's JUnit report.
    pub junit: Option<String>,
    /// GitLab's dotenv report.
    pub dotenv: Option<String>,
}

impl Run {
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }
}

/// Commands that take `--report` and `--summary`.
const REPORTING: [&str; 6] = ["run", "plan", "promote", "rollback", "abort", "status"];
/// Where the binary writes GitLab's reports: the working directory.
const JUNIT_FILE: &str = "greenlight-junit.xml";
const DOTENV_FILE: &str = "greenlight.env";

impl Greenlight {
    pub fn new() -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_greenlight"));
        for (name, _) in std::env::vars_os() {
            if name.to_str().is_some_and(is_ci_variable) {
                command.env_remove(&name);
            }
        }
        let files = tempfile::Builder::new()
            .prefix("greenlight-run-")
            .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
            .expect("a folder for the run's files");
        command
            .env("GITHUB_STEP_SUMMARY", files.path().join("step_summary.md"))
            .env("GITHUB_OUTPUT", files.path().join("github_output"));
        Self { command, files }
    }

    /// `greenlight VERB -f SPEC`.
    pub fn on(verb: &str, spec: impl AsRef<OsStr>) -> Self {
        let mut command = Self::new();
        command.arg(verb).arg("-f").arg(spec);
        command
    }

    /// Runs the binary to its end and collects what it wrote.
    pub fn run(mut self) -> Run {
        self.point_files_here();
        let output = self.command.output().expect("greenlight runs");
        let env = |name: &str| -> Option<PathBuf> {
            self.command
                .get_envs()
                .find(|(key, _)| *key == name)
                .and_then(|(_, value)| value.map(PathBuf::from))
        };
        let arg = |flag: &str| -> Option<PathBuf> {
            let args: Vec<&OsStr> = self.command.get_args().collect();
            args.windows(2)
                .find(|pair| pair[0] == flag)
                .map(|pair| self.in_working_dir(Path::new(pair[1])))
        };
        let working_dir = self.working_dir();
        let read = |path: Option<PathBuf>| path.and_then(|path| std::fs::read_to_string(path).ok());
        Run {
            status: output.status,
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            summary: read(env("GITHUB_STEP_SUMMARY")),
            outputs: read(env("GITHUB_OUTPUT")),
            report: read(arg("--report")).and_then(|text| serde_json::from_str(&text).ok()),
            markdown: read(arg("--summary")),
            junit: read(working_dir.as_ref().map(|dir| dir.join(JUNIT_FILE))),
            dotenv: read(working_dir.as_ref().map(|dir| dir.join(DOTENV_FILE))),
        }
    }

    /// The command, for tests that spawn it themselves (to signal it, or
    /// to wait on it from async code). They add their arguments afterwards,
    /// so the report flags are theirs to give; the GitHub files still go to
    /// the run's folder, kept (under Cargo's temporary folder) since the
    /// process may outlive this value.
    pub fn into_std(self) -> Command {
        let _kept = self.files.keep();
        self.command
    }

    pub fn into_tokio(self) -> tokio::process::Command {
        tokio::process::Command::from(self.into_std())
    }

    /// Adds `--report` and `--summary` in the run's folder to a command that
    /// takes them and was not given them, and runs a GitLab job without a
    /// working directory in that folder.
    fn point_files_here(&mut self) {
        let args: Vec<String> = self
            .command
            .get_args()
            .map(|arg| arg.to_string_lossy().into_owned())
            .collect();
        if args
            .first()
            .is_some_and(|verb| REPORTING.contains(&verb.as_str()))
        {
            for (flag, file) in [("--report", "report.json"), ("--summary", "summary.md")] {
                if !args.iter().any(|arg| arg == flag) {
                    let path = self.files.path().join(file);
                    self.command.arg(flag).arg(path);
                }
            }
        }
        let on_gitlab = self
            .command
            .get_envs()
            .any(|(name, value)| name == "GITLAB_CI" && value.is_some());
        if on_gitlab && self.command.get_current_dir().is_none() {
            let dir = self.files.path().to_owned();
            self.command.current_dir(dir);
        }
    }

    /// Where the run's relative paths point: the test's working directory,
    /// else the suite's.
    fn working_dir(&self) -> Option<PathBuf> {
        match self.command.get_current_dir() {
            Some(dir) => Some(dir.to_owned()),
            None => std::env::current_dir().ok(),
        }
    }

    fn in_working_dir(&self, path: &Path) -> PathBuf {
        match self.working_dir() {
            Some(dir) if path.is_relative() => dir.join(path),
            _ => path.to_owned(),
        }
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
        &self.command
    }
}

impl DerefMut for Greenlight {
    fn deref_mut(&mut self) -> &mut Command {
        &mut self.command
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

#[test]
fn a_run_writes_its_files_into_its_own_folder() {
    let mut command = Greenlight::on("plan", "greenlight.yaml");
    command.point_files_here();
    let files = command.files.path();
    let args: Vec<String> = command
        .get_args()
        .map(|arg| arg.to_string_lossy().into_owned())
        .collect();
    for (flag, file) in [("--report", "report.json"), ("--summary", "summary.md")] {
        assert!(
            args.windows(2)
                .any(|pair| pair[0] == flag && Path::new(&pair[1]) == files.join(file)),
            "{args:?}"
        );
    }
    let summary = command
        .get_envs()
        .find(|(name, _)| *name == "GITHUB_STEP_SUMMARY")
        .and_then(|(_, value)| value.map(PathBuf::from));
    assert_eq!(summary, Some(files.join("step_summary.md")));
}
