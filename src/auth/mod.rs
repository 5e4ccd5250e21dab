//! Authentication: passwords, tokens, sessions, throttling, and the role extractors that make a
//! handler's signature say who may call it (`Admin`, `Staff`, `Caseworker`, `Reporter`,
//! `AnyUser`).

pub mod handlers;
pub mod password;
pub mod rules;
pub mod store;
pub mod token;
pub mod totp;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpRequest};
use chrono::NaiveDateTime;
use diesel::prelude::*;
use futures_util::future::LocalBoxFuture;

use crate::audit::{Action, Actor, Context, NewEntry};
use crate::db::schema::{login_throttle, refresh_tokens, sessions};
use crate::db::Id;
use crate::error::AppError;
use crate::http::RequestId;
use crate::state::AppState;
use crate::users::{Role, UserRow};

/// A sign-in: lives 14 days from its last refresh, ended by logout or by an admin.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = sessions, treat_none_as_default_value = false)]
pub struct SessionRow {
    pub id: Id,
    pub user_id: Id,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub revoked_at: Option<NaiveDateTime>,
}

/// A refresh token, stored as its hash; `used_at` marks one already exchanged.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = refresh_tokens, treat_none_as_default_value = false)]
pub struct RefreshRow {
    pub token_hash: String,
    pub session_id: Id,
    pub created_at: NaiveDateTime,
    pub used_at: Option<NaiveDateTime>,
}

/// Failed attempts counted for one key (a keyed hash of an email or a receipt, never the value).
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = login_throttle, treat_none_as_default_value = false)]
pub struct ThrottleRow {
    pub key_hash: String,
    pub failures: i32,
    pub window_started_at: NaiveDateTime,
    pub locked_until: Option<NaiveDateTime>,
}

/// The caller, checked against the database on this request: the session is live and the user
/// active, so logout, deactivation and role changes take effect at once. The role is the one
/// stored now, not the one in the token.
#[derive(Debug, Clone)]
pub struct CurrentUser {
    pub user: UserRow,
    pub role: Role,
    pub session_id: Id,
}

impl CurrentUser {
    pub fn id(&self) -> Id {
        self.user.id
    }

    pub fn actor(&self) -> Actor {
        Actor::user(self.user.id, self.role)
    }

    /// An audit entry of this user's, in this request.
    pub fn audit(&self, request: &RequestId, action: Action) -> NewEntry {
        Context::new(self.actor(), request).entry(action)
    }
}

/// The login throttle's key for an account (SPEC §3, §12.2): a keyed hash of the account's
/// login hash, so the same key comes from a login attempt (which has the typed name) and from an
/// admin unlocking the account (who has only the stored login), and no name is stored.
pub fn throttle_key(state: &AppState, login_hash: &str) -> String {
    throttle_key_with(&state.throttle_key, login_hash)
}

pub fn throttle_key_with(throttle_key: &[u8], login_hash: &str) -> String {
    crate::crypto::hmac_hex(throttle_key, format!("login:{login_hash}").as_bytes())
}

/// The throttle key of a device token (SPEC §12.2): each known device has its own counter.
pub fn device_throttle_key(throttle_key: &[u8], device_token: &str) -> String {
    let hash = token::refresh_token_hash(device_token);
    crate::crypto::hmac_hex(throttle_key, format!("device:{hash}").as_bytes())
}

/// The login throttle's key of a stored account: staff logins are emails, reporters' are hashes.
pub fn throttle_key_of(state: &AppState, user: &UserRow) -> String {
    match user.role {
        Role::Reporter => throttle_key(state, &user.login),
        _ => throttle_key(state, &token::login_hash(&state.login_key, &user.login)),
    }
}

fn state_of(req: &HttpRequest) -> Result<&web::Data<AppState>, AppError> {
    req.app_data::<web::Data<AppState>>().ok_or_else(|| AppError::internal("state missing"))
}

fn bearer_token(req: &HttpRequest) -> Option<&str> {
    req.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(token::bearer)
}

async fn authenticate(req: HttpRequest) -> Result<CurrentUser, AppError> {
    let state = state_of(&req)?;
    let token = bearer_token(&req).ok_or(AppError::Unauthorized)?;
    let claims = state.tokens.decode(token).ok_or(AppError::Unauthorized)?;
    match claims.typ.as_str() {
        token::TYP_ACCESS => user_of(state, claims).await,
        // A live enrolment token opens only `/me` and `/me/totp` (SPEC §12.1).
        token::TYP_ENROLMENT => {
            user_of(state, claims).await?;
            Err(AppError::EnrolmentRequired)
        }
        _ => Err(AppError::Unauthorized),
    }
}

/// Any signed-in user, or a staff member who signed in with the right password and must now
/// enrol a second factor (an enrolment token): `/me` and the `/me/totp` routes.
#[derive(Debug, Clone)]
pub struct Enrolling {
    pub user: CurrentUser,
    /// Whether the caller holds an enrolment token rather than an access token.
    pub enrolment: bool,
}

impl FromRequest for Enrolling {
    type Error = AppError;
    type Future = LocalBoxFuture<'static, Result<Self, AppError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let state = state_of(&req)?;
            let token = bearer_token(&req).ok_or(AppError::Unauthorized)?;
            let claims = state.tokens.decode(token).ok_or(AppError::Unauthorized)?;
            let enrolment = match claims.typ.as_str() {
                token::TYP_ACCESS => false,
                token::TYP_ENROLMENT => true,
                _ => return Err(AppError::Unauthorized),
            };
            Ok(Enrolling { user: user_of(state, claims).await?, enrolment })
        })
    }
}

async fn user_of(state: &web::Data<AppState>, claims: token::Claims) -> Result<CurrentUser, AppError> {
    let (session_id, user_id) = (claims.sid, claims.sub);
    let user = crate::db::run(&state.pool, move |conn| Ok(store::live_user(conn, session_id, user_id)?))
        .await?
        .ok_or(AppError::Unauthorized)?;
    Ok(CurrentUser { role: user.role, user, session_id })
}

macro_rules! role_extractor {
    ($(#[$doc:meta])* $name:ident: $($role:ident)|+) => {
        $(#[$doc])*
        #[derive(Debug, Clone)]
        pub struct $name(pub CurrentUser);

        impl FromRequest for $name {
            type Error = AppError;
            type Future = LocalBoxFuture<'static, Result<Self, AppError>>;

            fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
                let req = req.clone();
                Box::pin(async move {
                    let user = authenticate(req).await?;
                    match user.role {
                        $(Role::$role)|+ => Ok($name(user)),
                        #[allow(unreachable_patterns)]
                        _ => Err(AppError::Forbidden),
                    }
                })
            }
        }
    };
}

role_extractor!(
    /// Any signed-in user.
    AnyUser: Reporter | Caseworker | Admin
);
role_extractor!(
    /// An admin: manages accounts and the registry, audits; never reads report content.
    Admin: Admin
);
role_extractor!(
    /// A caseworker or an admin (metadata-level staff actions).
    Staff: Caseworker | Admin
);
role_extractor!(
    /// A caseworker: triage and report content.
    Caseworker: Caseworker
);
role_extractor!(
    /// A reporter with an account.
    Reporter: Reporter
);

/// Whoever calls a route that is open to everyone, with or without a token.
#[derive(Debug, Clone)]
pub enum Caller {
    /// No `Authorization` header at all.
    Anonymous,
    User(CurrentUser),
    /// The holder of a report's receipt, with a token scoped to that one report.
    Receipt {
        report_id: Id,
    },
}

impl Caller {
    pub fn actor(&self) -> Actor {
        match self {
            Caller::Anonymous | Caller::Receipt { .. } => Actor::anonymous_reporter(),
            Caller::User(user) => user.actor(),
        }
    }

    /// An audit entry of this caller's, in this request.
    pub fn audit(&self, request: &RequestId, action: Action) -> NewEntry {
        Context::new(self.actor(), request).entry(action)
    }
}

impl FromRequest for Caller {
    type Error = AppError;
    type Future = LocalBoxFuture<'static, Result<Self, AppError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            if req.headers().get(header::AUTHORIZATION).is_none() {
                return Ok(Caller::Anonymous);
            }
            let state = state_of(&req)?;
            // A header that is present but not a valid token is refused, never treated as anonymous.
            let claims = bearer_token(&req).and_then(|t| state.tokens.decode(t)).ok_or(AppError::Unauthorized)?;
            match claims.typ.as_str() {
                token::TYP_ACCESS => Ok(Caller::User(user_of(state, claims).await?)),
                token::TYP_ENROLMENT => {
                    user_of(state, claims).await?;
                    Err(AppError::EnrolmentRequired)
                }
                token::TYP_RECEIPT => {
                    // Live only while the report still has the receipt the token was given for:
                    // a replaced, revoked or withdrawn receipt ends its tokens (SPEC §13).
                    let (report_id, session) = (claims.sub, claims.sid);
                    let live = crate::db::run(&state.pool, move |conn| {
                        Ok(crate::reports::store::find(conn, report_id)?
                            .is_some_and(|r| r.receipt_hash.as_deref().map(token::receipt_session) == Some(session)))
                    })
                    .await?;
                    if live {
                        Ok(Caller::Receipt { report_id })
                    } else {
                        Err(AppError::Unauthorized)
                    }
                }
                _ => Err(AppError::Unauthorized),
            }
        })
    }
}
