//! `/api/v1/reports/{id}/notes`: internal notes (SPEC §5). Caseworkers only; encrypted at rest
//! under the report's data key; never shown to the reporter. Every read is audited.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::NaiveDateTime;
use serde::Serialize;
use serde_json::json;

use super::access::load_for;
use super::messages::read_body;
use super::{store, view, NoteRow};
use crate::audit::{self, Action};
use crate::auth::{Caller, Caseworker};
use crate::db::{self, write_tx, DbConn, Id};
use crate::error::AppError;
use crate::http::body::JsonBody;
use crate::http::cursor;
use crate::http::{self, Page, RequestId};
use crate::state::AppState;

#[derive(Serialize)]
pub struct Note {
    pub id: Id,
    pub author_id: Id,
    pub body: String,
    #[serde(with = "crate::time::rfc3339")]
    pub created_at: NaiveDateTime,
}

/// Adds a note inside the caller's transaction (also used when a report is reopened).
pub fn add(state: &AppState, conn: &mut DbConn, report_id: Id, author: Id, text: &str) -> Result<NoteRow, AppError> {
    let stored = store::key(conn, report_id)?.ok_or_else(|| AppError::internal("report key missing"))?;
    let key = state.keyring.unwrap(report_id, &stored.wrapped_key()).map_err(|_| AppError::internal("report key"))?;
    let id = Id::new();
    let row = NoteRow {
        id,
        report_id,
        author_id: author,
        body: key.seal("report_notes", "body", id, text),
        created_at: db::now(),
    };
    store::insert_note(conn, &row)?;
    Ok(row)
}

pub async fn list(
    state: web::Data<AppState>,
    Caseworker(user): Caseworker,
    rid: RequestId,
    id: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, AppError> {
    let id = http::path_id(&id)?;
    let (limit, after) = cursor::page::<(NaiveDateTime, Id)>(&req)?;
    let state2 = state.clone();
    let page = db::run(&state.pool, move |conn| {
        write_tx(conn, |conn| {
            let caller = Caller::User(user.clone());
            let (report, key) = load_for(&state2, conn, &caller, id)?;
            let rows = store::notes(conn, report.id, after, limit)?;
            let (rows, next_cursor) = cursor::paginate(rows, limit, |r| (r.created_at, r.id));
            let items = rows
                .into_iter()
                .map(|row| {
                    let body = view::open(&key, "report_notes", "body", row.id, &row.body)?;
                    Ok(Note { id: row.id, author_id: row.author_id, body, created_at: row.created_at })
                })
                .collect::<Result<Vec<_>, AppError>>()?;
            let entry =
                user.audit(&rid, Action::NoteRead).target("report", report.id).details(json!({"notes": items.len()}));
            audit::record(conn, entry)?;
            Ok::<_, AppError>(Page { items, next_cursor })
        })
    })
    .await?;
    Ok(HttpResponse::Ok().json(page))
}

pub async fn create(
    state: web::Data<AppState>,
    Caseworker(user): Caseworker,
    rid: RequestId,
    id: web::Path<String>,
    body: JsonBody,
) -> Result<HttpResponse, AppError> {
    let id = http::path_id(&id)?;
    let text = read_body(body).await?;
    let state2 = state.clone();
    let note = db::run(&state.pool, move |conn| {
        write_tx(conn, |conn| {
            let report = store::find_locked(conn, id)?.ok_or(AppError::NotFound)?;
            if report.shredded_at.is_some() {
                return Err(AppError::Gone);
            }
            let row = add(&state2, conn, report.id, user.id(), &text)?;
            let entry =
                user.audit(&rid, Action::NoteCreate).target("report", report.id).details(json!({"note_id": row.id}));
            audit::record(conn, entry)?;
            Ok::<_, AppError>(Note { id: row.id, author_id: row.author_id, body: text, created_at: row.created_at })
        })
    })
    .await?;
    Ok(HttpResponse::Created().insert_header((header::LOCATION, format!("/api/v1/reports/{id}/notes"))).json(note))
}
