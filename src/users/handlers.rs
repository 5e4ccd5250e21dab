//! `/api/v1/me` and the admin's account management (`/api/v1/users`).

use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use zeroize::Zeroizing;

use super::rules::{self, UserChanges};
use super::store::{self, ListFilter};
use super::{User, UserRow};
use crate::audit::{self, Action};
use crate::auth::{Admin, Enrolling};
use crate::db::{self, write_tx};
use crate::error::AppError;
use crate::http::body::{edit, Form, JsonBody};
use crate::http::{self, cursor, cursor::ListQuery, param, Page, RequestId};
use crate::state::AppState;

/// `GET /api/v1/me`: also open to an enrolment token (SPEC §12.1).
pub async fn me(Enrolling { user, .. }: Enrolling) -> HttpResponse {
    HttpResponse::Ok().json(User::own(user.user))
}

#[derive(Deserialize)]
pub struct UserQuery {
    role: Option<String>,
    active: Option<String>,
    #[serde(flatten)]
    page: ListQuery,
}

pub async fn list(state: web::Data<AppState>, _: Admin, req: HttpRequest) -> Result<HttpResponse, AppError> {
    let query: UserQuery = http::query(&req)?;
    let mut errors = Vec::new();
    let e = &mut errors;
    let limit = query.page.limit(e);
    let filter = ListFilter {
        role: param(e, "role", query.role, rules::role),
        active: param(e, "active", query.active, |text| match text {
            "true" => Ok(true),
            "false" => Ok(false),
            _ => Err("must be true or false"),
        }),
        after: query.page.after(e),
        limit,
    };
    if !errors.is_empty() {
        return Err(AppError::Validation(errors));
    }
    let rows = db::run(&state.pool, move |conn| Ok(store::list(conn, &filter)?)).await?;
    let (rows, next_cursor) = cursor::paginate(rows, limit, |r| (r.created_at, r.id));
    let items = rows.into_iter().map(User::for_admin).collect();
    Ok(HttpResponse::Ok().json(Page::<User> { items, next_cursor }))
}

pub async fn create(
    state: web::Data<AppState>,
    Admin(admin): Admin,
    rid: RequestId,
    body: JsonBody,
) -> Result<HttpResponse, AppError> {
    let mut form = Form::read(body).await?;
    let email = form.string("email");
    let password = form.string("password").map(Zeroizing::new);
    let role = form.string("role");
    let display_name = form.string("display_name");
    let email = email.and_then(|e| form.check("email", rules::email(&e)));
    if let Some(password) = &password {
        form.check("password", rules::password(password, email.as_deref()));
    }
    let role = role.and_then(|r| form.check("role", rules::staff_role(&r)));
    let display_name = display_name.and_then(|n| form.check("display_name", rules::display_name(&n)));
    let (((email, password), role), display_name) =
        form.finish_with(email.zip(password).zip(role).zip(display_name))?;
    let password_hash = state.passwords.hash(password).await?;
    let user = UserRow::new(email, display_name, role, password_hash);
    let user = db::run(&state.pool, move |conn| {
        write_tx(conn, |conn| {
            if store::login_taken(conn, &user.login)? {
                return Err(AppError::Conflict("An account with this email already exists.".into()));
            }
            store::insert(conn, &user)?;
            let entry = admin
                .audit(&rid, Action::UserCreate)
                .target("user", user.id)
                .details(json!({"role": user.role, "via": "admin"}));
            audit::record(conn, entry)?;
            Ok(user)
        })
    })
    .await?;
    Ok(HttpResponse::Created().json(User::for_admin(user)))
}

pub async fn get(state: web::Data<AppState>, _: Admin, id: web::Path<String>) -> Result<HttpResponse, AppError> {
    let id = http::path_id(&id)?;
    let user = db::run(&state.pool, move |conn| Ok(store::find(conn, id)?)).await?.ok_or(AppError::NotFound)?;
    Ok(HttpResponse::Ok().json(User::for_admin(user)))
}

pub async fn update(
    state: web::Data<AppState>,
    Admin(admin): Admin,
    rid: RequestId,
    id: web::Path<String>,
    body: JsonBody,
) -> Result<HttpResponse, AppError> {
    let id = http::path_id(&id)?;
    let read = |form: &mut Form| UserChanges {
        role: form.opt_parsed("role", rules::role),
        active: form.opt_bool("active"),
        display_name: form.opt_parsed("display_name", rules::display_name),
    };
    let changes = edit(body, read, "send at least one of role, active, display_name").await?;
    let user = db::run(&state.pool, move |conn| {
        write_tx(conn, |conn| {
            db::lock(conn, db::locks::ADMIN_ROLES)?;
            let user = store::find(conn, id)?.ok_or(AppError::NotFound)?;
            if let Some(role) = changes.role {
                rules::check_role_change(user.role, role).map_err(|m| AppError::invalid("role", m))?;
            }
            let outcome = rules::apply(&user, &changes);
            if outcome.diff.is_empty() {
                return Ok(user);
            }
            let mut user = outcome.user;
            user.updated_at = db::now();
            store::update(conn, &user)?;
            if outcome.loses_admin && store::count_active_admins(conn)? == 0 {
                return Err(AppError::Conflict("This would leave no active admin.".into()));
            }
            let ended = if outcome.end_sessions { store::revoke_sessions(conn, user.id)? } else { 0 };
            let entry = admin
                .audit(&rid, Action::UserUpdate)
                .target("user", user.id)
                .details(json!({"changes": Value::Object(outcome.diff), "sessions_revoked": ended}));
            audit::record(conn, entry)?;
            Ok(user)
        })
    })
    .await?;
    Ok(HttpResponse::Ok().json(User::for_admin(user)))
}

#[derive(Serialize)]
struct Revoked {
    revoked: usize,
}

pub async fn revoke_sessions(
    state: web::Data<AppState>,
    Admin(admin): Admin,
    rid: RequestId,
    id: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let id = http::path_id(&id)?;
    let revoked = db::run(&state.pool, move |conn| {
        write_tx(conn, |conn| {
            store::find(conn, id)?.ok_or(AppError::NotFound)?;
            let revoked = store::revoke_sessions(conn, id)?;
            let entry =
                admin.audit(&rid, Action::UserSessionsRevoke).target("user", id).details(json!({"revoked": revoked}));
            audit::record(conn, entry)?;
            Ok(revoked)
        })
    })
    .await?;
    Ok(HttpResponse::Ok().json(Revoked { revoked }))
}

/// `POST /api/v1/users/{id}/unlock` (admin, SPEC §12.2): clears the account's login throttle,
/// for an owner whom guessing has locked out.
pub async fn unlock(
    state: web::Data<AppState>,
    Admin(admin): Admin,
    rid: RequestId,
    id: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let id = http::path_id(&id)?;
    let state2 = state.clone();
    db::run(&state.pool, move |conn| {
        write_tx(conn, |conn| {
            let user = store::find(conn, id)?.ok_or(AppError::NotFound)?;
            let cleared = crate::auth::store::clear_throttle(conn, &crate::auth::throttle_key_of(&state2, &user))?;
            let entry =
                admin.audit(&rid, Action::UserUnlock).target("user", id).details(json!({"was_locked": cleared}));
            audit::record(conn, entry)?;
            Ok(())
        })
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// `POST /api/v1/users/{id}/totp/reset` (admin, SPEC §12.1): removes a user's second factor and
/// recovery codes and ends their sessions, for a lost device. Staff then enrol again at their
/// next sign-in.
pub async fn totp_reset(
    state: web::Data<AppState>,
    Admin(admin): Admin,
    rid: RequestId,
    id: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let id = http::path_id(&id)?;
    db::run(&state.pool, move |conn| {
        write_tx(conn, |conn| {
            store::find(conn, id)?.ok_or(AppError::NotFound)?;
            let removed = crate::auth::store::remove_second_factor(conn, id)?;
            let revoked = store::revoke_sessions(conn, id)?;
            let entry = admin
                .audit(&rid, Action::AuthTotpReset)
                .target("user", id)
                .details(json!({"had_second_factor": removed, "sessions_revoked": revoked}));
            audit::record(conn, entry)?;
            Ok(())
        })
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}
