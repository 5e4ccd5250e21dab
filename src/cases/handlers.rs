//! `/api/v1/cases`: caseworkers create and edit cases, put reports in them and link stations;
//! admins read case metadata (SPEC §2.1).

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::rules::{self, CaseFields};
use super::{store, CaseRow, CaseStatus, CaseView, Confidence, LinkRow, LinkView, Relation};
use crate::audit::{self, Action};
use crate::auth::{Caseworker, CurrentUser, Staff};
use crate::crypto::envelope::Keyring;
use crate::data_keys::{self, Owner};
use crate::db::versioned::{self, Expect, Versioned};
use crate::db::{self, write_tx, DbConn, Id};
use crate::error::AppError;
use crate::http::body::{edit, Form, JsonBody};
use crate::http::{self, cursor::ListQuery, param, Page, RequestId};
use crate::reports::Priority;
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

fn detail(conn: &mut DbConn, keyring: &Keyring, id: Id, viewer: &CurrentUser) -> Result<CaseDetail, AppError> {
    let row = store::find(conn, id)?.ok_or(AppError::NotFound)?;
    let caseworker = viewer.role == Role::Caseworker;
    let reports = store::reports_of(conn, row.id)?;
    let stations = store::links_of(conn, row.id)?;
    let (row, stations) = opened(conn, keyring, row, stations, caseworker)?;
    Ok(CaseDetail {
        case: CaseView::new(&row, caseworker),
        reports: crate::triage::store::items(conn, &reports)?,
        stations,
    })
}

/// The case's summary and its links' notes, decrypted for a caseworker; admins read case
/// metadata only (SPEC §2.1), so for them they are left out without being opened.
fn opened(
    conn: &mut DbConn,
    keyring: &Keyring,
    mut row: CaseRow,
    mut links: Vec<LinkView>,
    caseworker: bool,
) -> Result<(CaseRow, Vec<LinkView>), AppError> {
    if !caseworker {
        row.summary = None;
        links.iter_mut().for_each(|l| l.note = None);
        return Ok((row, links));
    }
    let key = data_keys::find(conn, keyring, Owner::Case, row.id)?;
    row.summary = data_keys::open(key.as_ref(), "cases", "summary", row.id, row.summary.as_deref())?;
    for link in &mut links {
        link.note = data_keys::open(key.as_ref(), "case_stations", "note", link.station_id, link.note.as_deref())?;
    }
    Ok((row, links))
}

/// Seals a summary for storing.
fn sealed_summary(
    conn: &mut DbConn,
    keyring: &Keyring,
    id: Id,
    summary: Option<&str>,
) -> Result<Option<String>, AppError> {
    match summary {
        None => Ok(None),
        Some(text) => {
            let key = data_keys::find_or_make(conn, keyring, Owner::Case, id)?;
            Ok(data_keys::seal(&key, "cases", "summary", id, Some(text)))
        }
    }
}

fn respond(status: StatusCode, detail: CaseDetail) -> HttpResponse {
    HttpResponse::build(status).insert_header((header::ETAG, http::etag(detail.case.version))).json(detail)
}

fn report_id(text: &str) -> Result<Id, &'static str> {
    http::path_id(text).map_err(|_| "must be a report's UUID")
}

/// Reads the fields of a case; `with_status` on edits (a new case is always open).
fn read(form: &mut Form, with_status: bool) -> CaseFields {
    CaseFields {
        title: form.opt_parsed("title", rules::title),
        summary: form.opt_nullable_parsed("summary", rules::summary).map(Option::flatten),
        status: if with_status { form.opt_parsed("status", CaseStatus::read) } else { None },
        priority: form.opt_parsed("priority", Priority::read),
        assignee_id: form
            .opt_nullable_parsed("assignee_id", |v| http::path_id(v).map_err(|_| "must be a user's UUID or null")),
    }
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
fn attach(conn: &mut DbConn, case: Id, report: Id, at: NaiveDateTime, field: &str) -> Result<(), AppError> {
    if crate::reports::store::find(conn, report)?.is_none() {
        return Err(AppError::invalid(field, "is not a report"));
    }
    if !store::attach(conn, case, report, at)? {
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
    let fields = read(&mut form, false);
    let report_ids = form.opt_strings("report_ids").unwrap_or_default();
    let mut ids = Vec::new();
    for (i, raw) in report_ids.iter().enumerate() {
        if let Some(id) = form.check(&format!("report_ids[{i}]"), report_id(raw)) {
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
    let keyring = state.keyring.clone();
    let case = db::run(&state.pool, move |conn| {
        write_tx(conn, |conn| {
            check_assignee(conn, assignee_id)?;
            let mut reference = rules::reference();
            while store::reference_taken(conn, &reference)? {
                reference = rules::reference();
            }
            let id = Id::new();
            let row = CaseRow {
                id,
                reference,
                title: title.unwrap_or_default(),
                summary: sealed_summary(conn, &keyring, id, summary.flatten().as_deref())?,
                status: CaseStatus::Open,
                priority: priority.unwrap_or(Priority::Normal),
                assignee_id: assignee_id.flatten(),
                created_by: Some(user.id()),
                version: 1,
                created_at: now,
                updated_at: now,
            };
            store::insert(conn, &row)?;
            for (i, report) in ids.iter().enumerate() {
                attach(conn, row.id, *report, now, &format!("report_ids[{i}]"))?;
            }
            let entry = user
                .audit(&rid, Action::CaseCreate)
                .target("case", row.id)
                .details(json!({"reference": row.reference, "report_ids": ids}));
            audit::record(conn, entry)?;
            detail(conn, &keyring, row.id, &user)
        })
    })
    .await?;
    let location = format!("/api/v1/cases/{}", case.case.id);
    let mut response = respond(StatusCode::CREATED, case);
    if let Ok(value) = header::HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    Ok(response)
}

#[derive(Deserialize)]
pub struct CaseQuery {
    status: Option<String>,
    assignee: Option<String>,
    station_id: Option<String>,
    #[serde(flatten)]
    page: ListQuery,
}

pub async fn list(state: web::Data<AppState>, Staff(user): Staff, req: HttpRequest) -> Result<HttpResponse, AppError> {
    let q: CaseQuery = http::query(&req)?;
    let mut errors = Vec::new();
    let e = &mut errors;
    let limit = q.page.limit(e);
    let filter = store::Filter {
        status: param(e, "status", q.status, CaseStatus::read),
        assignee: param(e, "assignee", q.assignee, |text| match text {
            "me" => Ok(Some(user.id())),
            "none" => Ok(None),
            other => http::path_id(other).map(Some).map_err(|_| "must be me, none or a user's UUID"),
        }),
        station_id: param(e, "station_id", q.station_id, |v| http::path_id(v).map_err(|_| "must be a UUID")),
        before: q.page.after(e),
        limit,
    };
    if !errors.is_empty() {
        return Err(AppError::Validation(errors));
    }
    let caseworker = user.role == Role::Caseworker;
    let keyring = state.keyring.clone();
    let (items, next_cursor) = db::run(&state.pool, move |conn| {
        let (rows, next_cursor) = http::cursor::paginate(store::list(conn, &filter)?, limit, |r| (r.created_at, r.id));
        let mut items = Vec::with_capacity(rows.len());
        for row in rows {
            let (row, _) = opened(conn, &keyring, row, Vec::new(), caseworker)?;
            items.push(CaseView::new(&row, caseworker));
        }
        Ok((items, next_cursor))
    })
    .await?;
    Ok(HttpResponse::Ok().json(Page { items, next_cursor }))
}

pub async fn get(
    state: web::Data<AppState>,
    Staff(user): Staff,
    id: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let id = http::path_id(&id)?;
    let keyring = state.keyring.clone();
    let detail = db::run(&state.pool, move |conn| detail(conn, &keyring, id, &user)).await?;
    Ok(respond(StatusCode::OK, detail))
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
    let fields =
        edit(body, |form| read(form, true), "send at least one of title, summary, status, priority, assignee_id")
            .await?;
    let expect = Expect::Version(http::if_match(&req)?);
    let keyring = state.keyring.clone();
    let detail = db::run(&state.pool, move |conn| {
        write_tx(conn, |conn| {
            let row = store::find(conn, id)?.ok_or(AppError::NotFound)?;
            versioned::unchanged(row.version, expect)?;
            check_assignee(conn, fields.assignee_id)?;
            let (row, _) = opened(conn, &keyring, row, Vec::new(), true)?;
            let (mut next, changes) = rules::apply(&row, &fields);
            if !changes.is_empty() {
                versioned::claim(conn, Versioned::Case, id, expect, db::now())?;
                next.summary = sealed_summary(conn, &keyring, id, next.summary.as_deref())?;
                store::save(conn, &next)?;
                let entry =
                    user.audit(&rid, Action::CaseUpdate).target("case", id).details(json!({"changes": changes}));
                audit::record(conn, entry)?;
            }
            detail(conn, &keyring, id, &user)
        })
    })
    .await?;
    Ok(respond(StatusCode::OK, detail))
}

/// A change to what a case holds (its reports or stations), in one transaction: the case's
/// version moves on, since its ETag stands for those too; `change` makes the change and says
/// what to record; `action` is recorded with it.
fn change_case<T>(
    conn: &mut DbConn,
    context: (&CurrentUser, &RequestId),
    id: Id,
    action: Action,
    change: impl FnOnce(&mut DbConn, NaiveDateTime) -> Result<(T, serde_json::Value), AppError>,
) -> Result<T, AppError> {
    let (user, rid) = context;
    write_tx(conn, |conn| {
        let now = db::now();
        versioned::claim(conn, Versioned::Case, id, Expect::Any, now)?;
        let (out, details) = change(conn, now)?;
        audit::record(conn, user.audit(rid, action).target("case", id).details(details))?;
        Ok(out)
    })
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
    let report = form.parsed("report_id", report_id);
    let report = form.finish_with(report)?;
    // The case is read in the transaction that changed it: read after the commit, it could hold
    // another writer's change too, and its ETag would let this client overwrite what it never saw.
    let keyring = state.keyring.clone();
    let detail = db::run(&state.pool, move |conn| {
        change_case(conn, (&user, &rid), id, Action::CaseAddReport, |conn, now| {
            attach(conn, id, report, now, "report_id")?;
            Ok((detail(conn, &keyring, id, &user)?, json!({"report_id": report})))
        })
    })
    .await?;
    Ok(respond(StatusCode::OK, detail))
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
        change_case(conn, (&user, &rid), id, Action::CaseRemoveReport, |conn, now| {
            match store::detach(conn, id, report, now)? {
                true => Ok(((), json!({"report_id": report}))),
                false => Err(AppError::NotFound),
            }
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
    let station = form.parsed("station_id", |v| http::path_id(v).map_err(|_| "must be a station's UUID"));
    let relation = form.parsed("relation", Relation::read);
    let confidence = form.parsed("confidence", Confidence::read);
    let note = form.opt_parsed("note", rules::link_note).flatten();
    let ((station, relation), confidence) = form.finish_with(station.zip(relation).zip(confidence))?;
    let created_by = Some(user.id());
    let keyring = state.keyring.clone();
    let link = db::run(&state.pool, move |conn| {
        change_case(conn, (&user, &rid), id, Action::CaseLinkStation, |conn, now| {
            if !store::station_exists(conn, station)? {
                return Err(AppError::invalid("station_id", "is not a station in the registry"));
            }
            if store::find_link(conn, id, station)?.is_some() {
                return Err(AppError::Conflict("This station is already linked to the case.".into()));
            }
            let note = match note {
                Some(text) => {
                    let key = data_keys::find_or_make(conn, &keyring, Owner::Case, id)?;
                    data_keys::seal(&key, "case_stations", "note", station, Some(&text))
                }
                None => None,
            };
            let link =
                LinkRow { case_id: id, station_id: station, relation, confidence, note, created_by, created_at: now };
            store::insert_link(conn, &link)?;
            let links = store::links_of(conn, id)?.into_iter().filter(|l| l.station_id == station).collect();
            let case = store::find(conn, id)?.ok_or(AppError::NotFound)?;
            let (_, mut links) = opened(conn, &keyring, case, links, true)?;
            let view = links.pop().ok_or(AppError::NotFound)?;
            Ok((view, json!({"station_id": station, "relation": relation, "confidence": confidence})))
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
        change_case(conn, (&user, &rid), id, Action::CaseUnlinkStation, |conn, _| {
            let link = store::find_link(conn, id, station)?.ok_or(AppError::NotFound)?;
            store::delete_link(conn, id, station)?;
            Ok(((), json!({"station_id": station, "relation": link.relation, "confidence": link.confidence})))
        })
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_fields() {
        let mut form =
            Form::new(json!({"title": "T", "summary": null, "status": "monitoring", "assignee_id": null})).unwrap();
        let fields = read(&mut form, true);
        assert!(form.finish().is_ok());
        assert_eq!(fields.summary, Some(None));
        assert_eq!(fields.assignee_id, Some(None));
        assert_eq!(fields.status, Some(CaseStatus::Monitoring));
        let mut form = Form::new(json!({"status": "done", "priority": "asap"})).unwrap();
        read(&mut form, true);
        assert!(form.finish().is_err());
    }
}
