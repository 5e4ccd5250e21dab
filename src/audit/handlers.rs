//! `GET /api/v1/audit` and `GET /api/v1/audit/verify` (admins only).

use actix_web::{web, HttpRequest, HttpResponse};
use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Deserialize;
use serde_json::json;

use super::{record, verify as verify_chain, Entry, NewEntry};
use crate::auth::Admin;
use crate::db::schema::audit_log;
use crate::db::{self, write_tx, DbConn, Id};
use crate::db_run;
use crate::error::{AppError, FieldError};
use crate::http::{self, cursor, Page, RequestId};
use crate::state::AppState;

#[derive(Deserialize)]
pub struct ListQuery {
    actor_id: Option<String>,
    action: Option<String>,
    target_id: Option<String>,
    from: Option<String>,
    to: Option<String>,
    cursor: Option<String>,
    limit: Option<String>,
}

#[derive(Debug, Default)]
pub struct Filter {
    pub actor_id: Option<Id>,
    pub action: Option<String>,
    pub target_id: Option<String>,
    pub from: Option<NaiveDateTime>,
    pub to: Option<NaiveDateTime>,
    /// Newest first: entries with `seq` below this one.
    pub before_seq: Option<i64>,
    pub limit: i64,
}

impl Filter {
    fn parse(query: ListQuery) -> Result<Filter, AppError> {
        let mut errors = Vec::new();
        let mut filter = Filter::default();
        match cursor::limit(query.limit.as_deref()) {
            Ok(limit) => filter.limit = limit,
            Err(message) => errors.push(FieldError::new("limit", message)),
        }
        if let Some(text) = query.actor_id {
            match text.parse::<Id>() {
                Ok(id) => filter.actor_id = Some(id),
                Err(_) => errors.push(FieldError::new("actor_id", "must be a UUID")),
            }
        }
        if let Some(action) = query.action {
            if action.is_empty()
                || action.len() > 64
                || !action.chars().all(|c| c.is_ascii_lowercase() || c == '.' || c == '_')
            {
                errors.push(FieldError::new("action", "must be an action name such as auth.login"));
            } else {
                filter.action = Some(action);
            }
        }
        if let Some(target) = query.target_id {
            if target.is_empty() || target.chars().count() > 64 {
                errors.push(FieldError::new("target_id", "must be 1 to 64 characters"));
            } else {
                filter.target_id = Some(target);
            }
        }
        for (name, raw, slot) in [("from", query.from, &mut filter.from), ("to", query.to, &mut filter.to)] {
            if let Some(text) = raw {
                match crate::time::parse(&text) {
                    Some(at) => *slot = Some(at),
                    None => errors.push(FieldError::new(name, "must be an RFC 3339 timestamp")),
                }
            }
        }
        if let Some(text) = query.cursor {
            match cursor::decode::<i64>(&text) {
                Some(seq) => filter.before_seq = Some(seq),
                None => errors.push(FieldError::new("cursor", "is not a cursor this service issued")),
            }
        }
        if errors.is_empty() {
            Ok(filter)
        } else {
            Err(AppError::Validation(errors))
        }
    }
}

/// Entries newest first, one more than `limit` to tell whether a next page exists.
pub fn query(conn: &mut DbConn, filter: &Filter) -> QueryResult<Vec<Entry>> {
    db_run!(conn: {
        let mut q = audit_log::table.select(Entry::as_select()).into_boxed();
        if let Some(actor) = filter.actor_id {
            q = q.filter(audit_log::actor_id.eq(actor));
        }
        if let Some(action) = &filter.action {
            q = q.filter(audit_log::action.eq(action.clone()));
        }
        if let Some(target) = &filter.target_id {
            q = q.filter(audit_log::target_id.eq(target.clone()));
        }
        if let Some(from) = filter.from {
            q = q.filter(audit_log::at.ge(from));
        }
        if let Some(to) = filter.to {
            q = q.filter(audit_log::at.lt(to));
        }
        if let Some(seq) = filter.before_seq {
            q = q.filter(audit_log::seq.lt(seq));
        }
        q.order(audit_log::seq.desc()).limit(filter.limit + 1).load(conn)
    })
}

pub async fn list(state: web::Data<AppState>, _: Admin, req: HttpRequest) -> Result<HttpResponse, AppError> {
    let filter = Filter::parse(http::query(&req)?)?;
    let limit = filter.limit;
    let entries = db::run(&state.pool, move |conn| Ok(query(conn, &filter)?)).await?;
    let (entries, next_cursor) = cursor::paginate(entries, limit, |e| e.seq);
    Ok(HttpResponse::Ok().json(Page { items: entries, next_cursor }))
}

pub async fn verify(state: web::Data<AppState>, Admin(admin): Admin, rid: RequestId) -> Result<HttpResponse, AppError> {
    let result = db::run(&state.pool, move |conn| {
        let result = verify_chain(conn)?;
        write_tx(conn, |conn| {
            let entry = NewEntry::new(admin.actor(), "audit.verify")
                .details(json!({"ok": result.ok, "entries": result.entries, "first_bad_seq": result.first_bad_seq}))
                .request(Some(&rid.0));
            record(conn, entry)?;
            Ok::<_, AppError>(())
        })?;
        Ok(result)
    })
    .await?;
    Ok(HttpResponse::Ok().json(result))
}
