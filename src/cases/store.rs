//! Queries on cases and their links.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::{CaseRow, CaseStatus, LinkRow, LinkView};
use crate::db::keyset::{self, Order};
use crate::db::schema::{case_stations, cases, data_keys, reports, stations};
use crate::db::{DbConn, Id};
use crate::db_run;
use crate::reports::ReportRow;

pub fn insert(conn: &mut DbConn, row: &CaseRow) -> QueryResult<()> {
    db_run!(conn: { diesel::insert_into(cases::table).values(row).execute(conn) }).map(|_| ())
}

pub fn find(conn: &mut DbConn, id: Id) -> QueryResult<Option<CaseRow>> {
    db_run!(conn: { cases::table.find(id).select(CaseRow::as_select()).first(conn).optional() })
}

pub fn reference_taken(conn: &mut DbConn, reference: &str) -> QueryResult<bool> {
    db_run!(conn: {
        diesel::select(diesel::dsl::exists(cases::table.filter(cases::reference.eq(reference)))).get_result(conn)
    })
}

/// Writes a case's fields. Its version is claimed first (`db::versioned`).
pub fn save(conn: &mut DbConn, row: &CaseRow) -> QueryResult<()> {
    db_run!(conn: {
        diesel::update(cases::table.find(row.id))
            .set((
                cases::title.eq(&row.title),
                cases::summary.eq(&row.summary),
                cases::status.eq(&row.status),
                cases::priority.eq(&row.priority),
                cases::assignee_id.eq(row.assignee_id),
            ))
            .execute(conn)
    })
    .map(|_| ())
}

#[derive(Debug, Default)]
pub struct Filter {
    pub status: Option<CaseStatus>,
    pub assignee: Option<Option<Id>>,
    pub station_id: Option<Id>,
    pub before: Option<(NaiveDateTime, Id)>,
    pub limit: i64,
}

pub fn list(conn: &mut DbConn, f: &Filter) -> QueryResult<Vec<CaseRow>> {
    db_run!(conn: {
        let mut q = cases::table.select(CaseRow::as_select()).into_boxed();
        if let Some(v) = f.status {
            q = q.filter(cases::status.eq(v));
        }
        match f.assignee {
            None => {}
            Some(None) => q = q.filter(cases::assignee_id.is_null()),
            Some(Some(id)) => q = q.filter(cases::assignee_id.eq(id)),
        }
        if let Some(station) = f.station_id {
            let linked = case_stations::table.filter(case_stations::station_id.eq(station)).select(case_stations::case_id);
            q = q.filter(cases::id.eq_any(linked));
        }
        if let Some((at, id)) = f.before {
            q = q.filter(keyset::after("cases.created_at, cases.id", vec![at.into(), id.into()], Order::Descending));
        }
        q.order((cases::created_at.desc(), cases::id.desc())).limit(f.limit + 1).load(conn)
    })
}

pub fn reports_of(conn: &mut DbConn, case: Id) -> QueryResult<Vec<ReportRow>> {
    db_run!(conn: {
        reports::table
            .filter(reports::case_id.eq(case))
            .select(ReportRow::as_select())
            .order((reports::created_at.asc(), reports::id.asc()))
            .load(conn)
    })
}

/// Puts a report into a case, only if it is in none: `false` when it already is in one.
pub fn attach(conn: &mut DbConn, case: Id, report: Id, at: NaiveDateTime) -> QueryResult<bool> {
    db_run!(conn: {
        diesel::update(reports::table.find(report).filter(reports::case_id.is_null()))
            .set((reports::case_id.eq(case), reports::updated_at.eq(at)))
            .execute(conn)
    })
    .map(|n| n == 1)
}

pub fn detach(conn: &mut DbConn, case: Id, report: Id, at: NaiveDateTime) -> QueryResult<bool> {
    db_run!(conn: {
        diesel::update(reports::table.find(report).filter(reports::case_id.eq(case)))
            .set((reports::case_id.eq(None::<Id>), reports::updated_at.eq(at)))
            .execute(conn)
    })
    .map(|n| n == 1)
}

pub fn links_of(conn: &mut DbConn, case: Id) -> QueryResult<Vec<LinkView>> {
    let rows: Vec<(LinkRow, String, String)> = db_run!(conn: {
        case_stations::table
            .inner_join(stations::table)
            .filter(case_stations::case_id.eq(case))
            .select((LinkRow::as_select(), stations::name, stations::country))
            .order(stations::name.asc())
            .load(conn)
    })?;
    Ok(rows
        .into_iter()
        .map(|(link, name, country)| LinkView {
            station_id: link.station_id,
            name,
            country,
            relation: link.relation,
            confidence: link.confidence,
            note: link.note,
            created_at: link.created_at,
        })
        .collect())
}

pub fn find_link(conn: &mut DbConn, case: Id, station: Id) -> QueryResult<Option<LinkRow>> {
    db_run!(conn: {
        case_stations::table.find((case, station)).select(LinkRow::as_select()).first(conn).optional()
    })
}

pub fn insert_link(conn: &mut DbConn, row: &LinkRow) -> QueryResult<()> {
    db_run!(conn: { diesel::insert_into(case_stations::table).values(row).execute(conn) }).map(|_| ())
}

pub fn delete_link(conn: &mut DbConn, case: Id, station: Id) -> QueryResult<bool> {
    db_run!(conn: { diesel::delete(case_stations::table.find((case, station))).execute(conn) }).map(|n| n == 1)
}

/// Whether `id` is an entry of the registry (any visibility: staff link internal ones too).
pub fn station_exists(conn: &mut DbConn, id: Id) -> QueryResult<bool> {
    db_run!(conn: { diesel::select(diesel::dsl::exists(stations::table.find(id))).get_result(conn) })
}

/// Cases whose summary or link notes are still stored in the clear (from before SPEC §14.4):
/// those with such text and no data key yet.
pub fn with_plain_text(conn: &mut DbConn) -> QueryResult<Vec<(Id, Option<String>)>> {
    use diesel::dsl::{exists, not};
    db_run!(conn: {
        let keyed = data_keys::table
            .filter(data_keys::owner_table.eq("cases"))
            .filter(data_keys::owner_id.eq(cases::id));
        let noted = case_stations::table.filter(case_stations::case_id.eq(cases::id)).filter(case_stations::note.is_not_null());
        cases::table
            .filter(not(exists(keyed)))
            .filter(cases::summary.is_not_null().or(exists(noted)))
            .select((cases::id, cases::summary))
            .load(conn)
    })
}

pub fn set_summary(conn: &mut DbConn, id: Id, summary: Option<&str>) -> QueryResult<()> {
    db_run!(conn: { diesel::update(cases::table.find(id)).set(cases::summary.eq(summary)).execute(conn) }).map(|_| ())
}

/// The notes of a case's links: `(station_id, note)`.
pub fn link_notes(conn: &mut DbConn, case: Id) -> QueryResult<Vec<(Id, String)>> {
    db_run!(conn: {
        case_stations::table
            .filter(case_stations::case_id.eq(case))
            .filter(case_stations::note.is_not_null())
            .select((case_stations::station_id, case_stations::note.assume_not_null()))
            .load(conn)
    })
}

pub fn set_link_note(conn: &mut DbConn, case: Id, station: Id, note: &str) -> QueryResult<()> {
    db_run!(conn: {
        diesel::update(case_stations::table.find((case, station))).set(case_stations::note.eq(note)).execute(conn)
    })
    .map(|_| ())
}
