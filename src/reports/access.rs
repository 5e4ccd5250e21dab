//! Who may see a report (SPEC §2.1): the reporter who filed it (by account or receipt) and
//! caseworkers; admins never see content. A report the caller may not see is as absent as one
//! that does not exist.

use super::{store, ReportRow};
use crate::auth::{Caller, CurrentUser};
use crate::crypto::envelope::DataKey;
use crate::db::{DbConn, Id};
use crate::error::AppError;
use crate::state::AppState;
use crate::users::Role;

/// How a caller may see one report's content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The reporter: by account (their own reports) or by receipt (that one report).
    Reporter,
    /// A caseworker; every read is audited.
    Staff,
}

/// Who may look at report content at all, before any report is loaded: admins never (SPEC §2).
pub fn side_of(caller: &Caller) -> Result<Side, AppError> {
    match caller {
        Caller::Anonymous => Err(AppError::Unauthorized),
        Caller::Receipt { .. } => Ok(Side::Reporter),
        Caller::User(CurrentUser { role: Role::Reporter, .. }) => Ok(Side::Reporter),
        Caller::User(CurrentUser { role: Role::Caseworker, .. }) => Ok(Side::Staff),
        Caller::User(CurrentUser { role: Role::Admin, .. }) => Err(AppError::Forbidden),
    }
}

/// Whether this caller may see this report. A reporter asking for someone else's report gets
/// the same 404 as for one that does not exist.
pub fn may_see(state: &AppState, caller: &Caller, report: &ReportRow) -> bool {
    match caller {
        Caller::Anonymous => false,
        Caller::Receipt { report_id } => *report_id == report.id,
        Caller::User(user) => match user.role {
            Role::Reporter => report.owner_tag.as_deref() == Some(owner_tag(state, user.id()).as_str()),
            Role::Caseworker => true,
            Role::Admin => false,
        },
    }
}

/// Loads a report the caller may see, with its data key, inside the caller's transaction. A
/// shredded report (SPEC §13) answers 410.
pub fn load_for(
    state: &AppState,
    conn: &mut DbConn,
    caller: &Caller,
    id: Id,
) -> Result<(ReportRow, DataKey), AppError> {
    let report = store::find(conn, id)?;
    unlock(state, conn, caller, report)
}

/// [`load_for`] for a transaction that adds content to the report: the row stays locked on
/// PostgreSQL until it ends, so a shredding waits for it, or it sees the shredding that
/// committed first. Content is never added to a tombstone.
pub fn load_for_write(
    state: &AppState,
    conn: &mut DbConn,
    caller: &Caller,
    id: Id,
) -> Result<(ReportRow, DataKey), AppError> {
    let report = store::find_locked(conn, id)?;
    unlock(state, conn, caller, report)
}

fn unlock(
    state: &AppState,
    conn: &mut DbConn,
    caller: &Caller,
    report: Option<ReportRow>,
) -> Result<(ReportRow, DataKey), AppError> {
    let report = report.filter(|r| may_see(state, caller, r)).ok_or(AppError::NotFound)?;
    if report.shredded_at.is_some() {
        return Err(AppError::Gone);
    }
    // A key goes only with a shredding, which may have committed since the row was read.
    let stored = store::key(conn, report.id)?.ok_or(AppError::Gone)?;
    let key = state.keyring.unwrap(report.id, &stored.wrapped_key()).map_err(|_| AppError::internal("report key"))?;
    Ok((report, key))
}

/// The tag a reporter's reports carry instead of their account id (SPEC §14.2): an HMAC under a
/// key the database does not hold, so the link exists only for the service.
pub fn owner_tag(state: &AppState, account: Id) -> String {
    tag_with(&state.owner_key, account)
}

pub fn tag_with(owner_key: &[u8], account: Id) -> String {
    crate::crypto::hmac_hex(owner_key, format!("owner:{account}").as_bytes())
}
