//! Reports: intake, the reporter's follow-up and the message thread (SPEC §4).

pub mod handlers;
pub mod messages;
pub mod notes;
pub mod rules;
pub mod store;

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;
use serde::Serialize;

use crate::db::schema::{report_keys, report_messages, reports};
use crate::db::Id;

/// Where a report came from. Nothing about the submitter's device or network is kept.
pub mod source {
    pub const ANONYMOUS: &str = "anonymous";
    pub const REPORTER: &str = "reporter";
    /// Entered by a caseworker from a phone call or an in-person meeting.
    pub const STAFF: &str = "staff";
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = reports)]
pub struct ReportRow {
    pub id: Id,
    pub reference: String,
    pub kind: String,
    pub occurred_on: Option<NaiveDate>,
    pub occurred_on_precision: Option<String>,
    pub country: String,
    pub city: Option<String>,
    pub language: Option<String>,
    pub station_id: Option<Id>,
    pub consent_contact_ok: bool,
    pub consent_share_with_authorities: bool,
    pub on_behalf_of_other: bool,
    pub source: String,
    pub reporter_id: Option<Id>,
    pub submitted_by: Option<Id>,
    pub receipt_hash: Option<String>,
    pub status: String,
    pub priority: String,
    /// Ciphertext.
    pub narrative: String,
    /// Ciphertext.
    pub contact: Option<String>,
    /// Ciphertext.
    pub location_detail: Option<String>,
    /// Ciphertext.
    pub station_hint: Option<String>,
    pub version: i32,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub priority_rank: i32,
    pub resolution: Option<String>,
    pub duplicate_of: Option<Id>,
    pub assignee_id: Option<Id>,
    pub case_id: Option<Id>,
}

/// A report's wrapped data key.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = report_keys)]
pub struct KeyRow {
    pub report_id: Id,
    pub key_id: String,
    pub wrapped: String,
    pub master_key_id: String,
    pub created_at: NaiveDateTime,
}

impl KeyRow {
    pub fn new(report_id: Id, wrapped: crate::crypto::envelope::WrappedKey, at: NaiveDateTime) -> Self {
        KeyRow {
            report_id,
            key_id: wrapped.key_id,
            wrapped: wrapped.wrapped,
            master_key_id: wrapped.master_key_id,
            created_at: at,
        }
    }

    pub fn wrapped_key(&self) -> crate::crypto::envelope::WrappedKey {
        crate::crypto::envelope::WrappedKey {
            key_id: self.key_id.clone(),
            wrapped: self.wrapped.clone(),
            master_key_id: self.master_key_id.clone(),
        }
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = report_messages)]
pub struct MessageRow {
    pub id: Id,
    pub report_id: Id,
    pub author_role: String,
    pub author_id: Option<Id>,
    /// Ciphertext.
    pub body: String,
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Clone, Serialize)]
pub struct Consent {
    pub contact_ok: bool,
    pub share_with_authorities: bool,
}

/// What the reporter (account or receipt) sees of their report: their own fields and the
/// status. Never internal notes, assignee or tags.
#[derive(Debug, Clone, Serialize)]
pub struct ReporterView {
    pub id: Id,
    pub reference: String,
    pub kind: String,
    pub tactics: Vec<String>,
    pub narrative: String,
    pub occurred_on: Option<NaiveDate>,
    pub occurred_on_precision: Option<String>,
    pub country: String,
    pub city: Option<String>,
    pub location_detail: Option<String>,
    pub station_id: Option<Id>,
    pub station_hint: Option<String>,
    pub contact: Option<String>,
    pub consent: Consent,
    pub on_behalf_of_other: bool,
    pub language: Option<String>,
    pub status: String,
    #[serde(with = "crate::time::rfc3339")]
    pub created_at: NaiveDateTime,
    #[serde(with = "crate::time::rfc3339")]
    pub updated_at: NaiveDateTime,
}

/// A report in the reporter's own list: metadata only.
#[derive(Debug, Clone, Serialize)]
pub struct ReportSummary {
    pub id: Id,
    pub reference: String,
    pub kind: String,
    pub status: String,
    #[serde(with = "crate::time::rfc3339")]
    pub created_at: NaiveDateTime,
    #[serde(with = "crate::time::rfc3339")]
    pub updated_at: NaiveDateTime,
}

impl From<&ReportRow> for ReportSummary {
    fn from(row: &ReportRow) -> Self {
        ReportSummary {
            id: row.id,
            reference: row.reference.clone(),
            kind: row.kind.clone(),
            status: row.status.clone(),
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}
