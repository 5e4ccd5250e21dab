//! `/api/v1/reports/{id}/messages`: one thread between the reporter (account or receipt) and
//! caseworkers. Bodies are encrypted under the report's data key; internal notes never appear.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::NaiveDateTime;
use serde::Serialize;
use serde_json::json;

use super::access::{load_for, load_for_write, side_of, Side};
use super::{rules, store, view, MessageRow};
use crate::audit::{self, Action};
use crate::auth::Caller;
use crate::db::{self, write_tx, Id};
use crate::error::AppError;
use crate::http::body::{Form, JsonBody};
use crate::http::cursor;
use crate::http::{self, Page, RequestId};
use crate::state::AppState;

#[derive(Serialize)]
pub struct Message {
    pub id: Id,
    /// `reporter` or `caseworker`; which caseworker is not shown to the reporter.
    pub author: String,
    pub body: String,
    #[serde(with = "crate::time::rfc3339")]
    pub created_at: NaiveDateTime,
}

/// The `{body}` of a message or a note (1..=20000 characters).
pub(super) async fn read_body(body: JsonBody) -> Result<String, AppError> {
    read_message(Form::read(body).await?)
}

/// The `{body}` of a message, from a form already read (the API's JSON or a page's fields).
pub fn read_message(mut form: Form) -> Result<String, AppError> {
    let text = form.parsed("body", |text| rules::message_body(text).map(|_| text.to_string()));
    form.finish_with(text)
}

pub async fn list(
    state: web::Data<AppState>,
    caller: Caller,
    rid: RequestId,
    id: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, AppError> {
    side_of(&caller)?;
    let id = http::path_id(&id)?;
    let (limit, after) = cursor::page::<(NaiveDateTime, Id)>(&req)?;
    let state2 = state.clone();
    let page = db::run(&state.pool, move |conn| {
        write_tx(conn, |conn| {
            let (report, key) = load_for(&state2, conn, &caller, id)?;
            let rows = store::messages(conn, report.id, after, limit)?;
            let (rows, next_cursor) = cursor::paginate(rows, limit, |r| (r.created_at, r.id));
            let items = rows
                .into_iter()
                .map(|row| {
                    let body = view::open(&key, "report_messages", "body", row.id, &row.body)?;
                    Ok(Message { id: row.id, author: row.author_role, body, created_at: row.created_at })
                })
                .collect::<Result<Vec<_>, AppError>>()?;
            let entry = caller
                .audit(&rid, Action::MessageRead)
                .target("report", report.id)
                .details(json!({"messages": items.len()}));
            audit::record(conn, entry)?;
            Ok::<_, AppError>(Page { items, next_cursor })
        })
    })
    .await?;
    Ok(HttpResponse::Ok().json(page))
}

pub async fn create(
    state: web::Data<AppState>,
    caller: Caller,
    rid: RequestId,
    id: web::Path<String>,
    body: JsonBody,
) -> Result<HttpResponse, AppError> {
    let side = side_of(&caller)?;
    let id = http::path_id(&id)?;
    let text = read_body(body).await?;
    let message = add(&state, caller, side, rid, id, text).await?;
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, format!("/api/v1/reports/{id}/messages")))
        .json(message))
}

/// The one way a message joins a thread, shared by the API and the reporter's follow-up page:
/// written under the report's data key with its audit entry in one transaction.
pub async fn add(
    state: &web::Data<AppState>,
    caller: Caller,
    side: Side,
    rid: RequestId,
    id: Id,
    text: String,
) -> Result<Message, AppError> {
    let state2 = state.clone();
    db::run(&state.pool, move |conn| {
        write_tx(conn, |conn| {
            let (report, key) = load_for_write(&state2, conn, &caller, id)?;
            let author_role = match side {
                Side::Reporter => "reporter",
                Side::Staff => "caseworker",
            };
            // Which caseworker wrote is kept; which account a reporter is, never (SPEC §14.2).
            let author_id = match (&caller, side) {
                (Caller::User(user), Side::Staff) => Some(user.id()),
                _ => None,
            };
            let message_id = Id::new();
            let row = MessageRow {
                id: message_id,
                report_id: report.id,
                author_role: author_role.to_string(),
                author_id,
                body: key.seal("report_messages", "body", message_id, &text),
                created_at: db::now(),
            };
            store::insert_message(conn, &row)?;
            store::touch(conn, report.id, row.created_at)?;
            let entry = caller
                .audit(&rid, Action::MessageCreate)
                .target("report", report.id)
                .details(json!({"message_id": row.id, "author": author_role}));
            audit::record(conn, entry)?;
            Ok::<_, AppError>(Message { id: row.id, author: row.author_role, body: text, created_at: row.created_at })
        })
    })
    .await
}
