//! Queries on reports and their tactics.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::{KeyRow, MessageRow, NoteRow, ReportRow, Tactic};
use crate::db::keyset::{self, Order};
use crate::db::schema::{report_keys, report_messages, report_notes, report_tactics, report_tags, reports, stations};
use crate::db::{DbConn, Id};
use crate::db_run;
use crate::stations::Visibility;

/// Reports, skipping any whose reference another report has (the unique index checks it as part
/// of the insert, so no query looks first); how many were stored. One statement on PostgreSQL;
/// one a row on SQLite (diesel has no multi-row upsert there, and SQLite statements cost no
/// round trip).
pub fn insert_unless_reference_taken(conn: &mut DbConn, rows: &[ReportRow]) -> QueryResult<usize> {
    db_run!(conn: pg {
        crate::insert_in_fixed_chunks!(rows, |chunk| {
            diesel::insert_into(reports::table).values(chunk).on_conflict(reports::reference).do_nothing().execute(conn)
        })
    } sqlite {
        let mut stored = 0;
        for row in rows {
            stored +=
                diesel::insert_into(reports::table).values(row).on_conflict(reports::reference).do_nothing().execute(conn)?;
        }
        Ok(stored)
    })
}

/// Which of `ids` are stored reports.
pub fn stored(conn: &mut DbConn, ids: &[Id]) -> QueryResult<Vec<Id>> {
    db_run!(conn: { reports::table.filter(reports::id.eq_any(ids)).select(reports::id).load(conn) })
}

/// The keys and tactics of reports just stored.
pub fn insert_keys_and_tactics(conn: &mut DbConn, keys: &[KeyRow], tactics: &[(Id, Tactic)]) -> QueryResult<()> {
    db_run!(conn: { crate::insert_in_fixed_chunks!(keys, |chunk| diesel::insert_into(report_keys::table).values(chunk).execute(conn)) })?;
    let tactics: Vec<_> =
        tactics.iter().map(|(id, t)| (report_tactics::report_id.eq(*id), report_tactics::tactic.eq(*t))).collect();
    db_run!(conn: { crate::insert_in_fixed_chunks!(tactics, |chunk| diesel::insert_into(report_tactics::table).values(chunk).execute(conn)) })?;
    Ok(())
}

pub fn find(conn: &mut DbConn, id: Id) -> QueryResult<Option<ReportRow>> {
    db_run!(conn: { reports::table.find(id).select(ReportRow::as_select()).first(conn).optional() })
}

/// [`find`], locking the row on PostgreSQL until the transaction ends (`FOR NO KEY UPDATE`, the
/// lock an `UPDATE` takes; SQLite's write transactions hold the whole database already).
pub fn find_locked(conn: &mut DbConn, id: Id) -> QueryResult<Option<ReportRow>> {
    db_run!(conn: pg {
        reports::table.find(id).select(ReportRow::as_select()).for_no_key_update().get_result(conn).optional()
    } sqlite {
        reports::table.find(id).select(ReportRow::as_select()).first(conn).optional()
    })
}

pub fn key(conn: &mut DbConn, report_id: Id) -> QueryResult<Option<KeyRow>> {
    db_run!(conn: { report_keys::table.find(report_id).select(KeyRow::as_select()).first(conn).optional() })
}

pub fn find_by_receipt(conn: &mut DbConn, receipt_hash: &str) -> QueryResult<Option<ReportRow>> {
    db_run!(conn: {
        reports::table
            .filter(reports::receipt_hash.eq(receipt_hash))
            .select(ReportRow::as_select())
            .first(conn)
            .optional()
    })
}

pub fn tactics(conn: &mut DbConn, report_id: Id) -> QueryResult<Vec<Tactic>> {
    db_run!(conn: {
        report_tactics::table
            .filter(report_tactics::report_id.eq(report_id))
            .select(report_tactics::tactic)
            .order(report_tactics::tactic.asc())
            .load(conn)
    })
}

/// Whether `id` is a station the public may see.
pub fn public_station_exists(conn: &mut DbConn, id: Id) -> QueryResult<bool> {
    db_run!(conn: {
        diesel::select(diesel::dsl::exists(
            stations::table.filter(stations::id.eq(id)).filter(stations::visibility.eq(Visibility::Public)),
        ))
        .get_result(conn)
    })
}

/// A reporter's own reports (by their owner tag), newest first, after the keyset position `before`.
pub fn list_mine(
    conn: &mut DbConn,
    owner_tag: &str,
    before: Option<(NaiveDateTime, Id)>,
    limit: i64,
) -> QueryResult<Vec<ReportRow>> {
    db_run!(conn: {
        let mut query = reports::table
            .filter(reports::owner_tag.eq(owner_tag))
            .select(ReportRow::as_select())
            .into_boxed();
        if let Some((at, id)) = before {
            query = query.filter(keyset::after("reports.created_at, reports.id", vec![at.into(), id.into()], Order::Descending));
        }
        query.order((reports::created_at.desc(), reports::id.desc())).limit(limit + 1).load(conn)
    })
}

pub fn touch(conn: &mut DbConn, id: Id, at: NaiveDateTime) -> QueryResult<()> {
    db_run!(conn: { diesel::update(reports::table.find(id)).set(reports::updated_at.eq(at)).execute(conn) }).map(|_| ())
}

/// A report's triage tags, in order.
pub fn tags(conn: &mut DbConn, report_id: Id) -> QueryResult<Vec<String>> {
    db_run!(conn: {
        report_tags::table
            .filter(report_tags::report_id.eq(report_id))
            .select(report_tags::tag)
            .order(report_tags::tag.asc())
            .load(conn)
    })
}

/// A page of a report's message thread, oldest first, after the keyset position `after`.
pub fn messages(
    conn: &mut DbConn,
    report_id: Id,
    after: Option<(NaiveDateTime, Id)>,
    limit: i64,
) -> QueryResult<Vec<MessageRow>> {
    db_run!(conn: {
        let mut query = report_messages::table.filter(report_messages::report_id.eq(report_id)).into_boxed();
        if let Some((at, id)) = after {
            let position = vec![at.into(), id.into()];
            query = query.filter(keyset::after("report_messages.created_at, report_messages.id", position, Order::Ascending));
        }
        query
            .order((report_messages::created_at.asc(), report_messages::id.asc()))
            .limit(limit + 1)
            .select(MessageRow::as_select())
            .load(conn)
    })
}

pub fn insert_message(conn: &mut DbConn, row: &MessageRow) -> QueryResult<()> {
    db_run!(conn: { diesel::insert_into(report_messages::table).values(row).execute(conn) }).map(|_| ())
}

/// A page of a report's internal notes, oldest first, after the keyset position `after`.
pub fn notes(
    conn: &mut DbConn,
    report_id: Id,
    after: Option<(NaiveDateTime, Id)>,
    limit: i64,
) -> QueryResult<Vec<NoteRow>> {
    db_run!(conn: {
        let mut query = report_notes::table.filter(report_notes::report_id.eq(report_id)).into_boxed();
        if let Some((at, id)) = after {
            let position = vec![at.into(), id.into()];
            query = query.filter(keyset::after("report_notes.created_at, report_notes.id", position, Order::Ascending));
        }
        query
            .order((report_notes::created_at.asc(), report_notes::id.asc()))
            .limit(limit + 1)
            .select(NoteRow::as_select())
            .load(conn)
    })
}

pub fn insert_note(conn: &mut DbConn, row: &NoteRow) -> QueryResult<()> {
    db_run!(conn: { diesel::insert_into(report_notes::table).values(row).execute(conn) }).map(|_| ())
}

/// Reports still linked to their owner's account id (from before SPEC §14.2).
pub fn owned_by_id(conn: &mut DbConn) -> QueryResult<Vec<(Id, Id)>> {
    db_run!(conn: {
        reports::table
            .filter(reports::reporter_id.is_not_null())
            .select((reports::id, reports::reporter_id.assume_not_null()))
            .load(conn)
    })
}

/// Replaces a report's owner id by its owner tag; a reporter is not its submitter either.
pub fn set_owner_tag(conn: &mut DbConn, id: Id, tag: &str) -> QueryResult<()> {
    db_run!(conn: {
        diesel::update(reports::table.find(id))
            .set((reports::owner_tag.eq(tag), reports::reporter_id.eq(None::<Id>), reports::submitted_by.eq(None::<Id>)))
            .execute(conn)
    })
    .map(|_| ())
}

/// Forgets which account wrote a reporter's messages (from before SPEC §14.2).
pub fn forget_reporter_authors(conn: &mut DbConn) -> QueryResult<usize> {
    db_run!(conn: {
        diesel::update(report_messages::table.filter(report_messages::author_role.eq("reporter")))
            .filter(report_messages::author_id.is_not_null())
            .set(report_messages::author_id.eq(None::<Id>))
            .execute(conn)
    })
}
