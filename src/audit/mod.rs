//! The audit trail: an append-only, hash-chained log (SPEC §8) whose entries are also the leaves
//! of a Merkle tree (SPEC §15).
//!
//! Each entry's `hash` is SHA-256 over the previous entry's hash and the entry's canonical form,
//! so altering, removing or reordering any entry breaks every hash after it; the tree
//! ([`merkle`]) lets a saved root prove later that history was only ever extended. [`record`]
//! must run inside the write transaction of the change it records ([`crate::db::write_tx`]):
//! the event is committed with the change or not at all. It takes no lock: the [`sequencer`]
//! gives committed events their `seq`, their chain hash and their leaf, in batches.

pub mod checkpoint;
pub mod handlers;
pub mod merkle;
pub mod rules;
pub mod sequencer;
pub mod store;

pub use rules::GENESIS_HASH;
pub use store::{record, record_many, sequence, sequence_all, verify};

/// The latest signed checkpoint of the tree, after sequencing what is pending (SPEC §15): what
/// `GET /api/v1/audit/checkpoint` and `tipline audit checkpoint` answer.
pub fn signed_checkpoint(
    conn: &mut crate::db::DbConn,
    signer: &checkpoint::NoteSigner,
) -> Result<String, crate::error::AppError> {
    store::sequence_all(conn)?;
    let (size, root) = store::tree_head(conn)?;
    checkpoint::Checkpoint { origin: signer.name().to_string(), size, root }
        .sign(signer)
        .map_err(|_| crate::error::AppError::internal("checkpoint signing failed"))
}

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;
use serde_json::{json, Value};

use crate::db::schema::audit_log;
use crate::db::Id;
use crate::users::Role;

/// Who did it. Staff are named by id and role. A reporter is never named (SPEC §14.3): an
/// account reporter is recorded as the role `reporter`, a receipt holder or someone submitting
/// without an account as `anonymous`, so the trail cannot connect an account to what it did.
/// An unauthenticated request (a failed login) has no actor at all.
#[derive(Debug, Clone, Default)]
pub struct Actor {
    pub id: Option<Id>,
    pub role: Option<String>,
}

impl Actor {
    /// No actor: a request that did not authenticate.
    pub fn anonymous() -> Self {
        Actor { id: None, role: None }
    }
    /// The command line or the service itself.
    pub fn system() -> Self {
        Actor { id: None, role: Some("system".into()) }
    }
    /// A signed-in user: staff by id, a reporter by role only.
    pub fn user(id: Id, role: Role) -> Self {
        let id = (role != Role::Reporter).then_some(id);
        Actor { id, role: Some(role.as_str().to_string()) }
    }
    /// A reporter without an account: the holder of a report's receipt, or someone submitting
    /// without a token.
    pub fn anonymous_reporter() -> Self {
        Actor { id: None, role: Some("anonymous".into()) }
    }
}

crate::text_enum! {
    /// Every kind of event the trail records (SPEC §8).
    pub enum Action {
        AttachmentCreate = "attachment.create",
        AttachmentList = "attachment.list",
        AttachmentRead = "attachment.read",
        AttachmentReadOriginal = "attachment.read_original",
        AuditVerify = "audit.verify",
        AuthLogin = "auth.login",
        AuthLoginFailed = "auth.login_failed",
        AuthLogout = "auth.logout",
        AuthReceipt = "auth.receipt",
        AuthReceiptFailed = "auth.receipt_failed",
        AuthRefresh = "auth.refresh",
        AuthRefreshReuse = "auth.refresh_reuse",
        AuthRecoveryCodeUsed = "auth.recovery_code_used",
        AuthThrottled = "auth.throttled",
        AuthTotpConfirm = "auth.totp_confirm",
        AuthTotpEnrol = "auth.totp_enrol",
        AuthTotpRemove = "auth.totp_remove",
        AuthTotpReset = "auth.totp_reset",
        CaseAddReport = "case.add_report",
        CaseCreate = "case.create",
        CaseLinkStation = "case.link_station",
        CaseRemoveReport = "case.remove_report",
        CaseUnlinkStation = "case.unlink_station",
        CaseUpdate = "case.update",
        KeysRetire = "keys.retire",
        KeysRotate = "keys.rotate",
        LegalHoldLift = "legal_hold.lift",
        LegalHoldPlace = "legal_hold.place",
        MessageCreate = "message.create",
        MessageRead = "message.read",
        NoteCreate = "note.create",
        NoteRead = "note.read",
        RateLimited = "rate.limited",
        ReceiptReplace = "receipt.replace",
        ReceiptRevoke = "receipt.revoke",
        ReportCreate = "report.create",
        ReportRead = "report.read",
        ReportShred = "report.shred",
        ReportTriage = "report.triage",
        ReportWithdraw = "report.withdraw",
        StationCreate = "station.create",
        StationUpdate = "station.update",
        StationsImport = "stations.import",
        UserCreate = "user.create",
        UserSessionsRevoke = "user.sessions_revoke",
        UserUnlock = "user.unlock",
        UserUpdate = "user.update",
    }
}

/// Who acts, and in which request: what every entry of one use case shares.
#[derive(Debug, Clone)]
pub struct Context {
    pub actor: Actor,
    pub request_id: Option<String>,
}

impl Context {
    pub fn new(actor: Actor, request: &crate::http::RequestId) -> Self {
        Context { actor, request_id: Some(request.0.clone()) }
    }

    /// The command line: no request.
    pub fn system() -> Self {
        Context { actor: Actor::system(), request_id: None }
    }

    pub fn entry(&self, action: Action) -> NewEntry {
        NewEntry::new(self.actor.clone(), action).request(self.request_id.as_deref())
    }
}

/// What to record. `details` must hold metadata only: never content, secrets or client metadata.
#[derive(Debug, Clone)]
pub struct NewEntry {
    pub actor: Actor,
    pub action: Action,
    pub target_type: Option<&'static str>,
    pub target_id: Option<String>,
    pub details: Value,
    pub request_id: Option<String>,
}

impl NewEntry {
    pub fn new(actor: Actor, action: Action) -> Self {
        NewEntry { actor, action, target_type: None, target_id: None, details: json!({}), request_id: None }
    }
    /// What an account's own event is about: a staff account by id, a reporter's not at all
    /// (SPEC §14.3: a reporter's own sign-in events carry no account id).
    pub fn about(self, target_type: &'static str, target_id: impl ToString, role: Role) -> Self {
        match role {
            Role::Reporter => self,
            _ => self.target(target_type, target_id),
        }
    }
    pub fn target(mut self, target_type: &'static str, target_id: impl ToString) -> Self {
        self.target_type = Some(target_type);
        self.target_id = Some(target_id.to_string());
        self
    }
    pub fn details(mut self, details: Value) -> Self {
        self.details = details;
        self
    }
    pub fn request(mut self, request_id: Option<&str>) -> Self {
        self.request_id = request_id.map(str::to_string);
        self
    }
}

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable, Serialize)]
#[diesel(table_name = audit_log, treat_none_as_default_value = false)]
pub struct Entry {
    pub seq: i64,
    #[serde(with = "crate::time::rfc3339")]
    pub at: NaiveDateTime,
    pub actor_id: Option<Id>,
    pub actor_role: Option<String>,
    pub action: String,
    pub target_type: Option<String>,
    pub target_id: Option<String>,
    #[serde(serialize_with = "details_as_json")]
    pub details: String,
    pub request_id: Option<String>,
    pub prev_hash: String,
    pub hash: String,
}

fn details_as_json<S: serde::Serializer>(details: &str, s: S) -> Result<S::Ok, S::Error> {
    let value: Value = serde_json::from_str(details).unwrap_or(Value::Null);
    value.serialize(s)
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verification {
    pub ok: bool,
    pub entries: i64,
    pub head_hash: Option<String>,
    pub first_bad_seq: Option<i64>,
    /// Leaves of the Merkle tree recomputed from the entries, and its root (SPEC §15).
    pub tree_size: i64,
    pub root_hash: String,
    /// With a checkpoint saved earlier (`tipline audit verify --checkpoint`): whether the trail
    /// still extends it (same root at that size).
    #[serde(skip)]
    pub extends_checkpoint: Option<bool>,
}
