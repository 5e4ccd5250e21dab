//! Withdrawal, receipts, shredding and retention (SPEC §13).
//!
//! Shredding destroys a report's data key and deletes every ciphertext of the report in one
//! transaction, leaving a tombstone of metadata (reference, kind, country, tactics, status,
//! resolution, dates) so statistics and cases stay whole; from then on reading its content
//! answers 410. A report is shredded when its reporter withdraws it with `erase`, or when the
//! retention policy of its status says it is due; a legal hold on the report or its case stops
//! both. [`shred`] is the one way to do it, with its audit entry, inside the caller's
//! transaction.

pub mod handlers;
pub mod rules;
pub mod store;
pub mod sweeper;

use serde_json::json;

use crate::audit::{self, Action, Context, NewEntry};
use crate::db::{DbConn, Id};
use crate::error::AppError;
use crate::reports::Status;

/// Days a report is kept in each status before it is shredded, counted from when it entered the
/// status; 0 keeps it. From `TIPLINE_RETAIN_<STATUS>_DAYS`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    pub new: u32,
    pub triaged: u32,
    pub investigating: u32,
    pub closed: u32,
    pub withdrawn: u32,
}

impl Policy {
    /// Open reports are kept, closed ones two years, withdrawn ones 30 days.
    pub const DEFAULT: Policy = Policy { new: 0, triaged: 0, investigating: 0, closed: 730, withdrawn: 30 };
    /// Keeps everything.
    pub const KEEP: Policy = Policy { new: 0, triaged: 0, investigating: 0, closed: 0, withdrawn: 0 };

    /// The days of one status (0: kept).
    pub fn days(&self, status: Status) -> u32 {
        match status {
            Status::New => self.new,
            Status::Triaged => self.triaged,
            Status::Investigating => self.investigating,
            Status::Closed => self.closed,
            Status::Withdrawn => self.withdrawn,
        }
    }
}

/// Why a report is shredded, for the audit entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// Its reporter withdrew it with `erase: true`.
    Withdrawal,
    /// The retention policy of its status: `days` after it entered `status`.
    Retention { status: Status, days: u32 },
}

impl Reason {
    fn details(self) -> serde_json::Value {
        match self {
            Reason::Withdrawal => json!({"by": "withdrawal"}),
            Reason::Retention { status, days } => json!({"by": "retention", "status": status, "days": days}),
        }
    }
}

/// A report just shredded: the blobs of its evidence files, to delete with
/// [`crate::attachments::orphans::delete_now`] once the transaction has committed.
#[derive(Debug)]
pub struct Shredded {
    pub blobs: Vec<String>,
}

/// Shreds report `id` inside the caller's transaction and records `report.shred` with `context`
/// as actor. Returns `None`, changing nothing, when the report is already shredded, gone or held
/// (held reports are never shredded, SPEC §13), so it is safe to run twice or concurrently.
pub fn shred(conn: &mut DbConn, id: Id, context: &Context, reason: Reason) -> Result<Option<Shredded>, AppError> {
    shred_with(conn, id, context.entry(Action::ReportShred), reason)
}

/// [`shred`] with an entry already started.
pub fn shred_with(conn: &mut DbConn, id: Id, entry: NewEntry, reason: Reason) -> Result<Option<Shredded>, AppError> {
    let now = crate::db::now();
    let Some(blobs) = store::shred(conn, id, now)? else { return Ok(None) };
    let entry = entry.target("report", id).details(reason.details());
    audit::record(conn, entry)?;
    Ok(Some(Shredded { blobs }))
}
