//! `/api/v1/reports/{id}/notes`: internal notes (SPEC §5). Caseworkers only; encrypted at rest
//! under the report's data key; never shown to the reporter. Every read is audited.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;
use serde_json::json;

use super::handlers::load_for;
use super::{rules, store, ReportRow};
use crate::audit::{self, NewEntry};
use crate::auth::{Caller, Caseworker};
use crate::db::schema::report_notes;
use crate::db::{self, write_tx, DbConn, Id};
use crate::db_run;
use crate::error::AppError;
use crate::http::body::{Form, JsonBody};
use crate::http::cursor;
use crate::http::{self, RequestId};
use crate::state::AppState;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = report_notes)]
pub struct NoteRow {
    pub id: Id,
    pub report_id: Id,
    pub author_id: Id,
    /// Ciphertext.
    pub body: String,
    pub created_at: NaiveDateTime,
}

#[derive(Serialize)]
pub struct Note {
    pub id: Id,
    pub author_id: Id,
    pub body: String,
    #[serde(with = "crate::time::rfc3339")]
    pub created_at: NaiveDateTime,
}

#[derive(Serialize)]
pub struct Notes {
    pub items: Vec<Note>,
    pub next_cursor: Option<String>,
}

/// Adds a note inside the caller's transaction (also used when a report is reopened).
pub fn add(
    state: &AppState,
    conn: &mut DbConn,
    report: &ReportRow,
    author: Id,
    text: &str,
) -> Result<NoteRow, AppError> {
    let stored = store::key(conn, report.id)?.ok_or_else(|| AppError::internal("report key missing"))?;
    let key = state.keyring.unwrap(report.id, &stored.wrapped_key()).map_err(|_| AppError::internal("report key"))?;
    let id = Id::new();
    let row = NoteRow {
        id,
        report_id: report.id,
        author_id: author,
        body: key.seal("report_notes", "body", id, text),
        created_at: db::now(),
    };
    db_run!(conn: { diesel::insert_into(report_notes::table).values(&row).execute(conn) })?;
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
    let (items, next_cursor) = db::run(&state.pool, move |conn| {
        write_tx(conn, |conn| {
            let caller = Caller::User(user.clone());
            let (report, key) = load_for(&state2, conn, &caller, id)?;
            let rows: Vec<NoteRow> = db_run!(conn: {
                let mut query = report_notes::table.filter(report_notes::report_id.eq(report.id)).into_boxed();
                if let Some((at, id)) = after {
                    query = query.filter(report_notes::created_at.gt(at).or(report_notes::created_at.eq(at).and(report_notes::id.gt(id))));
                }
                query
                    .order((report_notes::created_at.asc(), report_notes::id.asc()))
                    .limit(limit + 1)
                    .select(NoteRow::as_select())
                    .load(conn)
            })?;
            let (rows, next_cursor) = cursor::paginate(rows, limit, |r| (r.created_at, r.id));
            let mut items = Vec::with_capacity(rows.len());
            for row in rows {
                let body = key
                    .open("report_notes", "body", row.id, &row.body)
                    .map_err(|_| AppError::internal("decryption"))?;
                items.push(Note { id: row.id, author_id: row.author_id, body, created_at: row.created_at });
            }
            let entry = NewEntry::new(user.actor(), "note.read")
                .target("report", report.id)
                .details(json!({"notes": items.len()}))
                .request(Some(&rid.0));
            audit::record(conn, entry)?;
            Ok::<_, AppError>((items, next_cursor))
        })
    })
    .await?;
    Ok(HttpResponse::Ok().json(Notes { items, next_cursor }))
}

pub async fn create(
    state: web::Data<AppState>,
    Caseworker(user): Caseworker,
    rid: RequestId,
    id: web::Path<String>,
    body: JsonBody,
) -> Result<HttpResponse, AppError> {
    let id = http::path_id(&id)?;
    let mut form = Form::read(body).await?;
    let text = form.string("body");
    if let Some(text) = &text {
        form.check("body", rules::message_body(text));
    }
    form.finish()?;
    let text = text.ok_or_else(|| AppError::internal("validated body missing"))?;
    let state2 = state.clone();
    let note = db::run(&state.pool, move |conn| {
        write_tx(conn, |conn| {
            let report = store::find(conn, id)?.ok_or(AppError::NotFound)?;
            let row = add(&state2, conn, &report, user.id(), &text)?;
            let entry = NewEntry::new(user.actor(), "note.create")
                .target("report", report.id)
                .details(json!({"note_id": row.id}))
                .request(Some(&rid.0));
            audit::record(conn, entry)?;
            Ok::<_, AppError>(Note { id: row.id, author_id: row.author_id, body: text, created_at: row.created_at })
        })
    })
    .await?;
    Ok(HttpResponse::Created().insert_header((header::LOCATION, format!("/api/v1/reports/{id}/notes"))).json(note))
}
