use std::process::ExitCode;

use clap::Parser;
use greenlight::cli::{Cli, Command};
use greenlight::commands::manual::Manual;
use greenlight::commands::{self, AppError};
use greenlight::engine::Outcome;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

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
    // `GREENLIGHT_LOG=debug` or `GREENLIGHT_LOG=warn,kube=debug`: levels per
    // target. `Targets` rather than `EnvFilter`: its span and field filters
    // compile regexes into DFAs, code the binary would carry for nothing.
    let filter = std::env::var("GREENLIGHT_LOG")
        .ok()
        .and_then(|directives| directives.parse::<Targets>().ok())
        .unwrap_or_else(|| Targets::new().with_default(LevelFilter::WARN));
    tracing_subscriber::fmt()
        .with_writer(greenlight::secrets::MaskedStderr::default)
        .without_time()
        .finish()
        .with(filter)
        .init();

    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            let _ = error.print();
            // Help and --version are answers, not errors; usage errors exit 1.
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
            Command::Run(args) => commands::run::run(args).await,
            Command::Plan(args) => commands::plan::plan(args).await.map(|text| {
                print!("{}", greenlight::secrets::mask(&text));
                Outcome::Planned
            }),
            Command::Validate(args) => commands::validate::validate(args).await.map(|text| {
                println!("{text}");
                Outcome::Planned
            }),
            Command::Demo(args) if args.print_spec => {
                print!("{}", greenlight::commands::demo::SPEC);
                Ok(Outcome::Planned)
            }
            Command::Demo(args) => commands::demo::run(args).await,
            // Done as asked is exit 0; a halt is 3 and a failure 1.
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
    let text = commands::manual::run(command, args).await?;
    print!("{text}");
    Ok(Outcome::Planned)
}

fn report_error(error: &AppError) {
    let shown = greenlight::secrets::mask(&error.to_string());
    eprintln!("error: {shown}");
    if let AppError::Spec(spec) = error
        && greenlight::forge::is_github_actions()
        && let Some((file, location)) = spec.file_location()
    {
        let (line, column) = location.map_or((1, 1), |at| (at.line, at.column));
        use greenlight::annotation::{escape_data, escape_property};
        let message = escape_data(&greenlight::secrets::mask(&spec.message));
        let file = escape_property(file);
        println!("::error file={file},line={line},col={column}::{message}");
    }
}
