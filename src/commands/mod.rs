//! One module per subcommand, each thin: resolve the spec (`resolve`), build
//! the providers and the engine (`compose`), run, write the report files.

pub mod demo;
pub mod manual;
pub mod plan;
pub mod run;
pub mod validate;

use crate::cli::RolloutArgs;
pub use crate::error::AppError;
use crate::forge::session::Written;
use crate::report::{Report, json, markdown};

/// Writes `--report` and `--summary`; a failure is a warning, never a new
/// outcome. Returns the files that were written.
pub(crate) fn write_reports<'a>(
    report: &Report,
    args: &'a RolloutArgs,
    title: Option<&str>,
) -> Written<'a> {
    let report_written = args.report.as_deref().filter(|path| {
        json::write(report, path)
            .map_err(|error| tracing::warn!("{error}"))
            .is_ok()
    });
    let summary_written = args.summary.as_deref().filter(|path| {
        markdown::render(report, title)
            .map_err(|error| format!("cannot render the summary: {error}"))
            .and_then(|text| crate::report::write_file(path, &text))
            .map_err(|error| tracing::warn!("{error}"))
            .is_ok()
    });
    Written {
        report: report_written,
        summary: summary_written,
    }
}

/// Who runs this rollout: the CI run, or this host and process.
pub(crate) fn holder() -> String {
    let facts = crate::forge::detect(|name| std::env::var(name).ok());
    facts.run_url.unwrap_or_else(|| {
        let host = std::env::var("HOSTNAME")
            .ok()
            .or_else(|| {
                std::fs::read_to_string("/etc/hostname")
                    .ok()
                    .map(|name| name.trim().to_owned())
            })
            .unwrap_or_else(|| "localhost".to_owned());
        format!("{host}:{}", std::process::id())
    })
}
