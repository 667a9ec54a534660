//! What a person does by hand, usually from a `workflow_dispatch` job:
//! `promote`, `rollback`, `abort` and `status`. Each acts at once on the
//! rollout the state record describes, verifies every traffic change by
//! reading it back, records the result and reports it like `run` does.

use std::time::SystemTime;

use crate::app::{self, AppError};
use crate::cli::ManualArgs;
use crate::forge::session::Platform;

use crate::deploy::Target;
use crate::engine::machine::verify;
use crate::engine::plan::Plan;
use crate::engine::{Event, EventKind, Outcome};
use crate::release::Release;
use crate::report::Report;
use crate::router::Router;
use crate::state::{Record, RecordPhase, StateStore, save_or_warn};
use crate::traffic::Weight;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Manual {
    Promote,
    Rollback,
    Abort,
    Status,
}

impl Manual {
    fn verb(self) -> &'static str {
        match self {
            Manual::Promote => "promote",
            Manual::Rollback => "roll back",
            Manual::Abort => "abort",
            Manual::Status => "show",
        }
    }
}

/// Runs a manual command; `Ok` means it did what was asked (exit 0).
pub async fn run(command: Manual, args: &ManualArgs) -> Result<Outcome, AppError> {
    let spec_args = &args.rollout.spec;
    let first = app::read_spec(spec_args, app::UNKNOWN_VERSION)?;
    let store = app::state_store(&first.spec, &spec_args.config);
    let record = store
        .load()
        .await
        .map_err(|error| AppError::Provider(error.to_string()))?;
    let name = first.spec.metadata.name.clone();
    let release = versions(command, args, name, record.as_ref(), store.as_ref())?;

    let mut resolved = spec_args.clone();
    resolved.new_version = Some(release.new_version.clone());
    let loaded = app::read_spec(&resolved, &release.stable_version)?;
    let context = app::provider_context(&loaded, app::spec_folder(&spec_args.config), None)?;
    let provider = |error: crate::provider::ProviderError| AppError::Provider(error.to_string());
    let router = crate::router::from_spec(&loaded.spec.router, &context).map_err(provider)?;

    if command == Manual::Status {
        let live = router.weight().await.map_err(provider)?;
        print_status(
            record.as_ref(),
            &release,
            live,
            router.as_ref(),
            store.as_ref(),
        );
        return Ok(Outcome::Planned);
    }
    if let Some(record) = record
        .as_ref()
        .filter(|record| record.phase == RecordPhase::InProgress)
        && record.holder.as_deref() != Some(app::holder().as_str())
        && !args.force
    {
        return Err(AppError::Halted(format!(
            "a rollout of {} to {} is in progress, held by {}: stop that job, then run again with --force",
            record.name,
            record.new_version.as_deref().unwrap_or("?"),
            record.holder.as_deref().unwrap_or("unknown")
        )));
    }

    let target = crate::deploy::from_spec(&loaded.spec.target, &context).map_err(provider)?;
    let mut timeline = Vec::new();
    let result = act(
        command,
        &release,
        record.as_ref(),
        target.as_ref(),
        router.as_ref(),
        &mut timeline,
    )
    .await;
    let (outcome, reason, phase) = match &result {
        Ok(done) => (done.outcome, done.reason.clone(), done.phase),
        Err(error) => {
            timeline.push(event(EventKind::Failed {
                error: error.clone(),
            }));
            (Outcome::Failed, error.clone(), RecordPhase::Failed)
        }
    };
    let record = Record::of(&release, phase, 0, None, SystemTime::now());
    save_or_warn(store.as_ref(), &record).await;

    let plan = Plan {
        steps: Vec::new(),
        check_stages: Vec::new(),
        analysis: None,
        ..Plan::from_spec(&loaded.spec)
    };
    let report = Report::build(&release, &plan, outcome, reason.clone(), timeline);
    let title = loaded.spec.report.title.as_deref();
    let written = app::write_reports(&report, &args.rollout, title);
    Platform::from_process_env().publish(&report, &written, title);
    match result {
        Ok(_) => {
            eprintln!("{reason}");
            Ok(outcome)
        }
        Err(error) => Err(AppError::Provider(error)),
    }
}

/// Which versions the command acts on: the record's, unless the flags say otherwise.
fn versions(
    command: Manual,
    args: &ManualArgs,
    name: String,
    record: Option<&Record>,
    store: &dyn StateStore,
) -> Result<Release, AppError> {
    let spec = &args.rollout.spec;
    let stable = spec
        .stable_version
        .clone()
        .or_else(|| record.map(|record| record.stable_version.clone()));
    let Some(stable) = stable else {
        return Err(AppError::Usage(format!(
            "nothing to {}: {} has no record of this service; pass --stable-version (and --version)",
            command.verb(),
            store.describe()
        )));
    };
    // Only a rollout still under way (or stopped for a person) has a new
    // version to act on; after a rollback or a failure it was already removed.
    let pending = record
        .filter(|record| {
            matches!(
                record.phase,
                RecordPhase::InProgress | RecordPhase::Halted | RecordPhase::Aborted
            )
        })
        .and_then(|record| record.new_version.clone());
    let new = match (command, spec.new_version.clone(), pending) {
        (Manual::Rollback, Some(target), _) if target != stable => target,
        // `rollback --version <stable>` means: back to stable, undo what is pending.
        (Manual::Rollback, Some(_), Some(pending)) => pending,
        (Manual::Rollback, Some(_), None) => {
            return Err(AppError::Usage(format!(
                "nothing to roll back: {stable} already serves all traffic and no rollout is in progress"
            )));
        }
        (_, Some(version), _) | (_, None, Some(version)) => version,
        (Manual::Status, None, None) => stable.clone(),
        (_, None, None) => {
            return Err(AppError::Usage(format!(
                "nothing to {}: no rollout of this service is in progress (stable version {stable}); {}",
                command.verb(),
                match command {
                    Manual::Rollback => "pass --version with the version to go back to",
                    _ => "pass --version to name the new version",
                }
            )));
        }
    };
    Ok(Release {
        name,
        stable_version: stable,
        new_version: new,
    })
}

struct Done {
    outcome: Outcome,
    reason: String,
    phase: RecordPhase,
}

fn event(kind: EventKind) -> Event {
    Event {
        at: SystemTime::now(),
        kind,
    }
}

async fn act(
    command: Manual,
    release: &Release,
    record: Option<&Record>,
    target: &dyn Target,
    router: &dyn Router,
    timeline: &mut Vec<Event>,
) -> Result<Done, String> {
    let (stable, new) = (&release.stable_version, &release.new_version);
    let returning = command == Manual::Rollback
        && record.is_none_or(|record| record.new_version.as_deref() != Some(new.as_str()));
    match command {
        Manual::Promote => {
            shift(router, Weight::FULL, timeline).await?;
            timeline.push(event(EventKind::Promoted {
                version: new.clone(),
            }));
            retire(target, stable, timeline).await;
            Ok(Done {
                outcome: Outcome::Promoted,
                reason: format!("{new} promoted by hand; {stable} retired"),
                phase: RecordPhase::Promoted,
            })
        }
        // Going back to an earlier release: it becomes the new version and takes all traffic.
        Manual::Rollback if returning => {
            target
                .deploy(new)
                .await
                .map_err(|error| format!("deploying {new}: {error}"))?;
            timeline.push(event(EventKind::Deployed {
                version: new.clone(),
            }));
            shift(router, Weight::FULL, timeline).await?;
            retire(target, stable, timeline).await;
            Ok(Done {
                outcome: Outcome::RolledBack,
                reason: format!("rolled back by hand from {stable} to {new}"),
                phase: RecordPhase::Promoted,
            })
        }
        Manual::Rollback | Manual::Abort => {
            let why = if command == Manual::Abort {
                "aborted by hand"
            } else {
                "rolled back by hand"
            };
            timeline.push(event(EventKind::RollbackStarted {
                reason: why.to_owned(),
            }));
            shift(router, Weight::ZERO, timeline).await?;
            timeline.push(event(EventKind::RollbackCompleted {
                weight: Weight::ZERO,
            }));
            if command == Manual::Rollback {
                retire(target, new, timeline).await;
            }
            Ok(Done {
                outcome: Outcome::RolledBack,
                reason: match command {
                    Manual::Abort => {
                        format!("{why}: all traffic is on {stable}; {new} is left running")
                    }
                    _ => format!("{why}: all traffic is on {stable}; {new} removed"),
                },
                phase: if command == Manual::Abort {
                    RecordPhase::Aborted
                } else {
                    RecordPhase::RolledBack
                },
            })
        }
        Manual::Status => Err("status changes nothing".to_owned()),
    }
}

/// Sets a weight and reads it back; only a verified change counts.
async fn shift(
    router: &dyn Router,
    weight: Weight,
    timeline: &mut Vec<Event>,
) -> Result<(), String> {
    verify(weight, router.apply(weight).await)
        .map_err(|problem| format!("{}: {problem}", router.describe()))?;
    timeline.push(event(EventKind::WeightSet { weight, step: None }));
    Ok(())
}

/// Removing an old version is best effort: traffic is already safe.
async fn retire(target: &dyn Target, version: &str, timeline: &mut Vec<Event>) {
    let kind = match target.retire(version).await {
        Ok(()) => EventKind::Retired {
            version: version.to_owned(),
        },
        Err(error) => EventKind::Warning {
            message: format!("could not remove {version}: {error}"),
        },
    };
    timeline.push(event(kind));
}

fn print_status(
    record: Option<&Record>,
    release: &Release,
    live: Weight,
    router: &dyn Router,
    store: &dyn StateStore,
) {
    match record {
        Some(record) => {
            println!(
                "{}: {:?} (recorded {})",
                record.name, record.phase, record.updated_at
            );
            println!("  stable version: {}", record.stable_version);
            if let Some(new) = &record.new_version {
                println!(
                    "  new version:    {new} at {}% when last verified",
                    record.weight
                );
            }
            if let Some(holder) = &record.holder {
                println!("  held by:        {holder}");
            }
        }
        None => println!(
            "no rollout recorded in {} (stable version {})",
            store.describe(),
            release.stable_version
        ),
    }
    println!(
        "  {} sends {live} to the new version now",
        router.describe()
    );
}
