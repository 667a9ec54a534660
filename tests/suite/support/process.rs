//! Child processes that are killed and reaped when their guard drops.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// Fails the test (never skips) when `program` is not on PATH.
pub fn require_program(program: &str, package: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| {
            panic!(
                "`{program}` is not installed; these tests need the real program: \
                 apt-get update && apt-get install -y --no-install-recommends {package}"
            )
        })
}

/// A running child with its output in files (so a chatty child never blocks on a full pipe).
pub struct ChildGuard {
    child: Option<Child>,
    log: PathBuf,
}

impl ChildGuard {
    pub fn spawn(name: &str, mut command: Command, log_dir: &Path) -> ChildGuard {
        let log = log_dir.join(format!("{name}.log"));
        let out = File::create(&log).unwrap_or_else(|e| panic!("cannot create {log:?}: {e}"));
        let err = out
            .try_clone()
            .unwrap_or_else(|e| panic!("cannot clone the log file handle: {e}"));
        command
            .stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err));
        let child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        ChildGuard {
            child: Some(child),
            log,
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// How the child ended and what it said, once it has exited; None while it runs.
    pub fn exit(&mut self) -> Option<String> {
        let status = self.child.as_mut()?.try_wait().ok()??;
        Some(format!(
            "exited early ({status}); its output:\n{}",
            self.log()
        ))
    }

    /// Kills the child and waits for it to be gone.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        self.stop();
    }
}
