//! `/api/v1/cases`: caseworkers create and edit cases, put reports in them and link stations;
//! admins read case metadata (SPEC §2.1).

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::rules::{self, CaseFields};
use super::{store, CaseRow, CaseView, LinkRow, LinkView};
use crate::audit::{self, NewEntry};
use crate::auth::{Caseworker, CurrentUser, Staff};
use crate::db::{self, write_tx, DbConn, Id};
use crate::error::{AppError, FieldError};
use crate::http::body::{one_of, Form, JsonBody};
use crate::http::{self, cursor, Page, RequestId};
use crate::state::AppState;
use crate::triage::QueueItem;
use crate::users::Role;

/// The case view: the case, its reports (metadata) and its stations.
#[derive(Serialize)]
pub struct CaseDetail {
    #[serde(flatten)]
    pub case: CaseView,
    pub reports: Vec<QueueItem>,
    pub stations: Vec<LinkView>,
}

fn detail(conn: &mut DbConn, row: &CaseRow, viewer: &CurrentUser) -> Result<CaseDetail, AppError> {
    let caseworker = viewer.role == Role::Caseworker;
    let reports = store::reports_of(conn, row.id)?;
    let mut stations = store::links_of(conn, row.id)?;
    if !caseworker {
        stations.iter_mut().for_each(|l| l.note = None);
    }
    Ok(CaseDetail { case: CaseView::new(row, caseworker), reports: crate::triage::items(conn, &reports)?, stations })
}

fn respond(status: actix_web::http::StatusCode, detail: CaseDetail) -> HttpResponse {
    HttpResponse::build(status).insert_header((header::ETAG, http::etag(detail.case.version))).json(detail)
}

fn check_assignee(conn: &mut DbConn, assignee: Option<Option<Id>>) -> Result<(), AppError> {
    if let Some(Some(id)) = assignee {
        if !crate::users::store::is_active_caseworker(conn, id)? {
            return Err(AppError::invalid("assignee_id", "must be an active caseworker"));
        }
    }
    Ok(())
}

/// `field` names the report in the request, for the error.
fn attach(conn: &mut DbConn, case: &CaseRow, report: Id, at: NaiveDateTime, field: &str) -> Result<(), AppError> {
    if crate::reports::store::find(conn, report)?.is_none() {
        return Err(AppError::invalid(field, "is not a report"));
    }
    if !store::attach(conn, case.id, report, at)? {
        return Err(AppError::Conflict("The report already belongs to a case; remove it there first.".into()));
    }
    Ok(())
}

pub async fn create(
    state: web::Data<AppState>,
    Caseworker(user): Caseworker,
    rid: RequestId,
    body: JsonBody,
) -> Result<HttpResponse, AppError> {
    let mut form = Form::read(body).await?;
    let fields = rules::read(&mut form, false);
    let report_ids = form.opt_strings("report_ids").unwrap_or_default();
    let mut ids = Vec::new();
    for (i, raw) in report_ids.iter().enumerate() {
        if let Some(id) =
            form.check(&format!("report_ids[{i}]"), http::path_id(raw).map_err(|_| "must be a report's UUID"))
        {
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
    }
    if ids.len() > rules::REPORTS_MAX {
        form.error("report_ids", "may list at most 100 reports");
    }
    if fields.title.is_none() && !form.has_error("title") {
        form.error("title", "is required");
    }
    form.finish()?;
    let CaseFields { title, summary, priority, assignee_id, .. } = fields;
    let now = db::now();
    let case = db::run(&state.pool, move |conn| {
        write_tx(conn, |conn| {
            check_assignee(conn, assignee_id)?;
            let mut reference = rules::reference();
            while store::reference_taken(conn, &reference)? {
                reference = rules::reference();
            }
            let row = CaseRow {
                id: Id::new(),
                reference,
                title: title.unwrap_or_default(),
                summary: summary.flatten(),
                status: "open".into(),
                priority: priority.unwrap_or_else(|| "normal".into()),
                assignee_id: assignee_id.flatten(),
                created_by: Some(user.id()),
                version: 1,
                created_at: now,
                updated_at: now,
            };
            store::insert(conn, &row)?;
            for (i, report) in ids.iter().enumerate() {
                attach(conn, &row, *report, now, &format!("report_ids[{i}]"))?;
            }
            let entry = NewEntry::new(user.actor(), "case.create")
                .target("case", row.id)
                .details(json!({"reference": row.reference, "report_ids": ids}))
                .request(Some(&rid.0));
            audit::record(conn, entry)?;
            detail(conn, &row, &user)
        })
    })
    .await?;
    let location = format!("/api/v1/cases/{}", case.case.id);
    let mut response = respond(actix_web::http::StatusCode::CREATED, case);
    if let Ok(value) = header::HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    Ok(response)
}

#[derive(Deserialize)]
pub struct ListQuery {
    status: Option<String>,
    assignee: Option<String>,
    station_id: Option<String>,
    cursor: Option<String>,
    limit: Option<String>,
}

pub async fn list(state: web::Data<AppState>, Staff(user): Staff, req: HttpRequest) -> Result<HttpResponse, AppError> {
    let q: ListQuery = http::query(&req)?;
    let mut errors = Vec::new();
    let mut filter = store::Filter {
        limit: cursor::limit(q.limit.as_deref()).map_err(|m| errors.push(FieldError::new("limit", m))).unwrap_or(50),
        ..store::Filter::default()
    };
    if let Some(s) = q.status {
        match one_of(s, &rules::STATUSES, "must be open, monitoring or closed") {
            Ok(s) => filter.status = Some(s),
            Err(m) => errors.push(FieldError::new("status", m)),
        }
    }
    match q.assignee.as_deref() {
        None => {}
        Some("me") => filter.assignee = Some(Some(user.id())),
        Some("none") => filter.assignee = Some(None),
        Some(other) => match http::path_id(other) {
            Ok(id) => filter.assignee = Some(Some(id)),
            Err(_) => errors.push(FieldError::new("assignee", "must be me, none or a user's UUID")),
        },
    }
    if let Some(s) = q.station_id {
        match http::path_id(&s) {
            Ok(id) => filter.station_id = Some(id),
            Err(_) => errors.push(FieldError::new("station_id", "must be a UUID")),
        }
    }
    if let Some(c) = q.cursor {
        match cursor::decode::<(NaiveDateTime, Id)>(&c) {
            Some(p) => filter.before = Some(p),
            None => errors.push(FieldError::new("cursor", "is not a cursor this service issued")),
        }
    }
    if !errors.is_empty() {
        return Err(AppError::Validation(errors));
    }
    let limit = filter.limit;
    let rows = db::run(&state.pool, move |conn| Ok(store::list(conn, &filter)?)).await?;
    let (rows, next_cursor) = cursor::paginate(rows, limit, |r| (r.created_at, r.id));
    let caseworker = user.role == Role::Caseworker;
    let items: Vec<CaseView> = rows.iter().map(|r| CaseView::new(r, caseworker)).collect();
    Ok(HttpResponse::Ok().json(Page { items, next_cursor }))
}

pub async fn get(
    state: web::Data<AppState>,
    Staff(user): Staff,
    id: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let id = http::path_id(&id)?;
    let detail = db::run(&state.pool, move |conn| {
        let row = store::find(conn, id)?.ok_or(AppError::NotFound)?;
        detail(conn, &row, &user)
    })
    .await?;
    Ok(respond(actix_web::http::StatusCode::OK, detail))
}

pub async fn update(
    state: web::Data<AppState>,
    Caseworker(user): Caseworker,
    rid: RequestId,
    req: HttpRequest,
    id: web::Path<String>,
    body: JsonBody,
) -> Result<HttpResponse, AppError> {
    let id = http::path_id(&id)?;
    let mut form = Form::read(body).await?;
    let fields = rules::read(&mut form, true);
    form.finish()?;
    if fields == CaseFields::default() {
        return Err(AppError::invalid("", "send at least one of title, summary, status, priority, assignee_id"));
    }
    let expected = http::if_match(&req)?;
    let detail = db::run(&state.pool, move |conn| {
        write_tx(conn, |conn| {
            let mut row = store::find(conn, id)?.ok_or(AppError::NotFound)?;
            if row.version != expected {
                return Err(AppError::PreconditionFailed);
            }
            check_assignee(conn, fields.assignee_id)?;
            let mut changes: Vec<Value> = Vec::new();
            if let Some(title) = fields.title.filter(|t| *t != row.title) {
                changes.push(json!({"field": "title", "old": row.title, "new": title}));
                row.title = title;
            }
            if let Some(summary) = fields.summary.filter(|s| *s != row.summary) {
                // The summary is the caseworkers' own writing: recorded as changed, not quoted.
                changes.push(json!({"field": "summary"}));
                row.summary = summary;
            }
            if let Some(status) = fields.status.filter(|s| *s != row.status) {
                changes.push(json!({"field": "status", "old": row.status, "new": status}));
                row.status = status;
            }
            if let Some(priority) = fields.priority.filter(|p| *p != row.priority) {
                changes.push(json!({"field": "priority", "old": row.priority, "new": priority}));
                row.priority = priority;
            }
            if let Some(assignee) = fields.assignee_id.filter(|a| *a != row.assignee_id) {
                changes.push(json!({"field": "assignee_id", "old": row.assignee_id, "new": assignee}));
                row.assignee_id = assignee;
            }
            if !changes.is_empty() {
                row.version += 1;
                row.updated_at = db::now();
                store::save(conn, &row)?;
                let entry = NewEntry::new(user.actor(), "case.update")
                    .target("case", row.id)
                    .details(json!({"changes": changes}))
                    .request(Some(&rid.0));
                audit::record(conn, entry)?;
            }
            detail(conn, &row, &user)
        })
    })
    .await?;
    Ok(respond(actix_web::http::StatusCode::OK, detail))
}

/// A change to a case's reports or stations: bumps its version, records `action`.
fn touch(conn: &mut DbConn, row: &mut CaseRow, now: NaiveDateTime) -> Result<(), AppError> {
    row.version += 1;
    row.updated_at = now;
    Ok(store::save(conn, row)?)
}

pub async fn add_report(
    state: web::Data<AppState>,
    Caseworker(user): Caseworker,
    rid: RequestId,
    id: web::Path<String>,
    body: JsonBody,
) -> Result<HttpResponse, AppError> {
    let id = http::path_id(&id)?;
    let mut form = Form::read(body).await?;
    let report = form.string("report_id");
    let report = report.and_then(|r| form.check("report_id", http::path_id(&r).map_err(|_| "must be a report's UUID")));
    form.finish()?;
    let report = report.ok_or_else(|| AppError::internal("validated report_id missing"))?;
    let detail = db::run(&state.pool, move |conn| {
        write_tx(conn, |conn| {
            let mut row = store::find(conn, id)?.ok_or(AppError::NotFound)?;
            let now = db::now();
            attach(conn, &row, report, now, "report_id")?;
            touch(conn, &mut row, now)?;
            let entry = NewEntry::new(user.actor(), "case.add_report")
                .target("case", row.id)
                .details(json!({"report_id": report}))
                .request(Some(&rid.0));
            audit::record(conn, entry)?;
            detail(conn, &row, &user)
        })
    })
    .await?;
    Ok(respond(actix_web::http::StatusCode::OK, detail))
}

pub async fn remove_report(
    state: web::Data<AppState>,
    Caseworker(user): Caseworker,
    rid: RequestId,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, AppError> {
    let (id, report) = path.into_inner();
    let (id, report) = (http::path_id(&id)?, http::path_id(&report)?);
    db::run(&state.pool, move |conn| {
        write_tx(conn, |conn| {
            let mut row = store::find(conn, id)?.ok_or(AppError::NotFound)?;
            let now = db::now();
            if !store::detach(conn, id, report, now)? {
                return Err(AppError::NotFound);
            }
            touch(conn, &mut row, now)?;
            let entry = NewEntry::new(user.actor(), "case.remove_report")
                .target("case", id)
                .details(json!({"report_id": report}))
                .request(Some(&rid.0));
            audit::record(conn, entry)?;
            Ok::<_, AppError>(())
        })
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

pub async fn link_station(
    state: web::Data<AppState>,
    Caseworker(user): Caseworker,
    rid: RequestId,
    id: web::Path<String>,
    body: JsonBody,
) -> Result<HttpResponse, AppError> {
    let id = http::path_id(&id)?;
    let mut form = Form::read(body).await?;
    let station = form.string("station_id");
    let relation = form.string("relation");
    let confidence = form.string("confidence");
    let note = form.opt_string("note");
    let station =
        station.and_then(|s| form.check("station_id", http::path_id(&s).map_err(|_| "must be a station's UUID")));
    let relation = relation.and_then(|r| {
        form.check("relation", one_of(r, &rules::RELATIONS, "must be operates_from, mentioned or suspected"))
    });
    let confidence = confidence
        .and_then(|c| form.check("confidence", one_of(c, &rules::CONFIDENCES, "must be low, medium or high")));
    let note = note
        .filter(|n| !n.trim().is_empty())
        .and_then(|n| form.check("note", crate::reports::rules::text(&n, rules::LINK_NOTE_MAX, true).map(|_| n)));
    form.finish()?;
    let (Some(station), Some(relation), Some(confidence)) = (station, relation, confidence) else {
        return Err(AppError::internal("validated link fields missing"));
    };
    let link = db::run(&state.pool, move |conn| {
        write_tx(conn, |conn| {
            let mut row = store::find(conn, id)?.ok_or(AppError::NotFound)?;
            if crate::stations::store::find(conn, station)?.is_none() {
                return Err(AppError::invalid("station_id", "is not a station in the registry"));
            }
            if store::find_link(conn, id, station)?.is_some() {
                return Err(AppError::Conflict("This station is already linked to the case.".into()));
            }
            let now = db::now();
            let link = LinkRow {
                case_id: id,
                station_id: station,
                relation,
                confidence,
                note,
                created_by: Some(user.id()),
                created_at: now,
            };
            store::insert_link(conn, &link)?;
            touch(conn, &mut row, now)?;
            let entry = NewEntry::new(user.actor(), "case.link_station")
                .target("case", id)
                .details(json!({"station_id": station, "relation": link.relation, "confidence": link.confidence}))
                .request(Some(&rid.0));
            audit::record(conn, entry)?;
            let links = store::links_of(conn, id)?;
            links.into_iter().find(|l| l.station_id == station).ok_or_else(|| AppError::internal("link vanished"))
        })
    })
    .await?;
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, format!("/api/v1/cases/{id}/stations/{}", link.station_id)))
        .json(link))
}

pub async fn unlink_station(
    state: web::Data<AppState>,
    Caseworker(user): Caseworker,
    rid: RequestId,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, AppError> {
    let (id, station) = path.into_inner();
    let (id, station) = (http::path_id(&id)?, http::path_id(&station)?);
    db::run(&state.pool, move |conn| {
        write_tx(conn, |conn| {
            let mut row = store::find(conn, id)?.ok_or(AppError::NotFound)?;
            let link = store::find_link(conn, id, station)?.ok_or(AppError::NotFound)?;
            store::delete_link(conn, id, station)?;
            touch(conn, &mut row, db::now())?;
            let entry = NewEntry::new(user.actor(), "case.unlink_station")
                .target("case", id)
                .details(json!({"station_id": station, "relation": link.relation, "confidence": link.confidence}))
                .request(Some(&rid.0));
            audit::record(conn, entry)?;
            Ok::<_, AppError>(())
        })
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}
