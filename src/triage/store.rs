//! Queries of triage: the queue, a report's tags and its triage fields.

use diesel::prelude::*;

use super::queue::{Assignee, Filter, Sort};
use super::rules::TriageState;
use super::QueueItem;
use crate::db::keyset::{self, Order};
use crate::db::schema::{report_tactics, report_tags, reports};
use crate::db::{DbConn, Id};
use crate::db_run;
use crate::reports::ReportRow;

/// One page of the queue (plus one row, to tell whether another page follows).
pub fn queue(conn: &mut DbConn, f: &Filter) -> QueryResult<Vec<ReportRow>> {
    let order = if f.descending { Order::Descending } else { Order::Ascending };
    db_run!(conn: {
        let mut q = reports::table.select(ReportRow::as_select()).into_boxed();
        if let Some(v) = f.status {
            q = q.filter(reports::status.eq(v));
        }
        if let Some(v) = f.kind {
            q = q.filter(reports::kind.eq(v));
        }
        if let Some(v) = f.tactic {
            let with_tactic = report_tactics::table.filter(report_tactics::tactic.eq(v)).select(report_tactics::report_id);
            q = q.filter(reports::id.eq_any(with_tactic));
        }
        if let Some(v) = &f.country {
            q = q.filter(reports::country.eq(v.clone()));
        }
        if let Some(v) = f.station_id {
            q = q.filter(reports::station_id.eq(v));
        }
        match &f.assignee {
            None => {}
            Some(Assignee::Nobody) => q = q.filter(reports::assignee_id.is_null()),
            Some(Assignee::User(id)) => q = q.filter(reports::assignee_id.eq(*id)),
        }
        if let Some(v) = f.priority {
            q = q.filter(reports::priority.eq(v));
        }
        if let Some(v) = f.created_after {
            q = q.filter(reports::created_at.ge(v));
        }
        if let Some(v) = f.created_before {
            q = q.filter(reports::created_at.lt(v));
        }
        if let Some(v) = f.case_id {
            q = q.filter(reports::case_id.eq(v));
        }
        if let Some(cutoffs) = &f.expiring {
            q = q.filter(crate::retention::store::shreddable!(cutoffs));
        }
        if let Some(p) = &f.after {
            q = q.filter(match f.sort {
                Sort::CreatedAt => {
                    keyset::after("reports.created_at, reports.id", vec![p.created_at.into(), p.id.into()], order)
                }
                Sort::Priority => keyset::after(
                    "reports.priority_rank, reports.created_at, reports.id",
                    vec![p.rank.into(), p.created_at.into(), p.id.into()],
                    order,
                ),
            });
        }
        q = match (f.sort, order) {
            (Sort::CreatedAt, Order::Descending) => q.order((reports::created_at.desc(), reports::id.desc())),
            (Sort::CreatedAt, Order::Ascending) => q.order((reports::created_at.asc(), reports::id.asc())),
            (Sort::Priority, Order::Descending) => {
                q.order((reports::priority_rank.desc(), reports::created_at.desc(), reports::id.desc()))
            }
            (Sort::Priority, Order::Ascending) => {
                q.order((reports::priority_rank.asc(), reports::created_at.asc(), reports::id.asc()))
            }
        };
        q.limit(f.limit + 1).load(conn)
    })
}

/// Queue items for these rows, with their tactics and tags (two queries for the whole page).
pub fn items(conn: &mut DbConn, rows: &[ReportRow]) -> QueryResult<Vec<QueueItem>> {
    let ids: Vec<Id> = rows.iter().map(|r| r.id).collect();
    let tactics: Vec<(Id, crate::reports::Tactic)> = db_run!(conn: {
        report_tactics::table
            .filter(report_tactics::report_id.eq_any(&ids))
            .select((report_tactics::report_id, report_tactics::tactic))
            .order(report_tactics::tactic.asc())
            .load(conn)
    })?;
    let tags: Vec<(Id, String)> = db_run!(conn: {
        report_tags::table
            .filter(report_tags::report_id.eq_any(&ids))
            .select((report_tags::report_id, report_tags::tag))
            .order(report_tags::tag.asc())
            .load(conn)
    })?;
    Ok(rows
        .iter()
        .map(|row| {
            let tactics = tactics.iter().filter(|(r, _)| *r == row.id).map(|(_, t)| *t).collect();
            let tags = tags.iter().filter(|(r, _)| *r == row.id).map(|(_, t)| t.clone()).collect();
            QueueItem::new(row, tactics, tags)
        })
        .collect())
}

/// A report's triage fields as stored.
pub fn state(conn: &mut DbConn, report: &ReportRow) -> QueryResult<TriageState> {
    Ok(TriageState {
        status: report.status,
        resolution: report.resolution,
        duplicate_of: report.duplicate_of,
        priority: report.priority,
        assignee_id: report.assignee_id,
        tags: crate::reports::store::tags(conn, report.id)?,
    })
}

/// Writes a report's new triage fields. Its version is claimed first (`db::versioned`). A new
/// status restarts the report's retention clock (SPEC §13) at `at`.
pub fn save(
    conn: &mut DbConn,
    report_id: Id,
    old: &TriageState,
    s: &TriageState,
    at: chrono::NaiveDateTime,
) -> QueryResult<()> {
    let old_tags = old.tags.as_slice();
    if old.status != s.status {
        db_run!(conn: {
            diesel::update(reports::table.find(report_id)).set(reports::status_changed_at.eq(at)).execute(conn)
        })?;
    }
    db_run!(conn: {
        diesel::update(reports::table.find(report_id))
            .set((
                reports::status.eq(s.status),
                reports::resolution.eq(s.resolution),
                reports::duplicate_of.eq(s.duplicate_of),
                reports::priority.eq(s.priority),
                reports::priority_rank.eq(s.priority.rank()),
                reports::assignee_id.eq(s.assignee_id),
            ))
            .execute(conn)
    })?;
    if old_tags != s.tags.as_slice() {
        db_run!(conn: {
            diesel::delete(report_tags::table.filter(report_tags::report_id.eq(report_id))).execute(conn)
        })?;
        let rows: Vec<_> =
            s.tags.iter().map(|tag| (report_tags::report_id.eq(report_id), report_tags::tag.eq(tag))).collect();
        if !rows.is_empty() {
            db_run!(conn: { diesel::insert_into(report_tags::table).values(&rows).execute(conn) })?;
        }
    }
    Ok(())
}
