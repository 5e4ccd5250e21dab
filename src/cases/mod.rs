//! Cases (SPEC §6): the reports of one investigation, and the registry stations it concerns.

pub mod handlers;
pub mod rules;
pub mod store;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;

use crate::db::schema::{case_stations, cases};
use crate::db::Id;
use crate::reports::Priority;

crate::text_enum! {
    /// SPEC §6.
    pub enum CaseStatus { Open = "open", Monitoring = "monitoring", Closed = "closed" }
}

crate::text_enum! {
    /// How a station is tied to a case.
    pub enum Relation { OperatesFrom = "operates_from", Mentioned = "mentioned", Suspected = "suspected" }
}

crate::text_enum! {
    pub enum Confidence { Low = "low", Medium = "medium", High = "high" }
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = cases, treat_none_as_default_value = false)]
pub struct CaseRow {
    pub id: Id,
    pub reference: String,
    pub title: String,
    pub summary: Option<String>,
    pub status: CaseStatus,
    pub priority: Priority,
    pub assignee_id: Option<Id>,
    pub created_by: Option<Id>,
    pub version: i32,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = case_stations, treat_none_as_default_value = false)]
pub struct LinkRow {
    pub case_id: Id,
    pub station_id: Id,
    pub relation: Relation,
    pub confidence: Confidence,
    pub note: Option<String>,
    pub created_by: Option<Id>,
    pub created_at: NaiveDateTime,
}

/// A case in a list, and the head of the case view. `summary` is the caseworkers' own
/// writing: admins, who may read case metadata only, do not get it.
#[derive(Debug, Clone, Serialize)]
pub struct CaseView {
    pub id: Id,
    pub reference: String,
    pub title: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    pub status: CaseStatus,
    pub priority: Priority,
    pub assignee_id: Option<Id>,
    pub version: i32,
    #[serde(with = "crate::time::rfc3339")]
    pub created_at: NaiveDateTime,
    #[serde(with = "crate::time::rfc3339")]
    pub updated_at: NaiveDateTime,
}

impl CaseView {
    pub fn new(row: &CaseRow, with_summary: bool) -> Self {
        CaseView {
            id: row.id,
            reference: row.reference.clone(),
            title: row.title.clone(),
            summary: if with_summary { row.summary.clone() } else { None },
            status: row.status,
            priority: row.priority,
            assignee_id: row.assignee_id,
            version: row.version,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

/// A station linked to a case.
#[derive(Debug, Clone, Serialize)]
pub struct LinkView {
    pub station_id: Id,
    pub name: String,
    pub country: String,
    pub relation: Relation,
    pub confidence: Confidence,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    #[serde(with = "crate::time::rfc3339")]
    pub created_at: NaiveDateTime,
}
