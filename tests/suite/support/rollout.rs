//! A whole HAProxy rollout through the real binary: a stable and a new app server behind a
//! real HAProxy, a real Prometheus scraping HAProxy's exporter, steady load through the
//! frontend, and a spec with a command target that logs what it is asked to do.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use greenlight::sandbox::{AppServer, Faults, LoadGenerator};
use tempfile::TempDir;

use super::haproxy::{BACKEND, Haproxy};
use super::prometheus::Prometheus;

/// How long a rollout may take before the test gives up on it.
pub const RUN_TIMEOUT: Duration = Duration::from_secs(60);

/// Requests per second through HAProxy: enough for a 3 s rate window to see a 20% fault.
const LOAD_RATE: u32 = 40;

pub struct HaproxyRollout {
    // Stopped first, so nothing talks to a server that is gone.
    _load: LoadGenerator,
    pub prometheus: Prometheus,
    pub haproxy: Haproxy,
    _stable: AppServer,
    _new: AppServer,
    pub dir: TempDir,
}

/// The shape of the canary; the holds decide how long a run takes.
pub struct Steps {
    pub hold: &'static str,
    pub consecutive_error_limit: u32,
    /// The PromQL of a wait-until gate (`max: 0`) that guards retiring a version.
    pub before_retire: Option<&'static str>,
}

impl Default for Steps {
    fn default() -> Self {
        Self {
            hold: "2s",
            consecutive_error_limit: 3,
            before_retire: None,
        }
    }
}

impl HaproxyRollout {
    /// Everything up, all traffic on stable1, and Prometheus holding a first sample.
    pub async fn start(new_faults: Faults) -> HaproxyRollout {
        let stable = app("v1", Faults::NONE).await;
        let new = app("v2", new_faults).await;
        let haproxy = Haproxy::start(
            &[("stable1".to_owned(), stable.addr(), 256)],
            &[("new1".to_owned(), new.addr(), 0)],
        )
        .await;
        let prometheus = Prometheus::start(haproxy.metrics).await;
        let load = LoadGenerator::start(&format!("http://{}/", haproxy.web), LOAD_RATE)
            .await
            .unwrap_or_else(|e| panic!("cannot start the load: {e}"));
        HaproxyRollout {
            _load: load,
            prometheus,
            haproxy,
            _stable: stable,
            _new: new,
            dir: tempfile::tempdir().unwrap_or_else(|e| panic!("no temp dir: {e}")),
        }
    }

    /// Writes the spec with `promql` as the error-rate gate's query and `socket` as the
    /// runtime API, and returns its path.
    pub fn spec(&self, socket: &str, promql: &str, steps: &Steps) -> PathBuf {
        let dir = self.dir.path().display();
        let spec = format!(
            r#"apiVersion: greenlight.dev/v1alpha1
kind: Rollout
metadata:
  name: app
target:
  command:
    deploy: echo deploy $GREENLIGHT_VERSION >> {dir}/log
    retire: echo retire $GREENLIGHT_VERSION >> {dir}/log
router:
  haproxy:
    socket: {socket}
    backend: {BACKEND}
    stableServers: [stable1]
    newServers: [new1]
    drain: {{timeout: 5s, interval: 200ms}}
strategy:
  canary:
    steps:
      - {{weight: 20, hold: {hold}}}
      - {{weight: 50, hold: {hold}}}
analysis:
  interval: 1s
  consecutiveErrorLimit: {errors}
  prometheus:
    address: {prometheus}
    timeout: 2s
  metrics:
    - name: error-rate
      query:
        prometheus: '{promql}'
      max: 0.05
{before_retire}state:
  file: {dir}/state.json
"#,
            before_retire = steps.before_retire.map_or(String::new(), |promql| format!(
                "  beforeRetire:\n    - name: pending-work\n      query:\n        prometheus: '{promql}'\n      max: 0\n      timeout: 20s\n      interval: 500ms\n"
            )),
            hold = steps.hold,
            errors = steps.consecutive_error_limit,
            prometheus = self.prometheus.url(),
        );
        let path = self.dir.path().join("greenlight.yaml");
        std::fs::write(&path, spec).unwrap_or_else(|e| panic!("cannot write {path:?}: {e}"));
        path
    }

    /// The error-rate of the new servers over 3 s, as a user would write it.
    pub fn error_rate() -> &'static str {
        r#"sum(rate(haproxy_server_http_responses_total{proxy="app",server=~"{{ servers.new | join("|") }}",code="5xx"}[3s])) / sum(rate(haproxy_server_http_responses_total{proxy="app",server=~"{{ servers.new | join("|") }}"}[3s]))"#
    }

    pub fn admin_socket(&self) -> String {
        self.haproxy.socket.display().to_string()
    }

    /// `greenlight run` on `spec`, v1 → v2, writing the JSON report.
    pub fn command(&self, spec: &Path) -> tokio::process::Command {
        self.command_for("run", spec)
    }

    /// `greenlight <verb>` on `spec`, v1 → v2, writing the JSON report.
    pub fn command_for(&self, verb: &str, spec: &Path) -> tokio::process::Command {
        let mut command = super::binary::Greenlight::on(verb, spec).into_tokio();
        command
            .args(["--version", "v2", "--stable-version", "v1", "--report"])
            .arg(self.report_path())
            .kill_on_drop(true);
        command
    }

    /// Runs to the end; the child is killed if the test gives up or panics.
    pub async fn run(&self, spec: &Path) -> Output {
        self.run_verb("run", spec).await
    }

    /// Runs `greenlight <verb>` to the end, like [`Self::run`].
    pub async fn run_verb(&self, verb: &str, spec: &Path) -> Output {
        match tokio::time::timeout(RUN_TIMEOUT, self.command_for(verb, spec).output()).await {
            Ok(output) => output.unwrap_or_else(|e| panic!("cannot run greenlight: {e}")),
            Err(_) => panic!("greenlight did not finish within {RUN_TIMEOUT:?}"),
        }
    }

    pub fn report_path(&self) -> PathBuf {
        self.dir.path().join("report.json")
    }

    pub fn report(&self) -> serde_json::Value {
        let path = self.report_path();
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("no report {path:?}: {e}"));
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("bad report: {e}"))
    }

    /// What the command target was asked to do, one line each.
    pub fn target_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("log")).unwrap_or_default()
    }

    /// `srv_uweight` of stable1 and new1, read from HAProxy itself.
    pub fn weights(&self) -> (u16, u16) {
        let weights = self.haproxy.weights();
        let of = |name: &str| {
            weights
                .iter()
                .find(|(server, _)| server == name)
                .map(|(_, weight)| *weight)
                .unwrap_or_else(|| panic!("no {name} in {weights:?}"))
        };
        (of("stable1"), of("new1"))
    }
}

async fn app(version: &str, faults: Faults) -> AppServer {
    AppServer::start(version, faults)
        .await
        .unwrap_or_else(|e| panic!("cannot start app {version}: {e}"))
}

/// Output of the binary, for assertion messages.
pub fn describe(output: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}
