//! `/api/v1/auth/*`: register, login, refresh, logout.

use actix_web::{web, HttpResponse};
use serde::Serialize;
use serde_json::json;
use zeroize::Zeroizing;

use super::password::Lane;
use super::store::{self, Rotation};
use super::{rules, token, AnyUser, Enrolling};
use crate::audit::{self, Action, Actor, Context, NewEntry};
use crate::db::{self, write_tx, write_tx_locked, Id};
use crate::error::AppError;
use crate::http::body::{Form, JsonBody};
use crate::http::RequestId;
use crate::limits::Bucket;
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
    state.passwords.ensure_room(Lane::Any)?;
    crate::limits::take(&state, Bucket::Register, &rid).await?;
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
            // No stored email holds a control character (PostgreSQL's text cannot even hold
            // NUL): such a name is looked up by its hash alone, and fails like any unknown one.
            let plain = (!email.chars().any(char::is_control)).then_some(email);
            (std::iter::once(hash.clone()).chain(plain).collect(), hash)
        }
        (None, Some(account)) => {
            let name = crate::codes::normalize_account(account).unwrap_or_else(|| account.trim().to_string());
            let hash = token::login_hash(&state.login_key, &name);
            (vec![hash.clone()], hash)
        }
        (None, None) => (Vec::new(), String::new()),
    }
}

/// What a login ends in, decided inside its one write transaction.
enum Outcome {
    SignedIn {
        user: UserRow,
        session_id: Id,
        refresh_token: String,
        device_token: String,
    },
    /// Right password, staff without a confirmed second factor while one is required.
    MustEnrol {
        user: UserRow,
        session_id: Id,
    },
    Throttled(u64),
    Failed,
}

/// `POST /api/v1/auth/login` (SPEC §3, §12.1, §12.2). Every failure is the same 401, and the
/// password is only ever confirmed together with a valid second factor.
pub async fn login(state: web::Data<AppState>, rid: RequestId, body: JsonBody) -> Result<HttpResponse, AppError> {
    let mut form = Form::read(body).await?;
    let email = form.opt_string("email");
    let account = form.opt_string("account");
    let password = form.string("password").map(Zeroizing::new);
    let totp_code = form.opt_string("totp").map(Zeroizing::new);
    let recovery_code = form.opt_string("recovery_code").map(Zeroizing::new);
    let device_token = form.opt_string("device_token").map(Zeroizing::new);
    if email.is_some() == account.is_some() && !form.has_error("email") && !form.has_error("account") {
        form.error("", "send either email (staff) or account (reporters)");
    }
    // Refused before any hashing (SPEC §12.3): no password of an account is that long.
    if password.as_ref().is_some_and(|p| p.chars().count() > users::rules::PASSWORD_MAX_CHARS) {
        form.error("password", "must be at most 128 characters long");
    }
    let password = form.finish_with(password)?;
    // A login with a device token may be owed the known devices' lane (SPEC §12.2), which only
    // the database can tell; any other is refused here when the common lane is full.
    if device_token.is_none() || state.passwords.ensure_room(Lane::KnownDevice).is_err() {
        state.passwords.ensure_room(Lane::Any)?;
    }
    let (logins, name) = logins_for(&state, email.as_deref(), account.as_deref());
    let account_key = super::throttle_key(&state, &name);
    let anonymous = Context::new(Actor::anonymous(), &rid);

    // Read only: the account with its TOTP row, which throttle counts this attempt (the
    // account's, or the device's own when a live device token of this account comes with it,
    // SPEC §12.2), and whether it is locked now. No write lock is taken here, so a login costs
    // one write transaction (below), not two.
    let (user, totp, key, known_device, locked) = {
        let throttle_secret = state.throttle_key;
        let device_token = device_token.clone();
        db::run(&state.pool, move |conn| {
            // The account's throttle row comes with the account, in the same statement; a
            // name that no account has reads it on its own.
            let (user, totp, account_throttle) = match store::find_for_login(conn, &logins, &account_key)? {
                Some(found) => (Some(found.user), found.totp, Some(found.throttle)),
                None => (None, None, None),
            };
            let known_device = match (&user, &device_token) {
                (Some(user), Some(device)) => store::is_device_of(conn, user.id, device)?,
                _ => false,
            };
            let (key, throttle) = match (&device_token, known_device, account_throttle) {
                (Some(device), true, _) => {
                    let key = super::device_throttle_key(&throttle_secret, device);
                    let throttle = store::throttle(conn, &key)?;
                    (key, throttle)
                }
                (_, _, Some(throttle)) => (account_key, throttle),
                (_, _, None) => {
                    let throttle = store::throttle(conn, &account_key)?;
                    (account_key, throttle)
                }
            };
            let locked = rules::locked_for(throttle.as_ref(), db::now());
            Ok::<_, AppError>((user, totp, key, known_device, locked))
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

    let lane = Lane::for_login(known_device, account_of.map(|(_, role)| role));
    let stored = user.as_ref().map(|u| u.password_hash.clone());
    let verified = state.passwords.verify(password.clone(), stored, lane).await?;
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
    let factor = SecondFactor {
        enrolled: totp.filter(|t| t.confirmed_at.is_some()),
        totp: totp_code,
        recovery_code,
        keyring: state.keyring.clone(),
        recovery_key: state.recovery_key,
    };
    let require_staff_2fa = state.require_staff_2fa;
    let outcome = db::run(&state.pool, move |conn| {
        write_tx_locked(conn, store::lock_key(&key), |conn| {
            let now = db::now();
            let current = store::throttle(conn, &key)?;
            if let Some(retry_after_secs) = rules::locked_for(current.as_ref(), now) {
                audit::record(conn, login_entry(&anonymous, Action::AuthThrottled, account_of, json!({})))?;
                return Ok::<_, AppError>(Outcome::Throttled(retry_after_secs));
            }
            let checked = match &accepted {
                Some(user) => factor.check(conn, user)?,
                None => Checked::Failed,
            };
            let reason = match (&accepted, &checked) {
                (None, _) => Some(failure_reason),
                (Some(_), Checked::Failed) => Some("second_factor"),
                _ => None,
            };
            let (Some(user), None) = (accepted, reason) else {
                store::put_throttle(conn, &rules::after_failure(current, &key, now))?;
                let details = json!({"reason": reason.unwrap_or(failure_reason), "known_device": known_device});
                audit::record(conn, login_entry(&anonymous, Action::AuthLoginFailed, account_of, details))?;
                return Ok(Outcome::Failed);
            };
            if current.is_some() {
                store::clear_throttle(conn, &key)?;
            }
            if let Some(hash) = &rehashed {
                users::store::set_password_hash(conn, user.id, hash)?;
            }
            let actor = Context { actor: Actor::user(user.id, user.role), ..anonymous.clone() };
            let must_enrol = checked == Checked::NotEnrolled && user.role != Role::Reporter && require_staff_2fa;
            let (session_id, refresh_token) = store::create_session(conn, user.id)?;
            if checked == Checked::RecoveryCode {
                audit::record(conn, actor.entry(Action::AuthRecoveryCodeUsed).about("user", user.id, user.role))?;
            }
            let mut details = json!({"rehashed": rehashed.is_some(), "second_factor": checked.word()});
            if user.role != Role::Reporter {
                details["session_id"] = json!(session_id);
                details["enrolment"] = json!(must_enrol);
                details["known_device"] = json!(known_device);
            }
            audit::record(conn, actor.entry(Action::AuthLogin).about("user", user.id, user.role).details(details))?;
            if must_enrol {
                return Ok(Outcome::MustEnrol { user, session_id });
            }
            let device_token = match device_token {
                Some(device) if known_device => device.to_string(),
                _ => store::add_device_token(conn, user.id)?,
            };
            Ok(Outcome::SignedIn { user, session_id, refresh_token, device_token })
        })
    })
    .await?;
    match outcome {
        Outcome::SignedIn { user, session_id, refresh_token, device_token } => {
            let pair = token_pair(&state, &user, session_id, refresh_token)?;
            Ok(HttpResponse::Ok().json(SignedIn { pair, device_token }))
        }
        Outcome::MustEnrol { user, session_id } => {
            let enrolment_token = state
                .tokens
                .issue(user.id, user.role.as_str(), session_id, token::TYP_ENROLMENT, chrono::Utc::now().timestamp())
                .map_err(|_| AppError::internal("token signing failed"))?;
            Ok(HttpResponse::Ok().json(EnrolmentToken {
                enrolment_token,
                token_type: "Bearer",
                expires_in: token::ACCESS_TTL_SECS,
            }))
        }
        Outcome::Throttled(retry_after_secs) => Err(AppError::TooManyRequests { retry_after_secs }),
        Outcome::Failed => Err(AppError::Unauthorized),
    }
}

#[derive(Serialize)]
pub struct SignedIn {
    #[serde(flatten)]
    pub pair: TokenPair,
    /// Keeps this device's own login throttle (SPEC §12.2); send it with later logins.
    pub device_token: String,
}

/// What a staff member without a second factor gets for the right password (SPEC §12.1).
#[derive(Serialize)]
pub struct EnrolmentToken {
    pub enrolment_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
}

/// The second factor a login presents, and the account's confirmed one.
struct SecondFactor {
    /// The account's confirmed TOTP secret, as read before hashing.
    enrolled: Option<store::TotpRow>,
    totp: Option<Zeroizing<String>>,
    recovery_code: Option<Zeroizing<String>>,
    keyring: crate::crypto::envelope::Keyring,
    recovery_key: [u8; 32],
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Checked {
    /// The account has no confirmed second factor.
    NotEnrolled,
    Totp,
    RecoveryCode,
    /// Missing, wrong, replayed or malformed.
    Failed,
}

impl Checked {
    fn word(self) -> &'static str {
        match self {
            Checked::NotEnrolled => "none",
            Checked::Totp => "totp",
            Checked::RecoveryCode => "recovery_code",
            Checked::Failed => "failed",
        }
    }
}

impl SecondFactor {
    /// Checks the factor of a user whose password was right, inside the login's transaction:
    /// a TOTP code moves the last step forward, a recovery code is spent, each by one
    /// conditional UPDATE.
    fn check(&self, conn: &mut db::DbConn, user: &UserRow) -> Result<Checked, AppError> {
        let Some(totp) = &self.enrolled else {
            return Ok(Checked::NotEnrolled);
        };
        if let Some(code) = &self.totp {
            let secret = open_secret(&self.keyring, totp)?;
            let step = super::totp::matching_step(&secret, code, chrono::Utc::now().timestamp(), totp.last_step);
            if let Some(step) = step {
                if store::accept_step(conn, totp, step, None)? {
                    return Ok(Checked::Totp);
                }
            }
            return Ok(Checked::Failed);
        }
        if let Some(code) = &self.recovery_code {
            if let Some(normalized) = super::totp::normalize_recovery_code(code) {
                let hash = super::totp::recovery_code_hash(&self.recovery_key, user.id, &normalized);
                if store::use_recovery_code(conn, user.id, &hash)? {
                    return Ok(Checked::RecoveryCode);
                }
            }
        }
        Ok(Checked::Failed)
    }
}

/// The secret of a stored TOTP row, opened under the master key.
fn open_secret(
    keyring: &crate::crypto::envelope::Keyring,
    row: &store::TotpRow,
) -> Result<Zeroizing<Vec<u8>>, AppError> {
    let text = keyring
        .open_bound("user_totp", "secret_sealed", row.user_id, &row.master_key_id, &row.secret_sealed)
        .map_err(|_| AppError::internal("TOTP secret does not open"))?;
    super::totp::base32_decode(&text).map(Zeroizing::new).ok_or_else(|| AppError::internal("TOTP secret"))
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
    let require_staff_2fa = state.require_staff_2fa;
    let rotation = db::run(&state.pool, move |conn| {
        write_tx(conn, |conn| {
            let rotation = match store::rotate(conn, &presented)? {
                // A staff session begun without a second factor (before one was required) does
                // not outlive the requirement: it ends at its next refresh (SPEC §12.1).
                Rotation::Rotated { user, session_id, .. }
                    if require_staff_2fa
                        && user.role != Role::Reporter
                        && !store::has_second_factor(conn, user.id)? =>
                {
                    store::revoke_session(conn, session_id)?;
                    Rotation::Invalid
                }
                rotation => rotation,
            };
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
/// Every wrong receipt gets the same 401. Failed exchanges are limited globally (SPEC §12.3), so
/// guessing is bounded whatever receipts are tried, and nothing is stored per receipt: each
/// exchange takes a token of the `receipt_failures` bucket and a success gives it back.
pub async fn receipt(state: web::Data<AppState>, rid: RequestId, body: JsonBody) -> Result<HttpResponse, AppError> {
    let mut form = Form::read(body).await?;
    let presented = form.string("receipt").map(Zeroizing::new);
    let presented = form.finish_with(presented)?;
    let Exchanged { report_id, reference, session } = exchange_receipt(&state, &rid, &presented).await?;
    let access_token = state
        .tokens
        .issue(report_id, "receipt", session, token::TYP_RECEIPT, chrono::Utc::now().timestamp())
        .map_err(|_| AppError::internal("token signing failed"))?;
    Ok(HttpResponse::Ok().json(ReceiptToken {
        access_token,
        token_type: "Bearer",
        expires_in: token::ACCESS_TTL_SECS,
        report_id,
        reference,
    }))
}

/// A receipt exchanged: its report, and the `sid` of tokens given for it.
pub struct Exchanged {
    pub report_id: Id,
    pub reference: String,
    pub session: Id,
}

/// The one receipt exchange, shared by the API and the reporter's follow-up page: every
/// exchange takes a token of the cluster-wide bucket of failed exchanges (SPEC §12.3) and a
/// success gives it back, so guessing is bounded whatever receipts are tried; audited; every
/// wrong receipt gets the same 401 (a revoked one too: its hash is no longer stored).
pub async fn exchange_receipt(state: &AppState, rid: &RequestId, presented: &str) -> Result<Exchanged, AppError> {
    let normalized = crate::codes::normalize(presented, crate::codes::RECEIPT_LEN);
    let hash = token::receipt_hash(&state.receipt_key, normalized.as_deref().unwrap_or(presented));
    crate::limits::take(state, Bucket::ReceiptFailures, rid).await?;
    let audit_ctx = Context::new(Actor::anonymous(), rid);
    let found = db::run(&state.pool, move |conn| {
        write_tx(conn, |conn| {
            let found = match normalized {
                Some(_) => crate::reports::store::find_by_receipt(conn, &hash)?,
                None => None,
            };
            let Some(report) = found else {
                audit::record(conn, audit_ctx.entry(Action::AuthReceiptFailed))?;
                return Ok::<_, AppError>(None);
            };
            let entry = Context { actor: Actor::anonymous_reporter(), ..audit_ctx.clone() }
                .entry(Action::AuthReceipt)
                .target("report", report.id);
            audit::record(conn, entry)?;
            Ok(Some(Exchanged {
                report_id: report.id,
                reference: report.reference,
                session: token::receipt_session(&hash),
            }))
        })
    })
    .await?;
    let Some(found) = found else { return Err(AppError::Unauthorized) };
    crate::limits::give_back(state, Bucket::ReceiptFailures).await?;
    Ok(found)
}

#[derive(Serialize)]
pub struct TotpEnrolment {
    /// RFC 4648 base32, for typing into an authenticator app.
    pub secret: String,
    pub otpauth_uri: String,
}

/// `POST /api/v1/me/totp` (SPEC §12.1): a new pending secret, replacing an unconfirmed one.
pub async fn totp_enrol(
    state: web::Data<AppState>,
    rid: RequestId,
    Enrolling { user, .. }: Enrolling,
) -> Result<HttpResponse, AppError> {
    let secret = Zeroizing::new(super::totp::base32(&super::totp::new_secret()));
    let label = user.user.email().unwrap_or("account").to_string();
    let otpauth_uri = super::totp::otpauth_uri(&secret, &label);
    let sealed = state.keyring.seal_bound("user_totp", "secret_sealed", user.id(), &secret);
    db::run(&state.pool, move |conn| {
        write_tx(conn, |conn| {
            if store::has_second_factor(conn, user.id())? {
                return Err(AppError::Conflict(
                    "A second factor is already confirmed; remove it (or have an admin reset it) first.".into(),
                ));
            }
            let now = db::now();
            let row = store::TotpRow {
                user_id: user.id(),
                secret_sealed: sealed.sealed,
                master_key_id: sealed.master_key_id,
                confirmed_at: None,
                last_step: 0,
                created_at: now,
            };
            store::put_pending_totp(conn, &row)?;
            audit::record(conn, user.audit(&rid, Action::AuthTotpEnrol).about("user", user.id(), user.role))?;
            Ok(())
        })
    })
    .await?;
    Ok(HttpResponse::Ok().json(TotpEnrolment { secret: secret.to_string(), otpauth_uri }))
}

#[derive(Serialize)]
pub struct RecoveryCodes {
    /// Ten single-use codes, shown once.
    pub recovery_codes: Vec<String>,
}

/// Reads `{code}`: a six-digit code from the authenticator.
async fn read_code(body: JsonBody) -> Result<Zeroizing<String>, AppError> {
    let mut form = Form::read(body).await?;
    let code = form.string("code").map(Zeroizing::new);
    form.finish_with(code)
}

fn wrong_code() -> AppError {
    AppError::invalid("code", "is not a current code of your authenticator")
}

/// `POST /api/v1/me/totp/confirm {code}`: confirms the pending secret with a current code and
/// answers the recovery codes, once.
pub async fn totp_confirm(
    state: web::Data<AppState>,
    rid: RequestId,
    Enrolling { user, .. }: Enrolling,
    body: JsonBody,
) -> Result<HttpResponse, AppError> {
    let code = read_code(body).await?;
    let codes: Vec<String> = (0..super::totp::RECOVERY_CODES).map(|_| super::totp::new_recovery_code()).collect();
    let hashes: Vec<String> = codes
        .iter()
        .filter_map(|c| super::totp::normalize_recovery_code(c))
        .map(|c| super::totp::recovery_code_hash(&state.recovery_key, user.id(), &c))
        .collect();
    let keyring = state.keyring.clone();
    db::run(&state.pool, move |conn| {
        write_tx(conn, |conn| {
            let pending = store::totp_of(conn, user.id())?.filter(|t| t.confirmed_at.is_none()).ok_or_else(|| {
                AppError::Conflict("There is no pending second factor: POST /api/v1/me/totp first.".into())
            })?;
            let secret = open_secret(&keyring, &pending)?;
            let now_unix = chrono::Utc::now().timestamp();
            let step =
                super::totp::matching_step(&secret, &code, now_unix, pending.last_step).ok_or_else(wrong_code)?;
            if !store::accept_step(conn, &pending, step, Some(db::now()))? {
                return Err(wrong_code());
            }
            store::replace_recovery_codes(conn, user.id(), &hashes)?;
            let entry = user.audit(&rid, Action::AuthTotpConfirm).about("user", user.id(), user.role);
            audit::record(conn, entry.details(json!({"recovery_codes": hashes.len()})))?;
            Ok(())
        })
    })
    .await?;
    Ok(HttpResponse::Ok().json(RecoveryCodes { recovery_codes: codes }))
}

/// `DELETE /api/v1/me/totp {code}`: removes the second factor, with a current code. Refused to
/// staff while a second factor is required.
pub async fn totp_remove(
    state: web::Data<AppState>,
    rid: RequestId,
    Enrolling { user, .. }: Enrolling,
    body: JsonBody,
) -> Result<HttpResponse, AppError> {
    if user.role != Role::Reporter && state.require_staff_2fa {
        return Err(AppError::Refused(
            "Staff must keep a second factor on this server; if the device is lost, an admin can reset it.",
        ));
    }
    let code = read_code(body).await?;
    let keyring = state.keyring.clone();
    db::run(&state.pool, move |conn| {
        write_tx(conn, |conn| {
            let Some(current) = store::totp_of(conn, user.id())? else {
                return Err(AppError::Conflict("There is no second factor to remove.".into()));
            };
            let secret = open_secret(&keyring, &current)?;
            let now_unix = chrono::Utc::now().timestamp();
            let step =
                super::totp::matching_step(&secret, &code, now_unix, current.last_step).ok_or_else(wrong_code)?;
            let accepted = match current.confirmed_at {
                Some(_) => store::accept_step(conn, &current, step, None)?,
                None => true,
            };
            if !accepted {
                return Err(wrong_code());
            }
            store::remove_second_factor(conn, user.id())?;
            let entry = user.audit(&rid, Action::AuthTotpRemove).about("user", user.id(), user.role);
            audit::record(conn, entry.details(json!({"was_confirmed": current.confirmed_at.is_some()})))?;
            Ok(())
        })
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}
