//! Triage (SPEC §5): the staff queue and the changes caseworkers make to a report's status,
//! priority, assignee and tags.

pub mod handlers;
pub mod queue;
pub mod rules;
pub mod store;

use chrono::NaiveDateTime;
use serde::Serialize;

use crate::db::Id;
use crate::reports::{Kind, Priority, ReportRow, Resolution, Source, Status, Tactic};

/// A report as the queue shows it: metadata only, never content.
#[derive(Debug, Clone, Serialize)]
pub struct QueueItem {
    pub id: Id,
    pub reference: String,
    pub kind: Kind,
    pub status: Status,
    pub resolution: Option<Resolution>,
    pub duplicate_of: Option<Id>,
    pub priority: Priority,
    pub country: String,
    pub city: Option<String>,
    pub station_id: Option<Id>,
    pub assignee_id: Option<Id>,
    pub case_id: Option<Id>,
    pub source: Source,
    pub tactics: Vec<Tactic>,
    pub tags: Vec<String>,
    /// The ETag to send as `If-Match` when changing the report.
    pub version: i32,
    #[serde(with = "crate::time::rfc3339")]
    pub created_at: NaiveDateTime,
    #[serde(with = "crate::time::rfc3339")]
    pub updated_at: NaiveDateTime,
    /// When its status last changed: the start of its retention period (SPEC §13).
    #[serde(with = "crate::time::rfc3339")]
    pub status_changed_at: NaiveDateTime,
    /// Set once the report is shredded: the item is its tombstone.
    #[serde(with = "crate::time::rfc3339_opt")]
    pub shredded_at: Option<NaiveDateTime>,
    /// Whether a legal hold is on the report itself (a hold on its case protects it too).
    pub legal_hold: bool,
}

impl QueueItem {
    pub fn new(row: &ReportRow, tactics: Vec<Tactic>, tags: Vec<String>) -> Self {
        QueueItem {
            id: row.id,
            reference: row.reference.clone(),
            kind: row.kind,
            status: row.status,
            resolution: row.resolution,
            duplicate_of: row.duplicate_of,
            priority: row.priority,
            country: row.country.clone(),
            city: row.city.clone(),
            station_id: row.station_id,
            assignee_id: row.assignee_id,
            case_id: row.case_id,
            source: row.source,
            tactics,
            tags,
            version: row.version,
            created_at: row.created_at,
            updated_at: row.updated_at,
            status_changed_at: row.status_changed_at,
            shredded_at: row.shredded_at,
            legal_hold: row.legal_hold_at.is_some(),
        }
    }
}
