//! `GET /api/v1/reports` (the staff queue) and `PATCH /api/v1/reports/{id}` (triage with
//! optimistic concurrency, SPEC §5). Caseworkers may change status, resolution, priority,
//! assignee and tags; admins only the assignee.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::json;

use super::queue::{Filter, Position};
use super::rules::{self, Triage};
use super::{store, QueueItem};
use crate::audit::{self, Action};
use crate::auth::Staff;
use crate::db::versioned::{self, Expect, Versioned};
use crate::db::{self, write_tx, Id};
use crate::error::AppError;
use crate::http::body::{edit, Form, JsonBody};
use crate::http::{self, cursor, Page, RequestId};
use crate::reports::{notes, Priority, Resolution, Status};
use crate::state::AppState;
use crate::users::Role;

pub async fn queue(state: web::Data<AppState>, Staff(user): Staff, req: HttpRequest) -> Result<HttpResponse, AppError> {
    let filter = Filter::parse(http::query(&req)?, user.id(), &state.retention, db::now())?;
    let page = db::run(&state.pool, move |conn| {
        let (rows, next_cursor) = cursor::paginate(store::queue(conn, &filter)?, filter.limit, |r| Position {
            sort: filter.sort,
            descending: filter.descending,
            rank: r.priority_rank,
            created_at: r.created_at,
            id: r.id,
        });
        Ok(Page::<QueueItem> { items: store::items(conn, &rows)?, next_cursor })
    })
    .await?;
    Ok(HttpResponse::Ok().json(page))
}

fn report_id(text: &str) -> Result<Id, &'static str> {
    http::path_id(text).map_err(|_| "must be a report's UUID")
}

fn user_id(text: &str) -> Result<Id, &'static str> {
    http::path_id(text).map_err(|_| "must be a user's UUID or null")
}

/// Reads a triage request; every problem is collected in `form`.
fn read(form: &mut Form) -> Triage {
    Triage {
        status: form.opt_parsed("status", Status::read),
        resolution: form.opt_parsed("resolution", Resolution::read),
        duplicate_of: form.opt_parsed("duplicate_of", report_id),
        reason: form
            .opt_parsed("reason", |v| crate::fields::required_text(v, rules::REASON_MAX).map(|_| v.to_string())),
        priority: form.opt_parsed("priority", Priority::read),
        assignee_id: form.opt_nullable_parsed("assignee_id", user_id),
        tags: form.opt_strings("tags").map(|list| read_tags(form, &list)),
    }
}

/// Tags, normalised, without duplicates, sorted.
fn read_tags(form: &mut Form, list: &[String]) -> Vec<String> {
    let mut clean: Vec<String> = Vec::new();
    for (i, raw) in list.iter().enumerate() {
        if let Some(tag) = form.check(&format!("tags[{i}]"), rules::tag(raw)) {
            if !clean.contains(&tag) {
                clean.push(tag);
            }
        }
    }
    if clean.len() > rules::TAGS_MAX {
        form.error("tags", "may hold at most 20 tags");
    }
    clean.sort();
    clean
}

pub async fn update(
    state: web::Data<AppState>,
    Staff(user): Staff,
    rid: RequestId,
    req: HttpRequest,
    id: web::Path<String>,
    body: JsonBody,
) -> Result<HttpResponse, AppError> {
    let id = http::path_id(&id)?;
    let triage = edit(body, read, "send at least one of status, priority, assignee_id, tags").await?;
    if user.role == Role::Admin && !triage.only_assignee() {
        return Err(AppError::Refused("Admins may change only the assignee of a report."));
    }
    let expect = Expect::Version(http::if_match(&req)?);
    let state2 = state.clone();
    let item = db::run(&state.pool, move |conn| {
        write_tx(conn, |conn| {
            let report = crate::reports::store::find(conn, id)?.ok_or(AppError::NotFound)?;
            // A stale ETag is answered before the request is judged against a state the client
            // has not seen; the claim below is what makes it safe.
            versioned::unchanged(report.version, expect)?;
            if report.shredded_at.is_some() {
                return Err(AppError::Gone);
            }
            let current = store::state(conn, &report)?;
            let outcome = rules::apply(&current, &triage)?;
            if let Some(original) = triage.duplicate_of {
                if original == report.id || crate::reports::store::find(conn, original)?.is_none() {
                    return Err(AppError::invalid("duplicate_of", "must be another existing report"));
                }
            }
            if let Some(Some(assignee)) = triage.assignee_id {
                if !crate::users::store::is_active_caseworker(conn, assignee)? {
                    return Err(AppError::invalid("assignee_id", "must be an active caseworker"));
                }
            }
            if !outcome.changes.is_empty() {
                let now = db::now();
                versioned::claim(conn, Versioned::Report, id, expect, now)?;
                store::save(conn, id, &current, &outcome.state, now)?;
                if let Some(reason) = &outcome.reopened_because {
                    // The reason is the caseworker's own words: kept as an encrypted internal
                    // note, not in the audit trail.
                    notes::add(&state2, conn, id, user.id(), &format!("Reopened: {reason}"))?;
                }
                audit::record(
                    conn,
                    user.audit(&rid, Action::ReportTriage)
                        .target("report", id)
                        .details(json!({"changes": outcome.changes})),
                )?;
            }
            let report = crate::reports::store::find(conn, id)?.ok_or(AppError::NotFound)?;
            let mut page = store::items(conn, std::slice::from_ref(&report))?;
            page.pop().ok_or(AppError::NotFound)
        })
    })
    .await?;
    Ok(HttpResponse::Ok().insert_header((header::ETAG, http::etag(item.version))).json(item))
}
