//! `greenlight demo`: the whole product on loopback, in under a minute — two
//! versions of a service, a weighted proxy, live load, and the same engine and
//! reports as `run`.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::app::{self, AppError};
use crate::cli::DemoArgs;
use crate::clock::SystemClock;
use crate::engine::{Event, EventKind, Outcome};
use crate::report::console::ConsoleReporter;
use crate::report::{Report, Reporter, json, markdown};
use crate::runner;
use crate::sandbox::{Faults, Sandbox, SandboxConfig, Side};
use crate::spec::overrides::SetOverride;
use crate::spec::{LoadOptions, load};

/// The spec the demo runs, embedded so the binary needs no files.
pub const SPEC: &str = include_str!("../examples/demo/greenlight.yaml");
const SPEC_FILE: &str = "examples/demo/greenlight.yaml";
const STABLE: &str = "v1";
const NEW: &str = "v2";

pub async fn run(args: &DemoArgs) -> Result<Outcome, AppError> {
    if args.print_spec {
        print!("{SPEC}");
        return Ok(Outcome::Planned);
    }
    let faults = Faults {
        error_rate: args.error_rate,
        latency: args.latency,
    };
    faults
        .validate()
        .map_err(|error| AppError::Usage(format!("--error-rate: {error}")))?;
    let sandbox = Sandbox::start(SandboxConfig {
        stable_version: STABLE.to_owned(),
        new_version: NEW.to_owned(),
        // With --fault-after the new version starts healthy and breaks later.
        new_faults: if args.fault_after.is_some() {
            Faults::NONE
        } else {
            faults
        },
        rate: args.rate,
    })
    .await
    .map_err(|error| AppError::Provider(format!("cannot start the sandbox: {error}")))?;
    let sandbox = Arc::new(sandbox);
    let outcome = rollout(args, faults, &sandbox).await;
    if let Ok(sandbox) = Arc::try_unwrap(sandbox) {
        sandbox.shutdown().await;
    }
    outcome
}

async fn rollout(
    args: &DemoArgs,
    faults: Faults,
    sandbox: &Arc<Sandbox>,
) -> Result<Outcome, AppError> {
    let sets = SetOverride::parse_all(&args.sets)?;
    let options = LoadOptions {
        version: NEW.to_owned(),
        stable_version: STABLE.to_owned(),
        sets,
        vars: vec![format!("new_url={}", sandbox.new_app().url())],
        ci: crate::forge::detect(|name| std::env::var(name).ok()),
    };
    let loaded = load(SPEC_FILE, SPEC, &options)?;
    let steps = crate::engine::Plan::from_spec(&loaded.spec).steps.len();
    if let Some(step) = args.fault_after.filter(|step| *step == 0 || *step >= steps) {
        return Err(AppError::Usage(format!(
            "--fault-after {step}: the demo has steps 1 to {steps}; faults can start after steps 1 to {}",
            steps - 1
        )));
    }
    let context = app::provider_context(&loaded, Path::new("."), Some(Arc::clone(sandbox)))?;
    let providers = app::providers(&loaded.spec, &context, Arc::new(SystemClock))?;
    let engine = app::engine(&loaded);

    eprintln!(
        "greenlight demo: {STABLE} (stable) and {NEW} (new) behind a weighted proxy at {}, {} requests/s of load",
        sandbox.proxy().url(),
        args.rate
    );
    let mut reporters: Vec<Box<dyn Reporter>> = vec![Box::new(ConsoleReporter::new(
        crate::forge::session::Platform::from_process_env().sections(),
    ))];
    if let Some(step) = args.fault_after {
        reporters.push(Box::new(FaultInjector {
            after_step: step,
            faults,
            sandbox: Arc::clone(sandbox),
        }));
    }
    let progress = tokio::spawn(show_traffic(Arc::clone(sandbox)));
    let report = runner::run(
        &engine,
        &providers,
        &SystemClock,
        &mut reporters,
        None,
        Some(app::cancel_on_signal()),
    )
    .await;
    progress.abort();

    let weight = sandbox.proxy().weight();
    eprintln!(
        "proxy weights read back: {STABLE} {}% · {NEW} {weight}%",
        100 - weight
    );
    write_reports(&report, &args.out, loaded.spec.report.title.as_deref())?;
    Ok(report.outcome)
}

/// Breaks the new version once a given step has passed (`--fault-after`).
struct FaultInjector {
    after_step: usize,
    faults: Faults,
    sandbox: Arc<Sandbox>,
}

#[async_trait]
impl Reporter for FaultInjector {
    async fn event(&mut self, event: &Event) {
        if let EventKind::StepCompleted { step, .. } = event.kind
            && step == self.after_step
            && self.sandbox.new_app().set_faults(self.faults).is_ok()
        {
            eprintln!(
                "demo: {NEW} now fails {:.0}% of requests and adds {} of latency",
                self.faults.error_rate * 100.0,
                crate::spec::duration::display(self.faults.latency)
            );
        }
    }

    async fn finish(&mut self, _report: &Report) -> Result<(), String> {
        Ok(())
    }
}

/// Live traffic every second: the weight and what each version answered.
async fn show_traffic(sandbox: Arc<Sandbox>) {
    let mut ticker = tokio::time::interval(Duration::from_secs(1));
    ticker.tick().await;
    loop {
        ticker.tick().await;
        let stats = sandbox.stats();
        let stable = stats.window_last(Side::Stable, Duration::from_secs(1));
        let new = stats.window_last(Side::New, Duration::from_secs(1));
        eprintln!(
            "  traffic: weight {}% · last 1s: {STABLE} {} req, {} errors · {NEW} {} req, {} errors",
            sandbox.proxy().weight(),
            stable.requests,
            stable.errors,
            new.requests,
            new.errors
        );
    }
}

fn write_reports(report: &Report, out: &Path, title: Option<&str>) -> Result<(), AppError> {
    let failed = |error: String| AppError::Provider(error);
    let report_path = out.join("report.json");
    let summary_path = out.join("summary.md");
    json::write(report, &report_path).map_err(failed)?;
    let summary = markdown::render(report, title)
        .map_err(|error| failed(format!("cannot render the summary: {error}")))?;
    crate::report::write_file(&summary_path, &summary).map_err(failed)?;
    eprintln!(
        "wrote {} and {}",
        report_path.display(),
        summary_path.display()
    );
    Ok(())
}
