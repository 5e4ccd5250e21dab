//! Queries of withdrawal, receipts, holds and shredding (SPEC §13).

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::schema::{cases, report_keys, report_messages, report_notes, report_tags, reports};
use crate::db::{DbConn, Id};
use crate::db_run;
use crate::reports::{Resolution, Status};

/// The condition "retention shreds this report by the cutoffs": not shredded, not held (by
/// itself or by its case), and either an erase waiting for a hold to end or, for one of the
/// statuses in `$cutoffs` (`&[(Status, NaiveDateTime)]`, see `rules::cutoffs`), in that status
/// since the cutoff or earlier. An expression on `reports`, for use inside `db_run!`.
macro_rules! shreddable {
    ($cutoffs:expr) => {{
        use diesel::prelude::*;
        use $crate::db::schema::{cases, reports};
        let c = $crate::retention::store::per_status($cutoffs);
        let due = reports::erase_requested_at
            .is_not_null()
            .or(reports::status.eq(c[0].0).and(reports::status_changed_at.le(c[0].1)))
            .or(reports::status.eq(c[1].0).and(reports::status_changed_at.le(c[1].1)))
            .or(reports::status.eq(c[2].0).and(reports::status_changed_at.le(c[2].1)))
            .or(reports::status.eq(c[3].0).and(reports::status_changed_at.le(c[3].1)))
            .or(reports::status.eq(c[4].0).and(reports::status_changed_at.le(c[4].1)));
        let unheld_cases = cases::table.filter(cases::legal_hold_at.is_null()).select(cases::id.nullable());
        reports::shredded_at
            .is_null()
            .and(reports::legal_hold_at.is_null())
            .and(reports::case_id.is_null().or(reports::case_id.eq_any(unheld_cases)))
            .and(due)
    }};
}
pub(crate) use shreddable;

/// The cutoff of every status, in `Status::ALL` order: those of `cutoffs`, and for a status
/// kept for ever a time before any report existed, so that one query shape serves every policy.
pub fn per_status(cutoffs: &[(Status, NaiveDateTime)]) -> [(Status, NaiveDateTime); 5] {
    let never = chrono::DateTime::UNIX_EPOCH.naive_utc();
    let of = |status: Status| cutoffs.iter().find(|(s, _)| *s == status).map_or(never, |(_, at)| *at);
    [Status::New, Status::Triaged, Status::Investigating, Status::Closed, Status::Withdrawn].map(|s| (s, of(s)))
}

/// Shreds report `id` at `at`, if it is not shredded or held: the row becomes a tombstone (its
/// sealed columns emptied, its receipt gone, its version moved on), and its data key, messages,
/// notes, tags and [`remove_other_content`] are deleted. Returns whether it did; the `UPDATE`
/// comes first, so two shredders of one report wait for each other and the second does nothing.
pub fn shred(conn: &mut DbConn, id: Id, at: NaiveDateTime) -> QueryResult<Option<Vec<String>>> {
    let shredded = db_run!(conn: {
        let unheld_cases = cases::table.filter(cases::legal_hold_at.is_null()).select(cases::id.nullable());
        diesel::update(
            reports::table
                .find(id)
                .filter(reports::shredded_at.is_null())
                .filter(reports::legal_hold_at.is_null())
                .filter(reports::case_id.is_null().or(reports::case_id.eq_any(unheld_cases))),
        )
        .set((
            reports::shredded_at.eq(Some(at)),
            reports::narrative.eq(""),
            reports::contact.eq(None::<String>),
            reports::location_detail.eq(None::<String>),
            reports::station_hint.eq(None::<String>),
            reports::city.eq(None::<String>),
            reports::language.eq(None::<String>),
            reports::receipt_hash.eq(None::<String>),
            reports::version.eq(reports::version + 1),
            reports::updated_at.eq(at),
        ))
        .execute(conn)
    })?;
    if shredded == 0 {
        return Ok(None);
    }
    db_run!(conn: { diesel::delete(report_keys::table.filter(report_keys::report_id.eq(id))).execute(conn) })?;
    db_run!(conn: { diesel::delete(report_messages::table.filter(report_messages::report_id.eq(id))).execute(conn) })?;
    db_run!(conn: { diesel::delete(report_notes::table.filter(report_notes::report_id.eq(id))).execute(conn) })?;
    db_run!(conn: { diesel::delete(report_tags::table.filter(report_tags::report_id.eq(id))).execute(conn) })?;
    remove_other_content(conn, id).map(Some)
}

/// Removes whatever else a report holds beyond its row, key, messages, notes and tags, inside
/// the shredding's transaction: its evidence files' rows (SPEC §11). Answers the names of their
/// blobs, which the caller deletes once the transaction has committed (sealed under the key just
/// destroyed, they are unreadable already).
pub fn remove_other_content(conn: &mut DbConn, report_id: Id) -> QueryResult<Vec<String>> {
    crate::attachments::store::remove_all(conn, report_id)
}

/// The oldest report matching `$due` that no hold protects, claimed for this transaction: on
/// PostgreSQL the row is locked and rows other sweepers hold are skipped (`FOR UPDATE SKIP
/// LOCKED`), so concurrent sweepers take different reports.
macro_rules! claim_one {
    ($conn:ident, $due:expr, $oldest_first:expr) => {{
        let unheld_cases = cases::table.filter(cases::legal_hold_at.is_null()).select(cases::id.nullable());
        let columns = (reports::id, reports::status, reports::erase_requested_at.is_not_null());
        let query = reports::table
            .filter(reports::shredded_at.is_null())
            .filter($due)
            .filter(reports::legal_hold_at.is_null())
            .filter(reports::case_id.is_null().or(reports::case_id.eq_any(unheld_cases)))
            .select(columns)
            .order($oldest_first)
            .limit(1);
        db_run!($conn: pg {
            query.for_update().skip_locked().get_result($conn).optional()
        } sqlite {
            query.get_result($conn).optional()
        })
    }};
}

/// A report retention shreds now, claimed for this transaction (see `claim_one`), with its
/// status and whether an erase was waiting: first one whose reporter's erase waited for a hold,
/// then the oldest due of each status the policy shreds. One query each, so that each is an index
/// range (`reports_erase_pending`, `reports_retention`) rather than a scan of every report.
pub fn next_due(conn: &mut DbConn, cutoffs: &[(Status, NaiveDateTime)]) -> QueryResult<Option<(Id, Status, bool)>> {
    let erase = claim_one!(conn, reports::erase_requested_at.is_not_null(), reports::erase_requested_at.asc())?;
    if erase.is_some() {
        return Ok(erase);
    }
    for &(status, cutoff) in cutoffs {
        let due = reports::status.eq(status).and(reports::status_changed_at.le(cutoff));
        let found = claim_one!(conn, due, reports::status_changed_at.asc())?;
        if found.is_some() {
            return Ok(found);
        }
    }
    Ok(None)
}

/// Whether a legal hold on its case protects a report in that case.
pub fn case_held(conn: &mut DbConn, case_id: Option<Id>) -> QueryResult<bool> {
    let Some(case_id) = case_id else { return Ok(false) };
    let held: Option<Option<NaiveDateTime>> =
        db_run!(conn: { cases::table.find(case_id).select(cases::legal_hold_at).first(conn).optional() })?;
    Ok(held.flatten().is_some())
}

/// Closes a report as withdrawn: status and resolution `withdrawn`, its retention clock started,
/// its receipt revoked (and with it every token given for it), an erase remembered if asked.
pub fn withdraw(conn: &mut DbConn, id: Id, at: NaiveDateTime, request_erase: bool) -> QueryResult<()> {
    db_run!(conn: {
        diesel::update(reports::table.find(id))
            .set((
                reports::status.eq(Status::Withdrawn),
                reports::resolution.eq(Some(Resolution::Withdrawn)),
                reports::duplicate_of.eq(None::<Id>),
                reports::status_changed_at.eq(at),
                reports::receipt_hash.eq(None::<String>),
            ))
            .execute(conn)
    })?;
    if request_erase {
        self::request_erase(conn, id, at)?;
    }
    Ok(())
}

/// Remembers a reporter's erase that a legal hold defers.
pub fn request_erase(conn: &mut DbConn, id: Id, at: NaiveDateTime) -> QueryResult<()> {
    db_run!(conn: {
        diesel::update(reports::table.find(id)).set(reports::erase_requested_at.eq(Some(at))).execute(conn)
    })
    .map(|_| ())
}

/// Replaces (or, with `None`, revokes) a report's receipt hash.
pub fn set_receipt(conn: &mut DbConn, id: Id, receipt_hash: Option<&str>) -> QueryResult<()> {
    db_run!(conn: {
        diesel::update(reports::table.find(id)).set(reports::receipt_hash.eq(receipt_hash)).execute(conn)
    })
    .map(|_| ())
}

/// Puts (`Some`) or lifts (`None`) a report's own legal hold. Returns whether the row exists.
pub fn hold_report(conn: &mut DbConn, id: Id, at: Option<NaiveDateTime>) -> QueryResult<bool> {
    db_run!(conn: { diesel::update(reports::table.find(id)).set(reports::legal_hold_at.eq(at)).execute(conn) })
        .map(|n| n > 0)
}

/// A case's legal hold, locked for this transaction on PostgreSQL; `None` when there is no case.
pub fn case_hold_locked(conn: &mut DbConn, id: Id) -> QueryResult<Option<Option<NaiveDateTime>>> {
    db_run!(conn: pg {
        cases::table.find(id).select(cases::legal_hold_at).for_no_key_update().get_result(conn).optional()
    } sqlite {
        cases::table.find(id).select(cases::legal_hold_at).first(conn).optional()
    })
}

/// Puts (`Some`) or lifts (`None`) a case's legal hold, which protects every report in it.
pub fn hold_case(conn: &mut DbConn, id: Id, at: Option<NaiveDateTime>) -> QueryResult<()> {
    db_run!(conn: { diesel::update(cases::table.find(id)).set(cases::legal_hold_at.eq(at)).execute(conn) }).map(|_| ())
}
