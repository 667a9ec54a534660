//! Command-line definitions.

use std::path::PathBuf;

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
    Run(RolloutArgs),
    /// Print each step and the exact change each provider would make; touches nothing.
    Plan(RolloutArgs),
    /// Check the spec, its templates and each provider's settings, without any network.
    Validate(SpecArgs),
    /// Print the JSON Schema of the rollout spec.
    Schema,
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
}
