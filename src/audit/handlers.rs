//! `GET /api/v1/audit` and `GET /api/v1/audit/verify` (admins only).

use actix_web::{web, HttpRequest, HttpResponse};
use chrono::NaiveDateTime;
use serde::Deserialize;
use serde_json::json;

use super::store::{self, Filter};
use super::Action;
use crate::auth::Admin;
use crate::db::{self, write_tx, Id};
use crate::error::AppError;
use crate::http::{self, cursor, cursor::ListQuery, param, Page, RequestId};
use crate::state::AppState;

#[derive(Deserialize)]
pub struct AuditQuery {
    actor_id: Option<String>,
    action: Option<String>,
    target_id: Option<String>,
    from: Option<String>,
    to: Option<String>,
    #[serde(flatten)]
    page: ListQuery,
}

fn action(text: &str) -> Result<String, &'static str> {
    let plausible =
        !text.is_empty() && text.len() <= 64 && text.chars().all(|c| c.is_ascii_lowercase() || c == '.' || c == '_');
    // An unknown but well-formed name is a filter that matches nothing, as it always was.
    plausible.then(|| text.to_string()).ok_or("must be an action name such as auth.login")
}

fn target(text: &str) -> Result<String, &'static str> {
    match text.chars().count() {
        1..=64 => Ok(text.to_string()),
        _ => Err("must be 1 to 64 characters"),
    }
}

fn timestamp(text: &str) -> Result<NaiveDateTime, &'static str> {
    crate::time::parse(text).ok_or("must be an RFC 3339 timestamp")
}

fn parse(query: AuditQuery) -> Result<Filter, AppError> {
    let mut errors = Vec::new();
    let e = &mut errors;
    let limit = query.page.limit(e);
    let filter = Filter {
        actor_id: param(e, "actor_id", query.actor_id, |v| v.parse::<Id>().map_err(|_| "must be a UUID")),
        action: param(e, "action", query.action, action),
        target_id: param(e, "target_id", query.target_id, target),
        from: param(e, "from", query.from, timestamp),
        to: param(e, "to", query.to, timestamp),
        before_seq: query.page.after(e),
        limit,
    };
    if errors.is_empty() {
        Ok(filter)
    } else {
        Err(AppError::Validation(errors))
    }
}

pub async fn list(state: web::Data<AppState>, _: Admin, req: HttpRequest) -> Result<HttpResponse, AppError> {
    let filter = parse(http::query(&req)?)?;
    let limit = filter.limit;
    let entries = db::run(&state.pool, move |conn| {
        // Every event committed before this request is listed.
        store::sequence_all(conn)?;
        Ok(store::list(conn, &filter)?)
    })
    .await?;
    let (entries, next_cursor) = cursor::paginate(entries, limit, |e| e.seq);
    Ok(HttpResponse::Ok().json(Page { items: entries, next_cursor }))
}

pub async fn verify(state: web::Data<AppState>, Admin(admin): Admin, rid: RequestId) -> Result<HttpResponse, AppError> {
    let result = db::run(&state.pool, move |conn| {
        let result = store::verify(conn)?;
        write_tx(conn, |conn| {
            let entry = admin
                .audit(&rid, Action::AuditVerify)
                .details(json!({"ok": result.ok, "entries": result.entries, "first_bad_seq": result.first_bad_seq}));
            store::record(conn, entry)?;
            Ok::<_, AppError>(())
        })?;
        Ok(result)
    })
    .await?;
    Ok(HttpResponse::Ok().json(result))
}
