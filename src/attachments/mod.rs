//! Evidence files attached to a report (SPEC §11): uploaded as a stream, sealed under the
//! report's data key into the blob store, with a clean copy (metadata removed) for the types the
//! cleaner knows. Staff work on the clean copy; the original is opened only by a caseworker who
//! gives a reason, and that read is audited on its own. Reporters read back what they sent.
//! Admins never read a file.

pub mod handlers;
pub mod orphans;
pub mod rules;
pub mod store;

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::schema::attachments;
use crate::db::Id;

/// Sizes and counts (`TIPLINE_ATTACHMENT_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest file, in bytes.
    pub max_bytes: u64,
    /// Files per report.
    pub max_files: u64,
    /// Bytes of all the files of one report.
    pub max_total_bytes: u64,
}

impl Limits {
    /// 25 MiB a file holds a scanned letter or a long screen recording of a chat; 20 files and
    /// 200 MiB a report hold what one person brings about one incident.
    pub const DEFAULT: Limits = Limits { max_bytes: 25 << 20, max_files: 20, max_total_bytes: 200 << 20 };
}

/// Which copy of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Copy {
    /// What was sent, byte for byte.
    Original,
    /// Without metadata.
    Clean,
}

impl Copy {
    pub fn as_str(self) -> &'static str {
        match self {
            Copy::Original => "original",
            Copy::Clean => "clean",
        }
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = attachments, treat_none_as_default_value = false)]
pub struct AttachmentRow {
    pub id: Id,
    pub report_id: Id,
    /// The file's name as sent, sealed under the report's data key.
    pub filename_sealed: Option<String>,
    /// SHA-256 of the original (hex), sealed likewise.
    pub sha256_sealed: String,
    pub size: i64,
    /// What the bytes are, as sniffed (never the client's claim).
    pub media_type: String,
    pub original_blob: String,
    pub clean_blob: Option<String>,
    pub clean_size: Option<i64>,
    /// `reporter` or `caseworker`.
    pub uploaded_by_role: String,
    /// The caseworker who uploaded; never a reporter's account (SPEC §14.2).
    pub uploaded_by: Option<Id>,
    pub created_at: NaiveDateTime,
}

impl AttachmentRow {
    /// The blob of `copy`, if it exists.
    pub fn blob(&self, copy: Copy) -> Option<&str> {
        match copy {
            Copy::Original => Some(&self.original_blob),
            Copy::Clean => self.clean_blob.as_deref(),
        }
    }

    /// The plaintext size of `copy`.
    pub fn size_of(&self, copy: Copy) -> i64 {
        match copy {
            Copy::Original => self.size,
            Copy::Clean => self.clean_size.unwrap_or(self.size),
        }
    }
}
