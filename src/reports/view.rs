//! What a report looks like to the reporter and to a caseworker, decrypted with its data key.

use chrono::{NaiveDate, NaiveDateTime};
use serde::Serialize;

use super::{Kind, Precision, Priority, ReportRow, Resolution, Source, Status, Tactic};
use crate::crypto::envelope::DataKey;
use crate::db::Id;
use crate::error::AppError;

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
    pub kind: Kind,
    pub tactics: Vec<Tactic>,
    pub narrative: String,
    pub occurred_on: Option<NaiveDate>,
    pub occurred_on_precision: Option<Precision>,
    pub country: String,
    pub city: Option<String>,
    pub location_detail: Option<String>,
    pub station_id: Option<Id>,
    pub station_hint: Option<String>,
    pub contact: Option<String>,
    pub consent: Consent,
    pub on_behalf_of_other: bool,
    pub language: Option<String>,
    pub status: Status,
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
    pub kind: Kind,
    pub status: Status,
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
            kind: row.kind,
            status: row.status,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

/// Decrypts one stored value of a report (its fields, messages or notes). A value that does not
/// open is a server fault, never shown as empty.
pub fn open(key: &DataKey, table: &str, column: &str, row_id: Id, sealed: &str) -> Result<String, AppError> {
    key.open(table, column, row_id, sealed).map_err(|_| AppError::internal("decryption"))
}

fn open_field(
    key: &DataKey,
    report: &ReportRow,
    column: &str,
    value: &Option<String>,
) -> Result<Option<String>, AppError> {
    value.as_deref().map(|sealed| open(key, "reports", column, report.id, sealed)).transpose()
}

pub fn reporter_view(key: &DataKey, report: &ReportRow, tactics: Vec<Tactic>) -> Result<ReporterView, AppError> {
    let narrative = open(key, "reports", "narrative", report.id, &report.narrative)?;
    Ok(ReporterView {
        id: report.id,
        reference: report.reference.clone(),
        kind: report.kind,
        tactics,
        narrative,
        occurred_on: report.occurred_on,
        occurred_on_precision: report.occurred_on_precision,
        country: report.country.clone(),
        city: report.city.clone(),
        location_detail: open_field(key, report, "location_detail", &report.location_detail)?,
        station_id: report.station_id,
        station_hint: open_field(key, report, "station_hint", &report.station_hint)?,
        contact: open_field(key, report, "contact", &report.contact)?,
        consent: Consent {
            contact_ok: report.consent_contact_ok,
            share_with_authorities: report.consent_share_with_authorities,
        },
        on_behalf_of_other: report.on_behalf_of_other,
        language: report.language.clone(),
        status: report.status,
        created_at: report.created_at,
        updated_at: report.updated_at,
    })
}

/// What a caseworker sees: the reporter's fields plus how it came in and its priority.
#[derive(Serialize)]
pub struct StaffView {
    #[serde(flatten)]
    pub report: ReporterView,
    pub source: Source,
    pub priority: Priority,
    pub resolution: Option<Resolution>,
    pub duplicate_of: Option<Id>,
    pub assignee_id: Option<Id>,
    pub case_id: Option<Id>,
    pub tags: Vec<String>,
    /// Also sent as the `ETag`.
    pub version: i32,
}
