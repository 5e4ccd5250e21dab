//! `/api/v1/me` and the admin's account management (`/api/v1/users`).

use actix_web::{web, HttpRequest, HttpResponse};
use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use zeroize::Zeroizing;

use super::store::{self, ListFilter};
use super::{rules, Role, User};
use crate::audit::{self, NewEntry};
use crate::auth::handlers::new_user;
use crate::auth::{Admin, AnyUser};
use crate::db::{self, write_tx, Id};
use crate::error::{AppError, FieldError};
use crate::http::body::{Form, JsonBody};
use crate::http::{self, cursor, Page, RequestId};
use crate::state::AppState;

pub async fn me(AnyUser(user): AnyUser) -> HttpResponse {
    HttpResponse::Ok().json(User::from(user.user))
}

#[derive(Deserialize)]
pub struct ListQuery {
    role: Option<String>,
    active: Option<String>,
    cursor: Option<String>,
    limit: Option<String>,
}

pub async fn list(state: web::Data<AppState>, _: Admin, req: HttpRequest) -> Result<HttpResponse, AppError> {
    let query: ListQuery = http::query(&req)?;
    let mut errors = Vec::new();
    let mut filter = ListFilter::default();
    match cursor::limit(query.limit.as_deref()) {
        Ok(limit) => filter.limit = limit,
        Err(message) => errors.push(FieldError::new("limit", message)),
    }
    if let Some(role) = query.role {
        match rules::role(&role) {
            Ok(role) => filter.role = Some(role.as_str().to_string()),
            Err(message) => errors.push(FieldError::new("role", message)),
        }
    }
    match query.active.as_deref() {
        None => {}
        Some("true") => filter.active = Some(true),
        Some("false") => filter.active = Some(false),
        Some(_) => errors.push(FieldError::new("active", "must be true or false")),
    }
    if let Some(text) = query.cursor {
        match cursor::decode::<(NaiveDateTime, Id)>(&text) {
            Some(position) => filter.after = Some(position),
            None => errors.push(FieldError::new("cursor", "is not a cursor this service issued")),
        }
    }
    if !errors.is_empty() {
        return Err(AppError::Validation(errors));
    }
    let limit = filter.limit;
    let rows = db::run(&state.pool, move |conn| Ok(store::list(conn, &filter)?)).await?;
    let (rows, next_cursor) = cursor::paginate(rows, limit, |r| (r.created_at, r.id));
    let items = rows.into_iter().map(User::from).collect();
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
    let role = role.and_then(|r| form.check("role", rules::role(&r)));
    let display_name = display_name.and_then(|n| form.check("display_name", rules::display_name(&n)));
    form.finish()?;
    let (Some(email), Some(password), Some(role), Some(display_name)) = (email, password, role, display_name) else {
        return Err(AppError::internal("validated fields missing"));
    };
    let password_hash = state.passwords.hash(password).await?;
    let user = new_user(email, display_name, role, password_hash);
    let user = db::run(&state.pool, move |conn| {
        write_tx(conn, |conn| {
            if store::email_taken(conn, &user.email)? {
                return Err(AppError::Conflict("An account with this email already exists.".into()));
            }
            store::insert(conn, &user)?;
            let entry = NewEntry::new(admin.actor(), "user.create")
                .target("user", user.id)
                .details(json!({"role": user.role, "via": "admin"}))
                .request(Some(&rid.0));
            audit::record(conn, entry)?;
            Ok(user)
        })
    })
    .await?;
    Ok(HttpResponse::Created().json(User::from(user)))
}

pub async fn get(state: web::Data<AppState>, _: Admin, id: web::Path<String>) -> Result<HttpResponse, AppError> {
    let id = http::path_id(&id)?;
    let user = db::run(&state.pool, move |conn| Ok(store::find(conn, id)?)).await?.ok_or(AppError::NotFound)?;
    Ok(HttpResponse::Ok().json(User::from(user)))
}

/// What a PATCH asks to change.
#[derive(Debug, Default, PartialEq)]
pub struct UserChanges {
    pub role: Option<Role>,
    pub active: Option<bool>,
    pub display_name: Option<String>,
}

pub async fn update(
    state: web::Data<AppState>,
    Admin(admin): Admin,
    rid: RequestId,
    id: web::Path<String>,
    body: JsonBody,
) -> Result<HttpResponse, AppError> {
    let id = http::path_id(&id)?;
    let mut form = Form::read(body).await?;
    let role = form.opt_string("role");
    let active = form.opt_bool("active");
    let display_name = form.opt_string("display_name");
    let changes = UserChanges {
        role: role.and_then(|r| form.check("role", rules::role(&r))),
        active,
        display_name: display_name.and_then(|n| form.check("display_name", rules::display_name(&n))),
    };
    form.finish()?;
    if changes == UserChanges::default() {
        return Err(AppError::invalid("", "send at least one of role, active, display_name"));
    }
    let user = db::run(&state.pool, move |conn| {
        write_tx(conn, |conn| {
            db::lock(conn, db::locks::ADMIN_ROLES)?;
            let mut user = store::find(conn, id)?.ok_or(AppError::NotFound)?;
            let mut diff = Map::new();
            let mut end_sessions = false;
            if let Some(role) = changes.role.filter(|r| r.as_str() != user.role) {
                diff.insert("role".into(), json!({"old": user.role, "new": role.as_str()}));
                user.role = role.as_str().to_string();
                end_sessions = true;
            }
            if let Some(active) = changes.active.filter(|a| *a != user.active) {
                diff.insert("active".into(), json!({"old": user.active, "new": active}));
                user.active = active;
                end_sessions |= !active;
            }
            if let Some(name) = changes.display_name.filter(|n| *n != user.display_name) {
                diff.insert("display_name".into(), json!({"old": user.display_name, "new": name}));
                user.display_name = name;
            }
            if diff.is_empty() {
                return Ok(user);
            }
            let was_admin = diff.get("role").is_some_and(|c| c["old"] == "admin")
                || (user.role == "admin" && diff.contains_key("active"));
            user.updated_at = db::now();
            store::update(conn, &user)?;
            if was_admin && store::count_active_admins(conn)? == 0 {
                return Err(AppError::Conflict("This would leave no active admin.".into()));
            }
            // A role change or deactivation ends the user's sessions: they sign in again with
            // what they may now do, or not at all.
            let ended = if end_sessions { store::revoke_sessions(conn, user.id)? } else { 0 };
            let entry = NewEntry::new(admin.actor(), "user.update")
                .target("user", user.id)
                .details(json!({"changes": Value::Object(diff), "sessions_revoked": ended}))
                .request(Some(&rid.0));
            audit::record(conn, entry)?;
            Ok(user)
        })
    })
    .await?;
    Ok(HttpResponse::Ok().json(User::from(user)))
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
            let entry = NewEntry::new(admin.actor(), "user.sessions_revoke")
                .target("user", id)
                .details(json!({"revoked": revoked}))
                .request(Some(&rid.0));
            audit::record(conn, entry)?;
            Ok(revoked)
        })
    })
    .await?;
    Ok(HttpResponse::Ok().json(Revoked { revoked }))
}
