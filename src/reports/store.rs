//! Queries on reports and their tactics.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::{KeyRow, ReportRow};
use crate::db::schema::{report_keys, report_tactics, reports, stations};
use crate::db::{DbConn, Id};
use crate::db_run;

pub fn insert(conn: &mut DbConn, row: &ReportRow, key: &KeyRow, tactics: &[String]) -> QueryResult<()> {
    db_run!(conn: { diesel::insert_into(reports::table).values(row).execute(conn) })?;
    db_run!(conn: { diesel::insert_into(report_keys::table).values(key).execute(conn) })?;
    for tactic in tactics {
        db_run!(conn: {
            diesel::insert_into(report_tactics::table)
                .values((report_tactics::report_id.eq(row.id), report_tactics::tactic.eq(tactic)))
                .execute(conn)
        })?;
    }
    Ok(())
}

pub fn find(conn: &mut DbConn, id: Id) -> QueryResult<Option<ReportRow>> {
    db_run!(conn: { reports::table.find(id).select(ReportRow::as_select()).first(conn).optional() })
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

pub fn reference_taken(conn: &mut DbConn, reference: &str) -> QueryResult<bool> {
    db_run!(conn: {
        diesel::select(diesel::dsl::exists(reports::table.filter(reports::reference.eq(reference)))).get_result(conn)
    })
}

pub fn tactics(conn: &mut DbConn, report_id: Id) -> QueryResult<Vec<String>> {
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
            stations::table.filter(stations::id.eq(id)).filter(stations::visibility.eq("public")),
        ))
        .get_result(conn)
    })
}

/// A reporter's own reports, newest first, after the keyset position `before`.
pub fn list_mine(
    conn: &mut DbConn,
    reporter: Id,
    before: Option<(NaiveDateTime, Id)>,
    limit: i64,
) -> QueryResult<Vec<ReportRow>> {
    db_run!(conn: {
        let mut query = reports::table
            .filter(reports::reporter_id.eq(reporter))
            .select(ReportRow::as_select())
            .into_boxed();
        if let Some((at, id)) = before {
            query = query.filter(reports::created_at.lt(at).or(reports::created_at.eq(at).and(reports::id.lt(id))));
        }
        query.order((reports::created_at.desc(), reports::id.desc())).limit(limit + 1).load(conn)
    })
}

pub fn touch(conn: &mut DbConn, id: Id, at: NaiveDateTime) -> QueryResult<()> {
    db_run!(conn: { diesel::update(reports::table.find(id)).set(reports::updated_at.eq(at)).execute(conn) }).map(|_| ())
}
