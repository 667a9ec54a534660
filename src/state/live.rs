//! Where traffic really is, compared with the record before anything
//! changes. A record that says nothing is in progress means the router sends
//! everything to the stable side; if it does not, someone (or a run that
//! died between a traffic change and its record) moved traffic, and
//! deploying now could send users to a version that is not there.

use super::{Pending, Record, RecordPhase};
use crate::traffic::Weight;

/// The router's live split disagrees with the record: what each side holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    pub message: String,
}

/// Compares the router's `live` share on the new side with what `record`
/// (read from `store`) implies, for a release to `new_version`.
pub fn compare(
    record: Option<&Record>,
    store: &str,
    router: &str,
    live: Weight,
) -> Result<(), Mismatch> {
    let settled = record.is_none_or(|record| {
        !matches!(record.phase, RecordPhase::InProgress | RecordPhase::Halted)
    });
    if !settled || live == Weight::ZERO {
        return Ok(());
    }
    let recorded = match record {
        None => format!(
            "{store} holds no record: no rollout has run, so the stable side should serve all traffic"
        ),
        Some(record) => format!(
            "{store} says {} is stable and nothing is in progress (last: {} {}, at {}), so the stable side should serve all traffic",
            record.stable_version,
            phase_name(record.phase),
            record
                .new_version
                .as_deref()
                .unwrap_or(&record.stable_version),
            record.updated_at,
        ),
    };
    Err(Mismatch {
        message: format!(
            "the router and the state record disagree, so nothing was deployed or changed:\n  router: {router} sends {live} of traffic to the side the new version would be deployed to\n  record: {recorded}\nFind out which is right. If the router is wrong, put all traffic back on the stable side and run again; if the record is wrong (traffic was moved by hand), remove {store} and run again with --stable-version set to the version that serves users now"
        ),
    })
}

/// For a command acting on the rollout `record` holds (`promote`,
/// `rollback`, `abort`): the router must send the share the record last
/// verified, or the one the change it had started (`Pending`) was setting,
/// also when that change was a rollback that failed. A settled record is
/// compared as [`compare`] does.
pub fn compare_pending(
    record: Option<&Record>,
    store: &str,
    router: &str,
    live: Weight,
) -> Result<(), Mismatch> {
    let Some(record) = record.filter(|record| {
        matches!(record.phase, RecordPhase::InProgress | RecordPhase::Halted)
            || record.pending.is_some()
    }) else {
        return compare(record, store, router, live);
    };
    let new = record.new_version.as_deref().unwrap_or("the new version");
    let mut expected = vec![record.weight];
    match &record.pending {
        Some(Pending::Weight { weight }) => expected.push(*weight),
        Some(Pending::RollBack { .. }) => expected.push(0),
        Some(Pending::Retire { .. }) => expected.push(100),
        // Mid-migration the backend serves the new version beside some old
        // tasks: its share follows the task count, and any is expected.
        Some(Pending::Migration { .. }) => return Ok(()),
        None => {}
    }
    if expected.contains(&live.percent()) {
        return Ok(());
    }
    let shares = expected
        .iter()
        .map(|weight| format!("{weight}%"))
        .collect::<Vec<_>>()
        .join(" or ");
    Err(Mismatch {
        message: format!(
            "the router and the state record disagree, so nothing was changed:\n  router: {router} sends {live} of traffic to {new}\n  record: {store} says the rollout of {new} ({}, updated {}) has {shares} on {new}, and {} serves the rest\nFind out which is right. If the router is wrong, set it back to {}% on {new} and run this command again; if traffic was moved by hand on purpose, settle it by hand too: set the router to 0% (all on {2}) or 100% (all on {new}), then remove {store} and run again with --stable-version set to the version that serves users",
            phase_name(record.phase),
            record.updated_at,
            record.stable_version,
            record.weight,
        ),
    })
}

pub fn phase_name(phase: RecordPhase) -> &'static str {
    match phase {
        RecordPhase::InProgress => "in progress",
        RecordPhase::Promoted => "promoted",
        RecordPhase::RolledBack => "rolled back",
        RecordPhase::Halted => "halted",
        RecordPhase::Failed => "failed",
        RecordPhase::Aborted => "aborted",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(phase: RecordPhase) -> Record {
        Record {
            name: "checkout".into(),
            stable_version: "v2".into(),
            new_version: (phase != RecordPhase::Promoted).then(|| "v3".into()),
            phase,
            weight: 0,
            holder: None,
            updated_at: "2026-01-01T00:00:00.000Z".into(),
            stable_pool: None,
            stable_pool_name: None,
            pending: None,
            reason: None,
        }
    }

    fn percent(value: u8) -> Weight {
        Weight::new(value).unwrap()
    }

    #[test]
    fn a_settled_record_with_traffic_on_the_new_side_is_a_mismatch() {
        let promoted = record(RecordPhase::Promoted);
        let error = compare(
            Some(&promoted),
            "state file s.json",
            "haproxy backend app",
            percent(100),
        )
        .unwrap_err();
        assert!(
            error
                .message
                .contains("haproxy backend app sends 100% of traffic")
                && error
                    .message
                    .contains("state file s.json says v2 is stable"),
            "{}",
            error.message
        );
        assert!(compare(None, "s", "r", percent(10)).is_err());
        assert!(
            compare(
                Some(&record(RecordPhase::RolledBack)),
                "s",
                "r",
                percent(50)
            )
            .is_err()
        );
    }

    #[test]
    fn a_command_on_a_rollout_in_progress_needs_the_router_at_its_recorded_share() {
        let mut halted = record(RecordPhase::Halted);
        halted.weight = 20;
        assert_eq!(
            compare_pending(Some(&halted), "s", "r", percent(20)),
            Ok(())
        );
        let error = compare_pending(Some(&halted), "state file s", "r", percent(60)).unwrap_err();
        assert!(
            error.message.contains("r sends 60% of traffic to v3")
                && error
                    .message
                    .contains("state file s says the rollout of v3 (halted")
                && error.message.contains("has 20% on v3"),
            "{}",
            error.message
        );
        // A change that was started may or may not have landed.
        halted.pending = Some(Pending::Weight { weight: 60 });
        assert_eq!(
            compare_pending(Some(&halted), "s", "r", percent(60)),
            Ok(())
        );
        assert!(compare_pending(Some(&halted), "s", "r", percent(100)).is_err());
        // Settled: everything must be on stable.
        let promoted = record(RecordPhase::Promoted);
        assert!(compare_pending(Some(&promoted), "s", "r", percent(10)).is_err());
        assert_eq!(compare_pending(None, "s", "r", Weight::ZERO), Ok(()));
    }

    #[test]
    fn all_traffic_on_stable_or_a_rollout_in_progress_is_no_mismatch() {
        assert_eq!(compare(None, "s", "r", Weight::ZERO), Ok(()));
        let promoted = record(RecordPhase::Promoted);
        assert_eq!(compare(Some(&promoted), "s", "r", Weight::ZERO), Ok(()));
        // A rollout in progress has traffic on its new side by design; resuming judges it.
        let in_progress = record(RecordPhase::InProgress);
        assert_eq!(compare(Some(&in_progress), "s", "r", percent(20)), Ok(()));
    }
}
