//! `/api/v1/reports/{id}/messages`: one thread between the reporter (account or receipt) and
//! caseworkers. Bodies are encrypted under the report's data key; internal notes never appear.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;
use serde_json::json;

use super::handlers::{load_for, side_of, Side};
use super::{rules, store, MessageRow};
use crate::audit::{self, NewEntry};
use crate::auth::Caller;
use crate::db::schema::report_messages;
use crate::db::{self, write_tx, Id};
use crate::db_run;
use crate::error::AppError;
use crate::http::body::{Form, JsonBody};
use crate::http::cursor;
use crate::http::{self, RequestId};
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

#[derive(Serialize)]
pub struct Thread {
    pub items: Vec<Message>,
    pub next_cursor: Option<String>,
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
    let (items, next_cursor) = db::run(&state.pool, move |conn| {
        write_tx(conn, |conn| {
            let (report, key) = load_for(&state2, conn, &caller, id)?;
            let rows: Vec<MessageRow> = db_run!(conn: {
                let mut query = report_messages::table.filter(report_messages::report_id.eq(report.id)).into_boxed();
                if let Some((at, id)) = after {
                    query = query.filter(report_messages::created_at.gt(at).or(report_messages::created_at.eq(at).and(report_messages::id.gt(id))));
                }
                query
                    .order((report_messages::created_at.asc(), report_messages::id.asc()))
                    .limit(limit + 1)
                    .select(MessageRow::as_select())
                    .load(conn)
            })?;
            let (rows, next_cursor) = cursor::paginate(rows, limit, |r| (r.created_at, r.id));
            let mut items = Vec::with_capacity(rows.len());
            for row in rows {
                let body = key
                    .open("report_messages", "body", row.id, &row.body)
                    .map_err(|_| AppError::internal("decryption"))?;
                items.push(Message { id: row.id, author: row.author_role, body, created_at: row.created_at });
            }
            let entry = NewEntry::new(caller.actor(), "message.read")
                .target("report", report.id)
                .details(json!({"messages": items.len()}))
                .request(Some(&rid.0));
            audit::record(conn, entry)?;
            Ok::<_, AppError>((items, next_cursor))
        })
    })
    .await?;
    Ok(HttpResponse::Ok().json(Thread { items, next_cursor }))
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
    let mut form = Form::read(body).await?;
    let text = form.string("body");
    if let Some(text) = &text {
        form.check("body", rules::message_body(text));
    }
    form.finish()?;
    let text = text.ok_or_else(|| AppError::internal("validated body missing"))?;
    let state2 = state.clone();
    let message = db::run(&state.pool, move |conn| {
        write_tx(conn, |conn| {
            let (report, key) = load_for(&state2, conn, &caller, id)?;
            let author_role = match side {
                Side::Reporter => "reporter",
                Side::Staff => "caseworker",
            };
            let author_id = match &caller {
                Caller::User(user) => Some(user.id()),
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
            db_run!(conn: { diesel::insert_into(report_messages::table).values(&row).execute(conn) })?;
            store::touch(conn, report.id, row.created_at)?;
            let entry = NewEntry::new(caller.actor(), "message.create")
                .target("report", report.id)
                .details(json!({"message_id": row.id, "author": author_role}))
                .request(Some(&rid.0));
            audit::record(conn, entry)?;
            Ok::<_, AppError>(Message { id: row.id, author: row.author_role, body: text, created_at: row.created_at })
        })
    })
    .await?;
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, format!("/api/v1/reports/{id}/messages")))
        .json(message))
}
