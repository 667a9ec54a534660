//! Picking up a rollout whose job died. Under the lock, a record still in
//! progress (or halted) for the version being run belongs to a job that is
//! gone; the record's last verified weight, the change it had started
//! (`Pending`) and the router's live split decide where to continue, so no
//! step above the current weight is repeated and a version that failed a
//! gate never gets traffic again.

use crate::engine::{Plan, Resume};
use crate::state::{Pending, Record};
use crate::traffic::Weight;

/// What a re-run does with an interrupted rollout.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Nothing had reached users: run from the start.
    Fresh,
    /// Continue from here; the weight is the last one verified.
    Resume(Resume, Weight),
    /// The record and the router disagree in a way greenlight cannot settle.
    Halt(String),
}

/// Where to continue the interrupted rollout `record` of `plan`, given the
/// router's `live` share on the new version (`None`: it could not be read).
pub fn decide(record: &Record, live: Option<Weight>, plan: &Plan) -> Decision {
    let verified = Weight::new(record.weight).unwrap_or(Weight::ZERO);
    let show = |weight: Option<Weight>| weight.map_or("unreadable".to_owned(), |w| w.to_string());
    match &record.pending {
        Some(Pending::RollBack { reason }) => Decision::Resume(
            Resume::RollBack {
                reason: format!("{reason} (the rollback was interrupted and is finished now)"),
            },
            verified,
        ),
        Some(Pending::Migration { .. }) if plan.migration.is_some() => {
            Decision::Resume(Resume::Migrate, verified)
        }
        Some(Pending::Migration { left }) => Decision::Halt(format!(
            "the interrupted rollout was migrating {} task by task ({} task(s) of it left), but the spec has no `strategy.migrate` any more: finish it with the spec it started with, or settle it with `greenlight promote` or `greenlight rollback`",
            record.stable_version,
            left.len()
        )),
        Some(Pending::Retire { .. }) if live == Some(Weight::FULL) => {
            Decision::Resume(Resume::Retire, Weight::FULL)
        }
        Some(Pending::Retire { version }) => Decision::Halt(format!(
            "the interrupted rollout had promoted {} and was removing {version}, but the router now sends {} to {0}: greenlight will not remove a version that may serve users. Run `greenlight promote` once all traffic is on {0}, or `greenlight rollback --version {version}`",
            record.new_version.as_deref().unwrap_or("?"),
            show(live),
        )),
        pending => {
            // A change that was started and is live now counts as done.
            let current = match pending {
                Some(Pending::Weight { weight }) if live.map(Weight::percent) == Some(*weight) => {
                    Weight::new(*weight).unwrap_or(verified)
                }
                _ => verified,
            };
            if current == Weight::ZERO {
                return Decision::Fresh;
            }
            if let Some(step) = plan.steps.iter().position(|step| step.weight == current) {
                return Decision::Resume(Resume::Step(step), current);
            }
            if current == Weight::FULL {
                // 100% is only set after every step's gates passed.
                return Decision::Resume(Resume::Retire, current);
            }
            Decision::Halt(format!(
                "the interrupted rollout was at {current}, which is no step of the plan (the spec changed?); the router sends {}. Settle it with `greenlight promote` or `greenlight rollback`",
                show(live)
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::RecordPhase;

    fn plan() -> Plan {
        let spec = crate::spec::load(
            "t.yaml",
            "apiVersion: greenlight.dev/v1alpha1\nkind: Rollout\nmetadata: {name: c}\ntarget: {command: {deploy: 'true'}}\nrouter: {command: {set: 'true', get: echo 0}}\nstrategy: {canary: {steps: [{weight: 20, hold: 1s}, {weight: 60, hold: 1s}]}}\n",
            &crate::spec::LoadOptions {
                version: "v2".into(),
                stable_version: "v1".into(),
                ..Default::default()
            },
        )
        .unwrap();
        Plan::from_spec(&spec.spec, &spec.spec.router.capabilities())
    }

    fn record(weight: u8, pending: Option<Pending>) -> Record {
        let release = crate::release::Release {
            name: "c".into(),
            stable_version: "v1".into(),
            new_version: "v2".into(),
        };
        Record {
            pending,
            ..Record::of(
                &release,
                RecordPhase::InProgress,
                weight,
                None,
                std::time::UNIX_EPOCH,
            )
        }
    }

    fn pct(value: u8) -> Option<Weight> {
        Weight::new(value)
    }

    #[test]
    fn a_crash_before_any_traffic_starts_again() {
        assert_eq!(decide(&record(0, None), pct(0), &plan()), Decision::Fresh);
        // The first weight was being set but never took.
        let setting = Some(Pending::Weight { weight: 20 });
        assert_eq!(
            decide(&record(0, setting), pct(0), &plan()),
            Decision::Fresh
        );
    }

    #[test]
    fn a_crash_mid_canary_resumes_at_the_verified_step_never_above() {
        let holding = decide(&record(60, None), pct(60), &plan());
        assert_eq!(
            holding,
            Decision::Resume(Resume::Step(1), Weight::new(60).unwrap())
        );
        // Crashed after setting 60% and before verifying it: live says it took.
        let took = decide(
            &record(20, Some(Pending::Weight { weight: 60 })),
            pct(60),
            &plan(),
        );
        assert_eq!(
            took,
            Decision::Resume(Resume::Step(1), Weight::new(60).unwrap())
        );
        // It did not take: back to the verified step.
        let did_not = decide(
            &record(20, Some(Pending::Weight { weight: 60 })),
            pct(20),
            &plan(),
        );
        assert_eq!(
            did_not,
            Decision::Resume(Resume::Step(0), Weight::new(20).unwrap())
        );
    }

    #[test]
    fn a_rollback_is_finished_and_a_promotion_retires_only_at_full_traffic() {
        let rolling_back = Some(Pending::RollBack {
            reason: "error-rate above 0.05".into(),
        });
        assert!(matches!(
            decide(&record(20, rolling_back), pct(0), &plan()),
            Decision::Resume(Resume::RollBack { .. }, _)
        ));
        let promoting = Some(Pending::Weight { weight: 100 });
        assert_eq!(
            decide(&record(60, promoting), pct(100), &plan()),
            Decision::Resume(Resume::Retire, Weight::FULL)
        );
        let retiring = Some(Pending::Retire {
            version: "v1".into(),
        });
        assert_eq!(
            decide(&record(100, retiring.clone()), pct(100), &plan()),
            Decision::Resume(Resume::Retire, Weight::FULL)
        );
        assert!(matches!(
            decide(&record(100, retiring), pct(0), &plan()),
            Decision::Halt(message) if message.contains("will not remove a version that may serve users")
        ));
    }
}
