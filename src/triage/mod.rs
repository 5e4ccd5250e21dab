//! Triage (SPEC §5): the staff queue and the changes caseworkers make to a report's status,
//! priority, assignee and tags.

pub mod handlers;
pub mod queue;
pub mod rules;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;

use crate::db::schema::{report_tactics, report_tags};
use crate::db::{DbConn, Id};
use crate::db_run;
use crate::reports::ReportRow;

/// A report as the queue shows it: metadata only, never content.
#[derive(Debug, Clone, Serialize)]
pub struct QueueItem {
    pub id: Id,
    pub reference: String,
    pub kind: String,
    pub status: String,
    pub resolution: Option<String>,
    pub duplicate_of: Option<Id>,
    pub priority: String,
    pub country: String,
    pub city: Option<String>,
    pub station_id: Option<Id>,
    pub assignee_id: Option<Id>,
    pub case_id: Option<Id>,
    pub source: String,
    pub tactics: Vec<String>,
    pub tags: Vec<String>,
    /// The ETag to send as `If-Match` when changing the report.
    pub version: i32,
    #[serde(with = "crate::time::rfc3339")]
    pub created_at: NaiveDateTime,
    #[serde(with = "crate::time::rfc3339")]
    pub updated_at: NaiveDateTime,
}

impl QueueItem {
    pub fn new(row: &ReportRow, tactics: Vec<String>, tags: Vec<String>) -> Self {
        QueueItem {
            id: row.id,
            reference: row.reference.clone(),
            kind: row.kind.clone(),
            status: row.status.clone(),
            resolution: row.resolution.clone(),
            duplicate_of: row.duplicate_of,
            priority: row.priority.clone(),
            country: row.country.clone(),
            city: row.city.clone(),
            station_id: row.station_id,
            assignee_id: row.assignee_id,
            case_id: row.case_id,
            source: row.source.clone(),
            tactics,
            tags,
            version: row.version,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

/// Queue items for these rows, with their tactics and tags (two queries for the whole page).
pub fn items(conn: &mut DbConn, rows: &[ReportRow]) -> QueryResult<Vec<QueueItem>> {
    let ids: Vec<Id> = rows.iter().map(|r| r.id).collect();
    let tactics: Vec<(Id, String)> = db_run!(conn: {
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
    let of = |pairs: &[(Id, String)], id: Id| pairs.iter().filter(|(r, _)| *r == id).map(|(_, v)| v.clone()).collect();
    Ok(rows.iter().map(|row| QueueItem::new(row, of(&tactics, row.id), of(&tags, row.id))).collect())
}

pub fn tags(conn: &mut DbConn, report_id: Id) -> QueryResult<Vec<String>> {
    db_run!(conn: {
        report_tags::table
            .filter(report_tags::report_id.eq(report_id))
            .select(report_tags::tag)
            .order(report_tags::tag.asc())
            .load(conn)
    })
}

pub fn set_tags(conn: &mut DbConn, report_id: Id, tags: &[String]) -> QueryResult<()> {
    db_run!(conn: { diesel::delete(report_tags::table.filter(report_tags::report_id.eq(report_id))).execute(conn) })?;
    for tag in tags {
        db_run!(conn: {
            diesel::insert_into(report_tags::table)
                .values((report_tags::report_id.eq(report_id), report_tags::tag.eq(tag)))
                .execute(conn)
        })?;
    }
    Ok(())
}
