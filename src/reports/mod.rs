//! Reports: intake, the reporter's follow-up and the message thread (SPEC §4).

pub mod access;
pub mod group_commit;
pub mod handlers;
pub mod messages;
pub mod notes;
pub mod rules;
pub mod store;
pub mod view;

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;

use crate::db::schema::{report_keys, report_messages, report_notes, reports};
use crate::db::Id;

crate::text_enum! {
    /// Where a report came from. Nothing about the submitter's device or network is kept.
    pub enum Source {
        Anonymous = "anonymous",
        Reporter = "reporter",
        /// Entered by a caseworker from a phone call or an in-person meeting.
        Staff = "staff",
    }
}

crate::text_enum! {
    /// SPEC §4.1: something that happened, or a suspected outpost.
    pub enum Kind { Incident = "incident", Station = "station" }
}

crate::text_enum! {
    /// How precise `occurred_on` is.
    pub enum Precision { Day = "day", Month = "month", Year = "year" }
}

crate::text_enum! {
    /// SPEC §4.3, after Freedom House's categories of transnational repression.
    pub enum Tactic {
        ThreatToFamily = "threat_to_family",
        CoercedReturn = "coerced_return",
        Surveillance = "surveillance",
        SummonsOrVisit = "summons_or_visit",
        InformationDemand = "information_demand",
        OnlineHarassment = "online_harassment",
        DigitalIntrusion = "digital_intrusion",
        PhysicalAssault = "physical_assault",
        DetentionOrRendition = "detention_or_rendition",
        DocumentDenial = "document_denial",
        FinancialPressure = "financial_pressure",
        Other = "other",
    }
}

crate::text_enum! {
    /// SPEC §5: where a report is in triage; SPEC §13: `withdrawn` by its reporter, for good.
    pub enum Status {
        New = "new",
        Triaged = "triaged",
        Investigating = "investigating",
        Closed = "closed",
        Withdrawn = "withdrawn",
    }
}

crate::text_enum! {
    /// SPEC §5: why a report was closed.
    pub enum Resolution {
        Substantiated = "substantiated",
        Unsubstantiated = "unsubstantiated",
        Duplicate = "duplicate",
        Referred = "referred",
        Withdrawn = "withdrawn",
    }
}

crate::text_enum! {
    /// Of reports and cases, in rising order.
    pub enum Priority { Low = "low", Normal = "normal", High = "high", Urgent = "urgent" }
}

impl Priority {
    /// The order in the queue (low 0 … urgent 3), stored beside the word so it can be sorted.
    pub fn rank(self) -> i32 {
        match self {
            Priority::Low => 0,
            Priority::Normal => 1,
            Priority::High => 2,
            Priority::Urgent => 3,
        }
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = reports, treat_none_as_default_value = false)]
pub struct ReportRow {
    pub id: Id,
    pub reference: String,
    pub kind: Kind,
    pub occurred_on: Option<NaiveDate>,
    pub occurred_on_precision: Option<Precision>,
    pub country: String,
    pub city: Option<String>,
    pub language: Option<String>,
    pub station_id: Option<Id>,
    pub consent_contact_ok: bool,
    pub consent_share_with_authorities: bool,
    pub on_behalf_of_other: bool,
    pub source: Source,
    /// Not used: always empty since ownership became `owner_tag` (SPEC §14.2).
    pub reporter_id: Option<Id>,
    /// The caseworker who entered a report taken by phone or in person; never a reporter.
    pub submitted_by: Option<Id>,
    pub receipt_hash: Option<String>,
    pub status: Status,
    pub priority: Priority,
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
    pub resolution: Option<Resolution>,
    pub duplicate_of: Option<Id>,
    pub assignee_id: Option<Id>,
    pub case_id: Option<Id>,
    /// The owner's account as a keyed tag (`access::owner_tag`), so a dump of the database
    /// cannot tell which account filed which report.
    pub owner_tag: Option<String>,
    /// When the report entered its status: the start of its retention period (SPEC §13).
    pub status_changed_at: NaiveDateTime,
    /// Set when the report was shredded: it is a tombstone of metadata from then on.
    pub shredded_at: Option<NaiveDateTime>,
    /// A legal hold on the report itself (a hold on its case counts too): never shredded.
    pub legal_hold_at: Option<NaiveDateTime>,
    /// The reporter withdrew it with `erase: true` while it was held: shredded once free.
    pub erase_requested_at: Option<NaiveDateTime>,
}

/// A report's wrapped data key.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = report_keys, treat_none_as_default_value = false)]
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
#[diesel(table_name = report_messages, treat_none_as_default_value = false)]
pub struct MessageRow {
    pub id: Id,
    pub report_id: Id,
    pub author_role: String,
    pub author_id: Option<Id>,
    /// Ciphertext.
    pub body: String,
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = report_notes, treat_none_as_default_value = false)]
pub struct NoteRow {
    pub id: Id,
    pub report_id: Id,
    pub author_id: Id,
    /// Ciphertext.
    pub body: String,
    pub created_at: NaiveDateTime,
}
