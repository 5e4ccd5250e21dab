//! Retention and withdrawal rules (SPEC §13) as plain functions, tested without a database.

use chrono::{Duration, NaiveDateTime};

use super::Policy;
use crate::reports::Status;

/// The longest `expiring_within` the queue accepts, in days (about ten years).
pub const EXPIRING_WITHIN_MAX: u32 = 3_650;

/// For each status the policy shreds, the latest time of entering it that makes a report due
/// at `at`: a report in that status since then or earlier is due.
pub fn cutoffs(policy: &Policy, at: NaiveDateTime) -> Vec<(Status, NaiveDateTime)> {
    Status::ALL
        .iter()
        .filter_map(|&status| match policy.days(status) {
            0 => None,
            days => Some((status, at - Duration::days(i64::from(days)))),
        })
        .collect()
}

/// When a report that entered `status` at `since` is due, if the policy shreds that status.
pub fn due_at(policy: &Policy, status: Status, since: NaiveDateTime) -> Option<NaiveDateTime> {
    match policy.days(status) {
        0 => None,
        days => Some(since + Duration::days(i64::from(days))),
    }
}

/// `expiring_within=DAYS` of the queue: a whole number of days, 0 ..= [`EXPIRING_WITHIN_MAX`].
pub fn expiring_within(text: &str) -> Result<u32, &'static str> {
    text.parse::<u32>()
        .ok()
        .filter(|days| *days <= EXPIRING_WITHIN_MAX)
        .ok_or("must be a whole number of days from 0 to 3650")
}

/// What a report is, as far as a withdrawal is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Standing {
    pub status: Status,
    pub shredded: bool,
    /// A legal hold on the report or on its case.
    pub held: bool,
    pub erase_requested: bool,
}

/// What a withdrawal does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Plan {
    /// Close the report as `withdrawn` and revoke its receipt (only the first time).
    pub withdraw: bool,
    /// Remember the erase for when the hold is lifted.
    pub request_erase: bool,
    /// Shred now.
    pub shred: bool,
}

/// Withdrawing is idempotent: the first call closes the report as `withdrawn` and revokes its
/// receipt; `erase` shreds at once, or, while a legal hold stands, is remembered and done by the
/// sweeper once the hold is lifted. A later call changes nothing, except that `erase` on a
/// withdrawn report not yet shredded does what it would have done the first time.
pub fn plan(standing: Standing, erase: bool) -> Plan {
    let withdraw = standing.status != Status::Withdrawn;
    let erase = erase && !standing.shredded;
    Plan {
        withdraw,
        request_erase: erase && standing.held && !standing.erase_requested,
        shred: erase && !standing.held,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> NaiveDateTime {
        crate::time::parse(text).unwrap()
    }

    #[test]
    fn cutoffs_cover_the_statuses_that_are_shredded() {
        let policy = Policy { closed: 10, withdrawn: 1, ..Policy::KEEP };
        let now = at("2026-12-04T12:00:00Z");
        assert_eq!(
            cutoffs(&policy, now),
            vec![(Status::Closed, at("2026-11-24T12:00:00Z")), (Status::Withdrawn, at("2026-12-03T12:00:00Z"))]
        );
        assert!(cutoffs(&Policy::KEEP, now).is_empty());
    }

    #[test]
    fn due_dates() {
        let policy = Policy::DEFAULT;
        let since = at("2026-01-01T00:00:00Z");
        assert_eq!(due_at(&policy, Status::New, since), None);
        assert_eq!(due_at(&policy, Status::Withdrawn, since), Some(at("2026-01-31T00:00:00Z")));
        assert_eq!(due_at(&policy, Status::Closed, since), Some(at("2028-01-01T00:00:00Z")));
    }

    #[test]
    fn expiring_within_is_bounded() {
        assert_eq!(expiring_within("0"), Ok(0));
        assert_eq!(expiring_within("3650"), Ok(3650));
        assert!(expiring_within("3651").is_err());
        assert!(expiring_within("-1").is_err());
        assert!(expiring_within("soon").is_err());
    }

    fn standing(status: Status) -> Standing {
        Standing { status, shredded: false, held: false, erase_requested: false }
    }

    #[test]
    fn a_first_withdrawal_closes_and_erase_shreds() {
        assert_eq!(plan(standing(Status::New), false), Plan { withdraw: true, ..Plan::default() });
        assert_eq!(plan(standing(Status::Closed), true), Plan { withdraw: true, request_erase: false, shred: true });
    }

    #[test]
    fn a_hold_defers_the_erase() {
        let held = Standing { held: true, ..standing(Status::Investigating) };
        assert_eq!(plan(held, true), Plan { withdraw: true, request_erase: true, shred: false });
        let requested = Standing { erase_requested: true, status: Status::Withdrawn, ..held };
        assert_eq!(plan(requested, true), Plan::default());
    }

    #[test]
    fn withdrawing_again_changes_nothing_but_a_new_erase() {
        let withdrawn = standing(Status::Withdrawn);
        assert_eq!(plan(withdrawn, false), Plan::default());
        assert_eq!(plan(withdrawn, true), Plan { shred: true, ..Plan::default() });
        let shredded = Standing { shredded: true, ..withdrawn };
        assert_eq!(plan(shredded, true), Plan::default());
    }
}
