//! Command-line definitions.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "greenlight",
    version,
    about = "Progressive delivery from CI: canary and blue/green releases gated on metrics",
    after_help = "Exit codes: 0 done as asked, 1 usage/spec/provider error, 2 a gate failed and traffic was rolled back, 3 halted (needs a person)."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Roll out a new version: deploy, smoke-test, shift traffic step by step, promote or roll back.
    Run(RunArgs),
    /// Print each step and the exact change each provider would make; touches nothing.
    Plan(RolloutArgs),
    /// Check the spec, its templates and each provider's settings, without any network
    /// (with --live, also the router's object on its cluster).
    Validate(ValidateArgs),
    /// Print the JSON Schema of the rollout spec.
    Schema,
    /// Send all traffic to the new version of the rollout in progress (or halted) at once.
    Promote(ManualArgs),
    /// Put all traffic back on the stable version and remove the new one; with --version V
    /// (not the stable one), switch all traffic to V at once.
    Rollback(ManualArgs),
    /// Stop the rollout in progress: all traffic back on stable, the new version left running.
    Abort(ManualArgs),
    /// Show the recorded state of the rollout and the weight the router reports now.
    Status(ManualArgs),
    /// Run a real canary against a local sandbox: two versions, a weighted proxy, live load.
    Demo(DemoArgs),
}

#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub rollout: RolloutArgs,
    /// When a rollout of another version is still in progress (its job gone), roll it
    /// back first (traffic back on stable, that version removed), then roll this one out.
    #[arg(long)]
    pub supersede: bool,
    /// How long each router write of the rollback may take once the job is cancelled
    /// (SIGINT/SIGTERM): keep it well inside the time the runner waits before SIGKILL.
    #[arg(long, value_name = "DURATION", value_parser = parse_delay, default_value = "5s")]
    pub cancel_budget: Duration,
}

#[derive(Debug, Clone, Args)]
pub struct ManualArgs {
    #[command(flatten)]
    pub rollout: RolloutArgs,
}

#[derive(Debug, Clone, Args)]
pub struct DemoArgs {
    /// Fail this fraction (0–1) more of the new version's requests with 500, on top of
    /// the 1% both versions fail at random.
    #[arg(long, value_name = "R", default_value_t = 0.0)]
    pub error_rate: f64,
    /// Seed the random failures and latencies, to replay a run (default: a new seed,
    /// printed at the start).
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,
    /// Add this much latency to each of the new version's responses, on top of both
    /// versions' long-tailed latency, e.g. `300ms`.
    #[arg(long, value_name = "DURATION", value_parser = parse_delay, default_value = "0s")]
    pub latency: Duration,
    /// Start the faults only once this step has passed (default: from the start).
    #[arg(long, value_name = "STEP")]
    pub fault_after: Option<usize>,
    /// Requests per second the load generator sends through the proxy.
    #[arg(long, value_name = "N", default_value_t = 200)]
    pub rate: u32,
    /// Where `report.json` and `summary.md` are written.
    #[arg(long, value_name = "DIR", default_value = "greenlight-demo")]
    pub out: PathBuf,
    /// Override a field of the demo's spec, e.g. `--set analysis.interval=500ms`.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub sets: Vec<String>,
    /// Print the spec the demo runs, and exit.
    #[arg(long)]
    pub print_spec: bool,
}

fn parse_delay(text: &str) -> Result<Duration, String> {
    crate::duration::Delay::parse(text).map(|delay| delay.get())
}

#[derive(Debug, Clone, Args)]
pub struct ValidateArgs {
    #[command(flatten)]
    pub spec: SpecArgs,
    /// Also read the router's object on its cluster, as `run` does before deploying:
    /// it exists, no third backend takes traffic, and a GitOps controller that
    /// manages it is named with what to add to its configuration.
    #[arg(long)]
    pub live: bool,
}

#[derive(Debug, Clone, Args)]
pub struct SpecArgs {
    /// The rollout spec.
    #[arg(
        short = 'f',
        long = "config",
        env = "GREENLIGHT_CONFIG",
        default_value = "greenlight.yaml"
    )]
    pub config: PathBuf,
    /// The version to roll out (`version` in templates).
    #[arg(long = "version", value_name = "VERSION")]
    pub new_version: Option<String>,
    /// The version serving users now; read from the state record when not given.
    #[arg(long, value_name = "VERSION")]
    pub stable_version: Option<String>,
    /// Override a spec field, e.g. `--set strategy.canary.steps.0.weight=5`.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub sets: Vec<String>,
    /// Add a template variable, e.g. `--var image=registry/app`.
    #[arg(long = "var", value_name = "NAME=VALUE")]
    pub vars: Vec<String>,
}

#[derive(Debug, Clone, Args)]
pub struct RolloutArgs {
    #[command(flatten)]
    pub spec: SpecArgs,
    /// Write the JSON report here.
    #[arg(long, value_name = "PATH")]
    pub report: Option<PathBuf>,
    /// Write the Markdown summary here.
    #[arg(long, value_name = "PATH")]
    pub summary: Option<PathBuf>,
    /// Take the rollout's lock even from a job that still holds it (stop that job first).
    #[arg(long)]
    pub force: bool,
}
