//! `/api/v1/auth/*`: register, login, refresh, logout.

use actix_web::{web, HttpResponse};
use serde::Serialize;
use serde_json::json;
use zeroize::Zeroizing;

use super::store::{self, Rotation};
use super::{rules, token, AnyUser};
use crate::audit::{self, Action, Actor, Context, NewEntry};
use crate::db::{self, write_tx, Id};
use crate::error::AppError;
use crate::http::body::{Form, JsonBody};
use crate::http::RequestId;
use crate::state::AppState;
use crate::users::{self, Role, UserRow};

#[derive(Serialize)]
pub struct TokenPair {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
    pub refresh_token: String,
}

fn token_pair(state: &AppState, user: &UserRow, session_id: Id, refresh_token: String) -> Result<TokenPair, AppError> {
    let access_token = state
        .tokens
        .issue(user.id, user.role.as_str(), session_id, token::TYP_ACCESS, chrono::Utc::now().timestamp())
        .map_err(|_| AppError::internal("token signing failed"))?;
    Ok(TokenPair { access_token, token_type: "Bearer", expires_in: token::ACCESS_TTL_SECS, refresh_token })
}

/// What a new reporter account is shown, once: its generated name is the only way in.
#[derive(Serialize)]
pub struct Registered {
    pub account: String,
    pub id: Id,
    pub display_name: String,
    #[serde(with = "crate::time::rfc3339")]
    pub created_at: chrono::NaiveDateTime,
}

/// `POST /api/v1/auth/register` (SPEC §14.1): a reporter account with a generated name and
/// nothing the person is known by. The name is stored only as a keyed hash, so the answer is
/// the same whoever else has an account.
pub async fn register(state: web::Data<AppState>, rid: RequestId, body: JsonBody) -> Result<HttpResponse, AppError> {
    if !state.allow_registration {
        return Err(AppError::Refused("Self-registration is switched off on this server."));
    }
    let mut form = Form::read(body).await?;
    let password = form.string("password").map(Zeroizing::new);
    if let Some(password) = &password {
        form.check("password", users::rules::password(password, None));
    }
    let display_name = form.opt_parsed("display_name", users::rules::display_name);
    let password = form.finish_with(password)?;
    let display_name = display_name.unwrap_or_else(|| "Reporter".to_string());
    let password_hash = state.passwords.hash(password).await?;
    let login_key = state.login_key;
    let (user, account) = db::run(&state.pool, move |conn| {
        write_tx(conn, |conn| {
            // 80 random bits: a clash is all but impossible, and harmless: draw again.
            let mut account = crate::codes::account();
            while users::store::login_taken(conn, &token::login_hash(&login_key, &account))? {
                account = crate::codes::account();
            }
            let user =
                UserRow::new(token::login_hash(&login_key, &account), display_name, Role::Reporter, password_hash);
            users::store::insert(conn, &user)?;
            let entry = Context::new(Actor::user(user.id, user.role), &rid)
                .entry(Action::UserCreate)
                .details(json!({"role": user.role, "via": "register"}));
            audit::record(conn, entry)?;
            Ok::<_, AppError>((user, account))
        })
    })
    .await?;
    Ok(HttpResponse::Created().json(Registered {
        account,
        id: user.id,
        display_name: user.display_name,
        created_at: user.created_at,
    }))
}

/// The logins an attempt may sign in by: staff by email; a reporter by account name, or by the
/// email an older reporter account signed up with, both as their keyed hash.
/// Also the name's hash, which keys the throttle (`auth::throttle_key`).
fn logins_for(state: &AppState, email: Option<&str>, account: Option<&str>) -> (Vec<String>, String) {
    match (email, account) {
        (Some(email), _) => {
            let email = users::rules::normalize_email(email);
            let hash = token::login_hash(&state.login_key, &email);
            (vec![hash.clone(), email], hash)
        }
        (None, Some(account)) => {
            let name = crate::codes::normalize_account(account).unwrap_or_else(|| account.trim().to_string());
            let hash = token::login_hash(&state.login_key, &name);
            (vec![hash.clone()], hash)
        }
        (None, None) => (Vec::new(), String::new()),
    }
}

pub async fn login(state: web::Data<AppState>, rid: RequestId, body: JsonBody) -> Result<HttpResponse, AppError> {
    let mut form = Form::read(body).await?;
    let email = form.opt_string("email");
    let account = form.opt_string("account");
    let password = form.string("password").map(Zeroizing::new);
    if email.is_some() == account.is_some() && !form.has_error("email") && !form.has_error("account") {
        form.error("", "send either email (staff) or account (reporters)");
    }
    // Refused before any hashing (SPEC §12.3): no password of an account is that long.
    if password.as_ref().is_some_and(|p| p.chars().count() > users::rules::PASSWORD_MAX_CHARS) {
        form.error("password", "must be at most 128 characters long");
    }
    let password = form.finish_with(password)?;
    let (logins, name) = logins_for(&state, email.as_deref(), account.as_deref());
    let key = super::throttle_key(&state, &name);
    let anonymous = Context::new(Actor::anonymous(), &rid);

    // Read only: the account, and whether the key is locked now. No write lock is taken here,
    // so a login costs one write transaction (below), not two.
    let (user, locked) = {
        let key = key.clone();
        db::run(&state.pool, move |conn| {
            let user = users::store::find_by_login(conn, &logins)?;
            let locked = rules::locked_for(store::throttle(conn, &key)?.as_ref(), db::now());
            Ok::<_, AppError>((user, locked))
        })
        .await?
    };
    let account_of = user.as_ref().map(|u| (u.id, u.role));
    if let Some(retry_after_secs) = locked {
        db::run(&state.pool, move |conn| {
            write_tx(conn, |conn| {
                audit::record(conn, login_entry(&anonymous, Action::AuthThrottled, account_of, json!({})))?;
                Ok::<_, AppError>(())
            })
        })
        .await?;
        return Err(AppError::TooManyRequests { retry_after_secs });
    }

    let verified = state.passwords.verify(password.clone(), user.as_ref().map(|u| u.password_hash.clone())).await?;
    let failure_reason = match &user {
        None => "unknown_account",
        Some(u) if !u.active => "inactive",
        Some(_) => "bad_password",
    };
    let accepted = user.filter(|u| verified.ok && u.active);
    let rehashed = match (&accepted, verified.needs_rehash) {
        (Some(_), true) => Some(state.passwords.hash(password).await?),
        _ => None,
    };

    // One write transaction decides, and checks the lock again: failures of parallel attempts may
    // have locked the key while this one was hashing. Once the key is locked every answer is 429,
    // right password or not, so a burst of parallel guesses learns the outcome of at most
    // `MAX_FAILURES` of them, as many as sequential guesses would.
    let outcome = db::run(&state.pool, move |conn| {
        write_tx(conn, |conn| {
            let now = db::now();
            let current = store::throttle_for_update(conn, &key)?;
            if let Some(retry_after_secs) = rules::locked_for(current.as_ref(), now) {
                audit::record(conn, login_entry(&anonymous, Action::AuthThrottled, account_of, json!({})))?;
                return Ok::<_, AppError>(Err(Some(retry_after_secs)));
            }
            let Some(user) = accepted else {
                store::put_throttle(conn, &rules::after_failure(current, &key, now))?;
                let details = json!({"reason": failure_reason});
                audit::record(conn, login_entry(&anonymous, Action::AuthLoginFailed, account_of, details))?;
                return Ok(Err(None));
            };
            if current.is_some() {
                store::clear_throttle(conn, &key)?;
            }
            if let Some(hash) = &rehashed {
                users::store::set_password_hash(conn, user.id, hash)?;
            }
            let (session_id, refresh_token) = store::create_session(conn, user.id)?;
            let mut entry = Context { actor: Actor::user(user.id, user.role), ..anonymous.clone() }
                .entry(Action::AuthLogin)
                .about("user", user.id, user.role)
                .details(json!({"rehashed": rehashed.is_some()}));
            if user.role != Role::Reporter {
                entry = entry.details(json!({"session_id": session_id, "rehashed": rehashed.is_some()}));
            }
            audit::record(conn, entry)?;
            Ok(Ok((user, session_id, refresh_token)))
        })
    })
    .await?;
    match outcome {
        Ok((user, session_id, refresh_token)) => {
            Ok(HttpResponse::Ok().json(token_pair(&state, &user, session_id, refresh_token)?))
        }
        Err(Some(retry_after_secs)) => Err(AppError::TooManyRequests { retry_after_secs }),
        Err(None) => Err(AppError::Unauthorized),
    }
}

/// Failed and throttled logins have no authenticated actor; the target is the account when
/// one exists and is a staff account. The login name itself is never recorded.
fn login_entry(
    anonymous: &Context,
    action: Action,
    account: Option<(Id, Role)>,
    details: serde_json::Value,
) -> NewEntry {
    let entry = anonymous.entry(action).details(details);
    match account {
        Some((id, role)) => entry.about("user", id, role),
        None => entry,
    }
}

pub async fn refresh(state: web::Data<AppState>, rid: RequestId, body: JsonBody) -> Result<HttpResponse, AppError> {
    let mut form = Form::read(body).await?;
    let presented = form.string("refresh_token").map(Zeroizing::new);
    let presented = form.finish_with(presented)?;
    let rotation = db::run(&state.pool, move |conn| {
        write_tx(conn, |conn| {
            let rotation = store::rotate(conn, &presented)?;
            let entry = match &rotation {
                Rotation::Rotated { user, session_id, .. } => Some(
                    NewEntry::new(Actor::user(user.id, user.role), Action::AuthRefresh).target("session", session_id),
                ),
                // Someone presented a token that was already exchanged: it was stolen or
                // replayed. The session has been revoked; record it.
                Rotation::Reused { user_id, session_id } => {
                    let entry = NewEntry::new(Actor::anonymous(), Action::AuthRefreshReuse);
                    // A reporter's session is not named: it would lead to the account.
                    let role = users::store::find(conn, *user_id)?.map_or(Role::Reporter, |u| u.role);
                    Some(match role {
                        Role::Reporter => entry,
                        _ => entry.target("session", session_id).details(json!({"user_id": user_id})),
                    })
                }
                Rotation::Invalid => None,
            };
            if let Some(entry) = entry {
                audit::record(conn, entry.request(Some(&rid.0)))?;
            }
            Ok::<_, AppError>(rotation)
        })
    })
    .await?;
    match rotation {
        Rotation::Rotated { user, session_id, refresh_token } => {
            Ok(HttpResponse::Ok().json(token_pair(&state, &user, session_id, refresh_token)?))
        }
        Rotation::Reused { .. } | Rotation::Invalid => Err(AppError::Unauthorized),
    }
}

pub async fn logout(
    state: web::Data<AppState>,
    rid: RequestId,
    AnyUser(user): AnyUser,
) -> Result<HttpResponse, AppError> {
    db::run(&state.pool, move |conn| {
        write_tx(conn, |conn| {
            store::revoke_session(conn, user.session_id)?;
            let entry = user.audit(&rid, Action::AuthLogout).about("session", user.session_id, user.role);
            audit::record(conn, entry)?;
            Ok::<_, AppError>(())
        })
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Serialize)]
pub struct ReceiptToken {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
    /// The one report this token opens.
    pub report_id: Id,
    pub reference: String,
}

/// `POST /api/v1/auth/receipt`: a receipt for a short-lived token scoped to its one report.
/// Throttled like logins, keyed by the receipt presented; every wrong receipt gets the same 401.
pub async fn receipt(state: web::Data<AppState>, rid: RequestId, body: JsonBody) -> Result<HttpResponse, AppError> {
    let mut form = Form::read(body).await?;
    let presented = form.string("receipt").map(Zeroizing::new);
    let presented = form.finish_with(presented)?;
    let (report_id, reference) = exchange_receipt(&state, &rid, &presented).await?;
    let access_token = state
        .tokens
        .issue(report_id, "receipt", report_id, token::TYP_RECEIPT, chrono::Utc::now().timestamp())
        .map_err(|_| AppError::internal("token signing failed"))?;
    Ok(HttpResponse::Ok().json(ReceiptToken {
        access_token,
        token_type: "Bearer",
        expires_in: token::ACCESS_TTL_SECS,
        report_id,
        reference,
    }))
}

/// The one receipt exchange, shared by the API and the reporter's follow-up page: throttled
/// like logins (keyed by the receipt presented) and audited; every wrong receipt gets the same
/// 401. Answers the report's id and reference.
pub async fn exchange_receipt(state: &AppState, rid: &RequestId, presented: &str) -> Result<(Id, String), AppError> {
    let normalized = crate::codes::normalize(presented, crate::codes::RECEIPT_LEN);
    let hash = token::receipt_hash(&state.receipt_key, normalized.as_deref().unwrap_or(presented));
    let throttle_key = crate::crypto::hmac_hex(&state.throttle_key, format!("receipt:{hash}").as_bytes());
    let audit_ctx = Context::new(Actor::anonymous(), rid);
    let outcome = db::run(&state.pool, move |conn| {
        write_tx(conn, |conn| {
            if let Err(retry_after_secs) = store::reserve_attempt(conn, &throttle_key, db::now())? {
                audit::record(conn, audit_ctx.entry(Action::AuthThrottled))?;
                return Ok::<_, AppError>(Err(Some(retry_after_secs)));
            }
            let found = match normalized {
                Some(_) => crate::reports::store::find_by_receipt(conn, &hash)?,
                None => None,
            };
            let Some(report) = found else {
                audit::record(conn, audit_ctx.entry(Action::AuthReceiptFailed))?;
                return Ok(Err(None));
            };
            store::clear_throttle(conn, &throttle_key)?;
            let entry = Context { actor: Actor::anonymous_reporter(), ..audit_ctx.clone() }
                .entry(Action::AuthReceipt)
                .target("report", report.id);
            audit::record(conn, entry)?;
            Ok(Ok((report.id, report.reference)))
        })
    })
    .await?;
    match outcome {
        Ok(found) => Ok(found),
        Err(Some(retry_after_secs)) => Err(AppError::TooManyRequests { retry_after_secs }),
        Err(None) => Err(AppError::Unauthorized),
    }
}
