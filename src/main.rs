use std::process::ExitCode;

use clap::Parser;
use greenlight::app::{self, AppError};
use greenlight::cli::{Cli, Command};
use greenlight::engine::Outcome;
use greenlight::manual::Manual;

fn main() -> ExitCode {
    // Before anything is printed: the runner hides these values from the log.
    if greenlight::forge::is_github_actions() {
        let secrets = greenlight::secrets::current();
        print!(
            "{}",
            greenlight::secrets::add_mask_commands(secrets.secrets())
        );
        let _ = std::io::Write::flush(&mut std::io::stdout());
    }
    // One crypto provider for every TLS client in the binary (reqwest, kube,
    // octocrab); without it rustls panics when two are compiled in.
    let _ = rustls::crypto::ring::default_provider().install_default();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("GREENLIGHT_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(greenlight::secrets::MaskedStderr::default)
        .without_time()
        .init();

    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            let _ = error.print();
            // Help and --version are answers, not errors; usage errors exit 1 (DESIGN.md).
            return if error.use_stderr() {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::from(1);
        }
    };
    let result = runtime.block_on(async {
        match &cli.command {
            Command::Run(args) => app::run(args).await,
            Command::Plan(args) => app::plan(args).await,
            Command::Validate(args) => app::validate(args).map(|()| Outcome::Planned),
            Command::Demo(args) => greenlight::demo::run(args).await,
            // Done as asked is exit 0, whatever the outcome (DESIGN.md).
            Command::Promote(args) => manual(Manual::Promote, args).await,
            Command::Rollback(args) => manual(Manual::Rollback, args).await,
            Command::Abort(args) => manual(Manual::Abort, args).await,
            Command::Status(args) => manual(Manual::Status, args).await,
            Command::Schema => {
                println!("{}", greenlight::spec::schema::json_schema());
                Ok(Outcome::Planned)
            }
        }
    });
    match result {
        Ok(outcome) => ExitCode::from(outcome.exit_code()),
        Err(error) => {
            report_error(&error);
            ExitCode::from(match error {
                AppError::Halted(_) => Outcome::Halted.exit_code(),
                _ => 1,
            })
        }
    }
}

async fn manual(command: Manual, args: &greenlight::cli::ManualArgs) -> Result<Outcome, AppError> {
    greenlight::manual::run(command, args)
        .await
        .map(|_| Outcome::Planned)
}

fn report_error(error: &AppError) {
    let shown = greenlight::secrets::mask(&error.to_string());
    eprintln!("error: {shown}");
    if let AppError::Spec(spec) = error
        && greenlight::forge::is_github_actions()
        && let Some((file, location)) = spec.file_location()
    {
        let (line, column) = location.map_or((1, 1), |at| (at.line, at.column));
        let message = greenlight::secrets::mask(&spec.message)
            .replace('%', "%25")
            .replace('\r', "%0D")
            .replace('\n', "%0A");
        println!("::error file={file},line={line},col={column}::{message}");
    }
}
