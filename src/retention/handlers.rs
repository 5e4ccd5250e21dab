//! `POST /api/v1/reports/{id}/withdraw`, `POST|DELETE /api/v1/reports/{id}/receipt` and the
//! legal holds `POST|DELETE /api/v1/reports/{id}/legal-hold`, `/api/v1/cases/{id}/legal-hold`
//! (SPEC §13).

use actix_web::{web, HttpResponse};
use chrono::NaiveDateTime;
use serde::Serialize;
use serde_json::json;

use super::rules::{self, Standing};
use super::{store, Reason};
use crate::audit::{self, Action};
use crate::auth::{Caller, Caseworker};
use crate::db::versioned::{self, Expect, Versioned};
use crate::db::{self, write_tx, Id};
use crate::error::AppError;
use crate::http::body::{Form, JsonBody};
use crate::http::{self, RequestId};
use crate::reports::access::{may_see, side_of, Side};
use crate::reports::Status;
use crate::state::AppState;

#[derive(Debug, Serialize)]
pub struct Withdrawn {
    pub id: Id,
    pub reference: String,
    pub status: Status,
    /// The content is destroyed; only metadata is kept.
    pub shredded: bool,
    /// Erase was asked for but waits (a legal hold); the report is shredded once it is lifted.
    pub erase_pending: bool,
}

/// The report's owner or receipt holder withdraws it: closed as `withdrawn`, receipt revoked with
/// its tokens, and with `erase: true` shredded at once unless a legal hold stands. Idempotent:
/// see [`rules::plan`].
pub async fn withdraw(
    state: web::Data<AppState>,
    caller: Caller,
    rid: RequestId,
    id: web::Path<String>,
    body: JsonBody,
) -> Result<HttpResponse, AppError> {
    if side_of(&caller)? != Side::Reporter {
        return Err(AppError::Refused("Only the report's reporter can withdraw it."));
    }
    let id = http::path_id(&id)?;
    let mut form = Form::read(body).await?;
    let erase = form.opt_bool("erase").unwrap_or(false);
    form.finish()?;
    let state2 = state.clone();
    let outcome = db::run(&state.pool, move |conn| {
        write_tx(conn, |conn| {
            let report = crate::reports::store::find_locked(conn, id)?
                .filter(|r| may_see(&state2, &caller, r))
                .ok_or(AppError::NotFound)?;
            let held = report.legal_hold_at.is_some() || store::case_held(conn, report.case_id)?;
            let standing = Standing {
                status: report.status,
                shredded: report.shredded_at.is_some(),
                held,
                erase_requested: report.erase_requested_at.is_some(),
            };
            let plan = rules::plan(standing, erase);
            let now = db::now();
            if plan.withdraw {
                versioned::claim(conn, Versioned::Report, id, Expect::Any, now)?;
                store::withdraw(conn, id, now, plan.request_erase)?;
                let entry = caller
                    .audit(&rid, Action::ReportWithdraw)
                    .target("report", id)
                    .details(json!({"erase": erase, "from": report.status}));
                audit::record(conn, entry)?;
            } else if plan.request_erase {
                store::request_erase(conn, id, now)?;
                let entry = caller
                    .audit(&rid, Action::ReportWithdraw)
                    .target("report", id)
                    .details(json!({"erase": true, "from": report.status}));
                audit::record(conn, entry)?;
            }
            let shredded_now = if plan.shred {
                super::shred_with(conn, id, caller.audit(&rid, Action::ReportShred), Reason::Withdrawal)?
            } else {
                None
            };
            let shredded = shredded_now.is_some() || standing.shredded;
            let withdrawn = Withdrawn {
                id,
                reference: report.reference,
                status: Status::Withdrawn,
                shredded,
                erase_pending: !shredded && (plan.request_erase || (erase && standing.erase_requested)),
            };
            Ok::<_, AppError>((withdrawn, shredded_now.map(|s| s.blobs).unwrap_or_default()))
        })
    })
    .await?;
    let (outcome, blobs) = outcome;
    if !blobs.is_empty() {
        let store = state.blobs.clone();
        let _ = web::block(move || crate::attachments::orphans::delete_now(&store, &blobs)).await;
    }
    Ok(HttpResponse::Ok().json(outcome))
}

#[derive(Serialize)]
pub struct NewReceipt {
    /// Shown exactly once; only its HMAC is stored.
    pub receipt: String,
}

/// A new receipt for the report, revoking the old one and every token given for it: asked by the
/// receipt holder or owner (who fears theirs was seen), or by a caseworker who passes it on in
/// person.
pub async fn replace_receipt(
    state: web::Data<AppState>,
    caller: Caller,
    rid: RequestId,
    id: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let side = side_of(&caller)?;
    let id = http::path_id(&id)?;
    let receipt = zeroize::Zeroizing::new(crate::codes::receipt());
    let hash = crate::auth::token::receipt_hash(&state.receipt_key, &receipt);
    let state2 = state.clone();
    db::run(&state.pool, move |conn| {
        write_tx(conn, |conn| {
            let report = crate::reports::store::find_locked(conn, id)?
                .filter(|r| may_see(&state2, &caller, r))
                .ok_or(AppError::NotFound)?;
            if report.shredded_at.is_some() {
                return Err(AppError::Gone);
            }
            if report.status == Status::Withdrawn {
                return Err(AppError::Conflict("A withdrawn report has no receipt.".into()));
            }
            store::set_receipt(conn, id, Some(&hash))?;
            let by = if side == Side::Staff { "staff" } else { "reporter" };
            let entry = caller
                .audit(&rid, Action::ReceiptReplace)
                .target("report", id)
                .details(json!({"by": by, "had_receipt": report.receipt_hash.is_some()}));
            audit::record(conn, entry)?;
            Ok::<_, AppError>(())
        })
    })
    .await?;
    Ok(HttpResponse::Created().json(NewReceipt { receipt: receipt.to_string() }))
}

/// A caseworker revokes a report's receipt (and its tokens); the reporter can be given a new one
/// in person with `POST`. Answers 204 whether or not there was one.
pub async fn revoke_receipt(
    state: web::Data<AppState>,
    Caseworker(user): Caseworker,
    rid: RequestId,
    id: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let id = http::path_id(&id)?;
    db::run(&state.pool, move |conn| {
        write_tx(conn, |conn| {
            let report = crate::reports::store::find_locked(conn, id)?.ok_or(AppError::NotFound)?;
            store::set_receipt(conn, id, None)?;
            let entry = user
                .audit(&rid, Action::ReceiptRevoke)
                .target("report", id)
                .details(json!({"had_receipt": report.receipt_hash.is_some()}));
            audit::record(conn, entry)?;
            Ok::<_, AppError>(())
        })
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Debug, Serialize)]
pub struct Hold {
    pub id: Id,
    #[serde(with = "crate::time::rfc3339")]
    pub legal_hold_at: NaiveDateTime,
}

/// What a hold is put on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Held {
    Report,
    Case,
}

impl Held {
    fn name(self) -> &'static str {
        match self {
            Held::Report => "report",
            Held::Case => "case",
        }
    }
}

/// Reads the hold of a report or case (locked), 404 when it does not exist.
fn current_hold(conn: &mut db::DbConn, what: Held, id: Id) -> Result<Option<NaiveDateTime>, AppError> {
    match what {
        Held::Report => Ok(crate::reports::store::find_locked(conn, id)?.ok_or(AppError::NotFound)?.legal_hold_at),
        Held::Case => store::case_hold_locked(conn, id)?.ok_or(AppError::NotFound),
    }
}

fn set_hold(conn: &mut db::DbConn, what: Held, id: Id, at: Option<NaiveDateTime>) -> Result<(), AppError> {
    match what {
        Held::Report => {
            store::hold_report(conn, id, at)?;
        }
        Held::Case => store::hold_case(conn, id, at)?,
    }
    Ok(())
}

/// Puts a legal hold (idempotent: an existing hold is kept and answered, and not audited again).
async fn place(
    state: web::Data<AppState>,
    user: crate::auth::CurrentUser,
    rid: RequestId,
    what: Held,
    id: &str,
) -> Result<HttpResponse, AppError> {
    let id = http::path_id(id)?;
    let hold = db::run(&state.pool, move |conn| {
        write_tx(conn, |conn| {
            if let Some(at) = current_hold(conn, what, id)? {
                return Ok::<_, AppError>(Hold { id, legal_hold_at: at });
            }
            let now = db::now();
            set_hold(conn, what, id, Some(now))?;
            audit::record(conn, user.audit(&rid, Action::LegalHoldPlace).target(what.name(), id))?;
            Ok(Hold { id, legal_hold_at: now })
        })
    })
    .await?;
    Ok(HttpResponse::Ok().json(hold))
}

/// Lifts a legal hold; 204 whether or not there was one (audited only when there was).
async fn lift(
    state: web::Data<AppState>,
    user: crate::auth::CurrentUser,
    rid: RequestId,
    what: Held,
    id: &str,
) -> Result<HttpResponse, AppError> {
    let id = http::path_id(id)?;
    db::run(&state.pool, move |conn| {
        write_tx(conn, |conn| {
            if current_hold(conn, what, id)?.is_none() {
                return Ok::<_, AppError>(());
            }
            set_hold(conn, what, id, None)?;
            audit::record(conn, user.audit(&rid, Action::LegalHoldLift).target(what.name(), id))?;
            Ok(())
        })
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

pub async fn hold_report(
    state: web::Data<AppState>,
    Caseworker(user): Caseworker,
    rid: RequestId,
    id: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    place(state, user, rid, Held::Report, &id).await
}

pub async fn lift_report_hold(
    state: web::Data<AppState>,
    Caseworker(user): Caseworker,
    rid: RequestId,
    id: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    lift(state, user, rid, Held::Report, &id).await
}

pub async fn hold_case(
    state: web::Data<AppState>,
    Caseworker(user): Caseworker,
    rid: RequestId,
    id: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    place(state, user, rid, Held::Case, &id).await
}

pub async fn lift_case_hold(
    state: web::Data<AppState>,
    Caseworker(user): Caseworker,
    rid: RequestId,
    id: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    lift(state, user, rid, Held::Case, &id).await
}
