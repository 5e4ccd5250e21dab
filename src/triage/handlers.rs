//! `PATCH /api/v1/reports/{id}`: triage with optimistic concurrency (SPEC §5). Caseworkers may
//! change status, resolution, priority, assignee and tags; admins only the assignee.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use diesel::prelude::*;
use serde_json::{json, Value};

use super::rules::{self, StatusChange, TransitionError};
use super::{items, set_tags, tags};
use crate::audit::{self, NewEntry};
use crate::auth::Staff;
use crate::db::schema::reports;
use crate::db::{self, write_tx, DbConn, Id};
use crate::db_run;
use crate::error::AppError;
use crate::http::body::{one_of, Form, JsonBody};
use crate::http::{self, RequestId};
use crate::reports::{notes, store};
use crate::state::AppState;
use crate::users::Role;

/// A triage request, validated field by field.
#[derive(Debug, Default)]
pub struct Triage {
    pub status: Option<String>,
    pub resolution: Option<String>,
    pub duplicate_of: Option<Id>,
    pub reason: Option<String>,
    pub priority: Option<String>,
    /// `Some(None)` unassigns.
    pub assignee_id: Option<Option<Id>>,
    pub tags: Option<Vec<String>>,
}

impl Triage {
    fn read(form: &mut Form) -> Triage {
        let status = form.opt_string("status");
        let resolution = form.opt_string("resolution");
        let duplicate_of = form.opt_string("duplicate_of");
        let reason = form.opt_string("reason");
        let priority = form.opt_string("priority");
        let assignee = form.opt_nullable_string("assignee_id");
        let tag_list = form.opt_strings("tags");
        Triage {
            status: status.and_then(|v| {
                form.check("status", one_of(v, &rules::STATUSES, "must be new, triaged, investigating or closed"))
            }),
            resolution: resolution.and_then(|v| {
                let message = "must be substantiated, unsubstantiated, duplicate, referred or withdrawn";
                form.check("resolution", one_of(v, &rules::RESOLUTIONS, message))
            }),
            duplicate_of: duplicate_of
                .and_then(|v| form.check("duplicate_of", http::path_id(&v).map_err(|_| "must be a report's UUID"))),
            reason: reason.and_then(|v| {
                form.check("reason", crate::reports::rules::required_text(&v, rules::REASON_MAX).map(|_| v))
            }),
            priority: priority.and_then(|v| {
                form.check("priority", one_of(v, &rules::PRIORITIES, "must be low, normal, high or urgent"))
            }),
            assignee_id: assignee.map(|a| {
                a.and_then(|v| {
                    form.check("assignee_id", http::path_id(&v).map_err(|_| "must be a user's UUID or null"))
                })
            }),
            tags: tag_list.map(|list| read_tags(form, &list)),
        }
    }

    fn is_empty(&self) -> bool {
        self.status.is_none()
            && self.resolution.is_none()
            && self.duplicate_of.is_none()
            && self.reason.is_none()
            && self.priority.is_none()
            && self.assignee_id.is_none()
            && self.tags.is_none()
    }

    fn only_assignee(&self) -> bool {
        self.assignee_id.is_some()
            && self.status.is_none()
            && self.resolution.is_none()
            && self.duplicate_of.is_none()
            && self.reason.is_none()
            && self.priority.is_none()
            && self.tags.is_none()
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
    let mut form = Form::read(body).await?;
    let triage = Triage::read(&mut form);
    form.finish()?;
    if triage.is_empty() {
        return Err(AppError::invalid("", "send at least one of status, priority, assignee_id, tags"));
    }
    if user.role == Role::Admin && !triage.only_assignee() {
        return Err(AppError::Refused("Admins may change only the assignee of a report."));
    }
    let expected_version = http::if_match(&req)?;
    let state2 = state.clone();
    let item = db::run(&state.pool, move |conn| {
        write_tx(conn, |conn| {
            let mut report = store::find(conn, id)?.ok_or(AppError::NotFound)?;
            if report.version != expected_version {
                return Err(AppError::PreconditionFailed);
            }
            let mut changes: Vec<Value> = Vec::new();
            let mut change = |field: &str, old: Value, new: Value| {
                if old != new {
                    changes.push(json!({"field": field, "old": old, "new": new}));
                }
            };

            let to = triage.status.clone().unwrap_or_else(|| report.status.clone());
            let status_change = StatusChange {
                from: &report.status,
                to: &to,
                resolution: triage.resolution.as_deref(),
                has_duplicate_of: triage.duplicate_of.is_some(),
                reason: triage.reason.as_deref(),
            };
            rules::check_transition(&status_change).map_err(|err| match err {
                TransitionError::NotAllowed { from, allowed } => AppError::Transition { from, allowed },
                TransitionError::Invalid { field, message } => AppError::invalid(field, message),
            })?;
            if let Some(original) = triage.duplicate_of {
                if original == report.id || store::find(conn, original)?.is_none() {
                    return Err(AppError::invalid("duplicate_of", "must be another existing report"));
                }
            }
            if to != report.status {
                change("status", json!(report.status), json!(to));
                let reopening = report.status == "closed";
                let (resolution, duplicate_of) =
                    if reopening { (None, None) } else { (triage.resolution.clone(), triage.duplicate_of) };
                change("resolution", json!(report.resolution), json!(resolution));
                change("duplicate_of", json!(report.duplicate_of), json!(duplicate_of));
                report.status = to;
                report.resolution = resolution;
                report.duplicate_of = duplicate_of;
                if let (true, Some(reason)) = (reopening, &triage.reason) {
                    // The reason is the caseworker's own words: kept as an encrypted internal
                    // note, not in the audit trail.
                    notes::add(&state2, conn, &report, user.id(), &format!("Reopened: {reason}"))?;
                }
            }
            if let Some(priority) = &triage.priority {
                change("priority", json!(report.priority), json!(priority));
                report.priority_rank = rules::priority_rank(priority).unwrap_or(1);
                report.priority = priority.clone();
            }
            if let Some(assignee) = triage.assignee_id {
                if let Some(assignee) = assignee {
                    if !crate::users::store::is_active_caseworker(conn, assignee)? {
                        return Err(AppError::invalid("assignee_id", "must be an active caseworker"));
                    }
                }
                change("assignee_id", json!(report.assignee_id), json!(assignee));
                report.assignee_id = assignee;
            }
            if let Some(new_tags) = &triage.tags {
                let old_tags = tags(conn, report.id)?;
                if old_tags != *new_tags {
                    change("tags", json!(old_tags), json!(new_tags));
                    set_tags(conn, report.id, new_tags)?;
                }
            }
            if !changes.is_empty() {
                report.version += 1;
                report.updated_at = db::now();
                save(conn, &report)?;
                let entry = NewEntry::new(user.actor(), "report.triage")
                    .target("report", report.id)
                    .details(json!({"changes": changes}))
                    .request(Some(&rid.0));
                audit::record(conn, entry)?;
            }
            let mut page = items(conn, std::slice::from_ref(&report))?;
            page.pop().ok_or_else(|| AppError::internal("triaged report vanished"))
        })
    })
    .await?;
    Ok(HttpResponse::Ok().insert_header((header::ETAG, http::etag(item.version))).json(item))
}

fn save(conn: &mut DbConn, r: &crate::reports::ReportRow) -> QueryResult<()> {
    db_run!(conn: {
        diesel::update(reports::table.find(r.id))
            .set((
                reports::status.eq(&r.status),
                reports::resolution.eq(&r.resolution),
                reports::duplicate_of.eq(r.duplicate_of),
                reports::priority.eq(&r.priority),
                reports::priority_rank.eq(r.priority_rank),
                reports::assignee_id.eq(r.assignee_id),
                reports::version.eq(r.version),
                reports::updated_at.eq(r.updated_at),
            ))
            .execute(conn)
    })
    .map(|_| ())
}
