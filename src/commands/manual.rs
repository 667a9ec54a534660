//! What a person does by hand, usually from a `workflow_dispatch` job:
//! `promote`, `rollback`, `abort` and `status`. Each acts at once on the
//! rollout the state record describes. Every command that moves traffic is a
//! short plan (`engine::plan::Mode`) that the same engine and runner as `run`
//! carry out: the same lock, verified weights, drain, wait-until gates,
//! hooks, state record and reports.

use crate::cli::{ManualArgs, RolloutArgs};
use crate::clock::SystemClock;
use crate::commands::{AppError, Publish, execute, report_links, take_lock};
use crate::compose::{capabilities, engine_for, provider_context, providers};
use crate::engine::Outcome;
use crate::engine::plan::{Mode, Plan};
use crate::forge::session::{CommandKind, Platform, Rollout};
use crate::release::{Release, Version};
use crate::resolve::{Source, spec_folder};
use crate::router::Router;
use crate::runner::Journal;
use crate::state::{Pending, Record, RecordPhase, StateStore};
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

/// Runs a manual command; `Ok` means it did what was asked (exit 0), with
/// what to print on stdout (`status` only).
pub async fn run(command: Manual, args: &ManualArgs) -> Result<String, AppError> {
    let spec_args = &args.rollout.spec;
    let source = Source::read(spec_args)?;
    // The versions come from the record.
    let (name, store, record) = source.record(&spec_args.config).await?;
    let release = versions(command, args, name, record.as_ref(), store.as_ref())?;

    let stable_pool = source.live_pool(record.as_ref())?;
    let loaded = source.load(
        &Version::Given(release.new_version.clone()),
        &Version::Given(release.stable_version.clone()),
        stable_pool,
    )?;
    let clock: std::sync::Arc<dyn crate::clock::Clock> = std::sync::Arc::new(SystemClock);
    let context = provider_context(&loaded, spec_folder(&spec_args.config), None, clock.clone())?;
    let provider = |error: crate::provider::ProviderError| AppError::Provider(error.to_string());
    let router = loaded.spec.router.build(&context).map_err(provider)?;

    if command == Manual::Status {
        let live = router.weight().await.map_err(provider)?;
        return Ok(status_text(
            record.as_ref(),
            &release,
            live,
            router.as_ref(),
            store.as_ref(),
            loaded.context.pool.as_ref(),
        ));
    }
    let live = check_live(record.as_ref(), router.as_ref(), store.as_ref()).await?;
    if command == Manual::Rollback {
        if let Some(refusal) = retired_target(record.as_ref()) {
            return Err(AppError::Halted(refusal));
        }
        if release.new_version == release.stable_version {
            eprintln!(
                "{}",
                nothing_to_roll_back(
                    record.as_ref(),
                    &release,
                    live,
                    router.as_ref(),
                    store.as_ref()
                )
            );
            return Ok(String::new());
        }
    }
    let store: std::sync::Arc<dyn StateStore> = store.into();
    let (lock, holder) = take_lock(&store, &loaded, args.rollout.force).await?;
    // Read again under the lock: the job that held it may have moved on since the check.
    let checked = record;
    let result = async {
        let record = store.load().await.map_err(provider)?;
        recheck_under_lock(
            checked.as_ref(),
            record.as_ref(),
            router.as_ref(),
            store.as_ref(),
        )
        .await?;
        let held = Held {
            store: store.as_ref(),
            holder,
            stable_pool: loaded.context.pool.is_some().then_some(stable_pool),
            pool_names: loaded.context.pool.clone(),
        };
        by_hand(
            command,
            &args.rollout,
            &release,
            record.as_ref(),
            &loaded,
            &context,
            clock,
            held,
        )
        .await
    }
    .await;
    lock.release().await;
    result
}

/// The live-split check again, under the lock, on the record as it is now: a job that
/// held the lock until just now may have moved traffic and the record after the first
/// check. A record that changed at all halts, since the versions were chosen from the
/// one read before.
async fn recheck_under_lock(
    checked: Option<&Record>,
    locked: Option<&Record>,
    router: &dyn Router,
    store: &dyn StateStore,
) -> Result<(), AppError> {
    check_live(locked, router, store).await?;
    if checked != locked {
        return Err(AppError::Halted(format!(
            "{} changed while this command waited for the lock (another job moved the rollout on), so nothing was changed: run the command again to act on the rollout as it is now",
            store.describe()
        )));
    }
    Ok(())
}

/// Where traffic really is, before anything changes (as `run` does): the
/// router must agree with the record, or the command halts saying what each
/// holds. A router that cannot be read is left to the command's own writes.
async fn check_live(
    record: Option<&Record>,
    router: &dyn Router,
    store: &dyn StateStore,
) -> Result<Option<Weight>, AppError> {
    let live = router
        .weight()
        .await
        .map_err(|error| {
            tracing::warn!(
                "could not read the live split from {}: {error}",
                router.describe()
            )
        })
        .ok();
    if let Some(live) = live {
        crate::state::live::compare_pending(record, &store.describe(), &router.describe(), live)
            .map_err(|mismatch| AppError::Halted(mismatch.message))?;
    }
    Ok(live)
}

/// `run --supersede`: rolls the unsettled rollout `other` back (all traffic
/// on its stable version, its new version removed) through the engine, under
/// the lock the run already holds, so the run can start from a settled record.
pub(crate) async fn supersede(
    args: &RolloutArgs,
    source: &Source,
    other: &Record,
    store: &dyn StateStore,
    holder: &str,
) -> Result<(), AppError> {
    let Some(old) = other.new_version.clone() else {
        return Ok(());
    };
    if let Some(refusal) = retired_target(Some(other)) {
        return Err(AppError::Halted(refusal));
    }
    let release = Release {
        name: other.name.clone(),
        stable_version: other.stable_version.clone(),
        new_version: old.clone(),
    };
    let stable_pool = source.live_pool(Some(other))?;
    let loaded = source.load(
        &Version::Given(old.clone()),
        &Version::Given(other.stable_version.clone()),
        stable_pool,
    )?;
    let clock: std::sync::Arc<dyn crate::clock::Clock> = std::sync::Arc::new(SystemClock);
    let context = provider_context(&loaded, spec_folder(&args.spec.config), None, clock.clone())?;
    let router = loaded
        .spec
        .router
        .build(&context)
        .map_err(|error| AppError::Provider(error.to_string()))?;
    check_live(Some(other), router.as_ref(), store).await?;
    eprintln!(
        "greenlight: --supersede: rolling {old} back first ({}, {}% on it when last verified)",
        crate::state::live::phase_name(other.phase),
        other.weight
    );
    // Its report is not the run's: the run writes --report and --summary.
    let quiet = RolloutArgs {
        report: None,
        summary: None,
        ..args.clone()
    };
    let held = Held {
        store,
        holder: holder.to_owned(),
        stable_pool: loaded.context.pool.is_some().then_some(stable_pool),
        pool_names: loaded.context.pool.clone(),
    };
    by_hand(
        Manual::Rollback,
        &quiet,
        &release,
        Some(other),
        &loaded,
        &context,
        clock,
        held,
    )
    .await
    .map(|_| ())
}

/// Where a command running under the lock records what it does.
struct Held<'a> {
    store: &'a dyn StateStore,
    holder: String,
    stable_pool: Option<crate::pool::Pool>,
    pool_names: Option<crate::pool::Sides>,
}

/// The command, once the lock is held.
#[allow(clippy::too_many_arguments)]
async fn by_hand(
    command: Manual,
    args: &RolloutArgs,
    release: &Release,
    record: Option<&Record>,
    loaded: &crate::spec::LoadedSpec,
    context: &crate::provider::ProviderContext,
    clock: std::sync::Arc<dyn crate::clock::Clock>,
    held: Held<'_>,
) -> Result<String, AppError> {
    let mode = mode(command, release, record);
    let plan = Plan::by_hand(&loaded.spec, &capabilities(loaded), mode);
    let engine = engine_for(loaded, plan);
    let providers = providers(&loaded.spec, context)?;
    let platform = Platform::from_process_env();
    let links = report_links(loaded, &args.spec, &release.new_version);
    // The deployment and the comment of the rollout say what the person did.
    let mut reporters = platform.reporters(&Rollout {
        command: CommandKind::ByHand,
        release,
        plan: &engine.plan,
        title: loaded.spec.report.title.as_deref(),
        plan_text: None,
        final_limit: loaded.spec.report.final_limit(),
        webhook: loaded.spec.report.webhook.as_ref(),
        links: links.clone(),
    });
    let journal = Journal {
        store: held.store,
        holder: held.holder,
        stable_pool: held.stable_pool,
        pool_names: held.pool_names,
        resume: None,
        verified: Weight::new(record.map_or(0, |record| record.weight)).unwrap_or(Weight::ZERO),
    };
    let publish = Publish {
        platform,
        args,
        title: loaded.spec.report.title.as_deref(),
        links,
    };
    // No cancellation: what a person asked for is carried out, like a
    // rollback `run` is already doing.
    let report = execute(
        &engine,
        &providers,
        clock.as_ref(),
        &mut reporters,
        &journal,
        None,
        &publish,
    )
    .await;
    let asked = match mode {
        Mode::Promote => Outcome::Promoted,
        _ => Outcome::RolledBack,
    };
    match report.outcome {
        outcome if outcome == asked => {
            eprintln!("{}", report.reason);
            Ok(String::new())
        }
        Outcome::Halted => Err(AppError::Halted(report.reason.clone())),
        _ => Err(AppError::Provider(report.reason.clone())),
    }
}

/// The plan a command runs: `rollback` to a version that is not the pending
/// one goes back to an earlier release.
fn mode(command: Manual, release: &Release, record: Option<&Record>) -> Mode {
    let returning = record
        .is_none_or(|record| record.new_version.as_deref() != Some(release.new_version.as_str()));
    match command {
        Manual::Promote => Mode::Promote,
        Manual::Rollback if returning => Mode::Return,
        Manual::Rollback => Mode::RollBack,
        Manual::Abort | Manual::Status => Mode::Abort,
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
    // A rollback that could not finish (`pending`) still has it to remove.
    let pending = record
        .filter(|record| {
            matches!(
                record.phase,
                RecordPhase::InProgress | RecordPhase::Halted | RecordPhase::Aborted
            ) || record.pending.is_some()
        })
        .and_then(|record| record.new_version.clone());
    let new = match (command, spec.new_version.clone(), pending) {
        (Manual::Rollback, Some(target), _) if target != stable => target,
        // `rollback --version <stable>` means: back to stable, undo what is pending.
        (Manual::Rollback, Some(_), Some(pending)) => pending,
        (_, Some(version), _) | (_, None, Some(version)) => version,
        // Nothing to act on: `status` shows it, `rollback` says where traffic is.
        (Manual::Status | Manual::Rollback, None, None) => stable.clone(),
        (_, None, None) => {
            return Err(AppError::Usage(format!(
                "nothing to {}: no rollout of this service is in progress (stable version {stable}); pass --version to name the new version",
                command.verb(),
            )));
        }
    };
    Ok(Release {
        name,
        stable_version: stable,
        new_version: new,
    })
}

/// A plain `rollback` of a rollout that had promoted its new version and
/// started removing the old one: the old version may be gone, so sending
/// traffic back to it would send users to nothing.
fn retired_target(record: Option<&Record>) -> Option<String> {
    let record = record?;
    let Some(Pending::Retire { version }) = &record.pending else {
        return None;
    };
    let serving = record.new_version.as_deref().unwrap_or("the new version");
    Some(format!(
        "will not roll back to {version}: it was being retired (removed) after {serving} took all traffic, so it may serve nobody; {serving} serves 100% now. Run `greenlight promote` to finish the release, then `greenlight rollback --version {version}` to deploy {version} again and switch all traffic back to it"
    ))
}

/// What `rollback` says when nothing is in progress: where traffic is, and
/// what `--version` would do.
fn nothing_to_roll_back(
    record: Option<&Record>,
    release: &Release,
    live: Option<Weight>,
    router: &dyn Router,
    store: &dyn StateStore,
) -> String {
    let stable = &release.stable_version;
    let recorded = match record {
        Some(record) => format!(
            "{} says {stable} is stable ({} {}, at {})",
            store.describe(),
            crate::state::live::phase_name(record.phase),
            record.new_version.as_deref().unwrap_or(stable),
            record.updated_at
        ),
        None => format!("{} holds no record", store.describe()),
    };
    let routed = match live {
        Some(live) => format!(
            "{} sends {live} to the new side: {stable} serves all traffic",
            router.describe()
        ),
        None => format!("{} could not be read", router.describe()),
    };
    format!(
        "nothing to roll back: no rollout is in progress\n  record: {recorded}\n  router: {routed}\n`greenlight rollback --version <earlier version>` would deploy that version beside {stable}, switch all traffic to it at once (no steps, no analysis) and then remove {stable}"
    )
}

/// What `status` prints: the record, the router's live weight and, on fixed
/// pools, which pool each side is.
fn status_text(
    record: Option<&Record>,
    release: &Release,
    live: Weight,
    router: &dyn Router,
    store: &dyn StateStore,
    pool: Option<&crate::pool::Sides>,
) -> String {
    let mut lines = Vec::new();
    match record {
        Some(record) => {
            lines.push(format!(
                "{}: {:?} (recorded {})",
                record.name, record.phase, record.updated_at
            ));
            lines.push(format!("  stable version: {}", record.stable_version));
            if let Some(new) = &record.new_version {
                lines.push(format!(
                    "  new version:    {new} at {}% when last verified",
                    record.weight
                ));
            }
            if let Some(holder) = &record.holder {
                lines.push(format!("  held by:        {holder}"));
            }
        }
        None => lines.push(format!(
            "no rollout recorded in {} (stable version {})",
            store.describe(),
            release.stable_version
        )),
    }
    lines.push(format!(
        "  {} sends {live} to the new version now",
        router.describe()
    ));
    if let Some(pool) = pool {
        // Settled, the other pool holds no version (or one that was removed): the
        // next release goes there.
        let new_runs = record.is_some_and(|record| {
            record.new_version.is_some()
                && matches!(
                    record.phase,
                    RecordPhase::InProgress | RecordPhase::Halted | RecordPhase::Aborted
                )
        });
        lines.push(if new_runs {
            format!(
                "  pools:          stable in {}, new in {}",
                pool.stable, pool.new
            )
        } else {
            format!(
                "  pools:          stable in {}, {} idle (the next release goes there)",
                pool.stable, pool.new
            )
        });
    }
    lines.join("\n") + "\n"
}

#[cfg(test)]
mod tests {
    use async_trait::async_trait;

    use super::*;
    use crate::provider::ProviderError;
    use crate::state::lock;

    /// The store as the recheck sees it: only its name is read (the records are passed in).
    struct NamedStore;

    fn unused() -> ProviderError {
        ProviderError::new("the recheck reads no state itself")
    }

    #[async_trait]
    impl StateStore for NamedStore {
        fn describe(&self) -> String {
            "state file s.json".into()
        }
        async fn load(&self) -> Result<Option<Record>, ProviderError> {
            Err(unused())
        }
        async fn save(&self, _: &Record) -> Result<(), ProviderError> {
            Err(unused())
        }
        async fn acquire(&self, _: &lock::Request) -> Result<lock::Acquired, ProviderError> {
            Err(unused())
        }
        async fn renew(
            &self,
            _: &lock::Held,
            _: std::time::SystemTime,
        ) -> Result<lock::Held, ProviderError> {
            Err(unused())
        }
        async fn release(&self, _: &lock::Held) -> Result<(), ProviderError> {
            Err(unused())
        }
    }

    /// A router that sends a fixed share to the new version.
    struct SendsToNew(u8);

    #[async_trait]
    impl Router for SendsToNew {
        fn describe(&self) -> String {
            "router r".into()
        }
        fn plan(&self, _: Weight) -> Vec<String> {
            Vec::new()
        }
        async fn weight(&self) -> Result<Weight, ProviderError> {
            Weight::new(self.0).ok_or_else(|| ProviderError::new("not a percentage"))
        }
        async fn set_weight(&self, _: Weight) -> Result<(), ProviderError> {
            Err(ProviderError::new("the recheck never writes"))
        }
    }

    fn halted_at(weight: u8) -> Record {
        let release = Release {
            name: "checkout".into(),
            stable_version: "v2".into(),
            new_version: "v3".into(),
        };
        Record::of(
            &release,
            RecordPhase::Halted,
            weight,
            None,
            std::time::UNIX_EPOCH,
        )
    }

    #[test]
    fn status_names_the_idle_pool_once_nothing_is_in_it() {
        let pools = crate::pool::sides(Some(["blue", "green"]), crate::pool::Pool::B);
        let release = Release {
            name: "checkout".into(),
            stable_version: "v2".into(),
            new_version: "v3".into(),
        };
        let text = |record: &Record| {
            status_text(
                Some(record),
                &release,
                Weight::ZERO,
                &SendsToNew(0),
                &NamedStore,
                Some(&pools),
            )
        };
        let halted = text(&halted_at(0));
        assert!(halted.contains("stable in green, new in blue"), "{halted}");
        let promoted = Record {
            new_version: None,
            phase: RecordPhase::Promoted,
            ..halted_at(0)
        };
        let settled = text(&promoted);
        assert!(
            settled.contains("stable in green, blue idle (the next release goes there)"),
            "{settled}"
        );
        let rolled_back = text(&Record {
            phase: RecordPhase::RolledBack,
            ..halted_at(0)
        });
        assert!(rolled_back.contains("blue idle"), "{rolled_back}");
    }

    fn halt_message(result: Result<(), AppError>) -> String {
        match result {
            Err(AppError::Halted(message)) => message,
            other => panic!("expected a halt, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn an_unchanged_record_that_matches_the_router_goes_ahead() {
        let record = halted_at(25);
        let result =
            recheck_under_lock(Some(&record), Some(&record), &SendsToNew(25), &NamedStore).await;
        assert!(result.is_ok(), "{result:?}");
    }

    // Between the check before the lock and the lock, the job that held it moved traffic
    // to 50% and recorded it: the split matches the new record, the command's versions
    // came from the old one.
    #[tokio::test]
    async fn a_record_changed_between_the_check_and_the_lock_halts() {
        let message = halt_message(
            recheck_under_lock(
                Some(&halted_at(25)),
                Some(&halted_at(50)),
                &SendsToNew(50),
                &NamedStore,
            )
            .await,
        );
        assert!(
            message.starts_with("state file s.json changed while this command waited for the lock"),
            "{message}"
        );
    }

    // The traffic moved under the lock-holder's hand but its record was not written yet:
    // the router is compared with the record read under the lock, not trusted.
    #[tokio::test]
    async fn a_router_that_moved_before_the_lock_was_taken_halts() {
        let record = halted_at(25);
        let message = halt_message(
            recheck_under_lock(Some(&record), Some(&record), &SendsToNew(50), &NamedStore).await,
        );
        assert!(
            message.starts_with("the router and the state record disagree"),
            "{message}"
        );
    }
}
