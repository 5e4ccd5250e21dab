//! `/api/v1/stations`: anyone may read the public entries; staff read everything and edit.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::store::{self, Filter, LinkedCase};
use super::{input, PublicStation, StaffStation, StationRow, StationStatus, Visibility};
use crate::audit::{self, Action};
use crate::auth::{Caller, Staff};
use crate::db::versioned::{self, Expect, Versioned};
use crate::db::{self, write_tx};
use crate::error::{AppError, FieldError};
use crate::http::body::{edit, Form, JsonBody};
use crate::http::{self, cursor, cursor::ListQuery, param, Page, RequestId};
use crate::state::AppState;
use crate::users::Role;

fn is_staff(caller: &Caller) -> bool {
    matches!(caller, Caller::User(u) if u.role == Role::Caseworker || u.role == Role::Admin)
}

#[derive(Deserialize)]
pub struct StationQuery {
    country: Option<String>,
    city: Option<String>,
    bureau: Option<String>,
    status: Option<String>,
    visibility: Option<String>,
    q: Option<String>,
    #[serde(flatten)]
    page: ListQuery,
}

pub async fn list(state: web::Data<AppState>, caller: Caller, req: HttpRequest) -> Result<HttpResponse, AppError> {
    let query: StationQuery = http::query(&req)?;
    let staff = is_staff(&caller);
    let mut errors = Vec::new();
    let e = &mut errors;
    let limit = query.page.limit(e);
    let mut filter = Filter {
        public_only: !staff,
        limit,
        country: param(e, "country", query.country, crate::fields::country),
        status: param(e, "status", query.status, StationStatus::read),
        ..Filter::default()
    };
    let visibility = param(e, "visibility", query.visibility, Visibility::read);
    if staff {
        // The public only ever sees public entries; a valid filter changes nothing for them.
        filter.visibility = visibility;
    }
    for (name, value, slot) in [
        ("city", query.city, &mut filter.city),
        ("bureau", query.bureau, &mut filter.bureau),
        ("q", query.q, &mut filter.q),
    ] {
        if let Some(v) = value {
            match v.chars().count() {
                // No stored text holds a control character (and PostgreSQL's cannot hold NUL).
                _ if v.chars().any(char::is_control) => {
                    errors.push(FieldError::new(name, "must not contain control characters"))
                }
                1..=200 => *slot = Some(v),
                _ => errors.push(FieldError::new(name, "must be 1 to 200 characters")),
            }
        }
    }
    filter.after = query.page.after(&mut errors);
    if !errors.is_empty() {
        return Err(AppError::Validation(errors));
    }
    let keyring = state.keyring.clone();
    let (rows, next_cursor) = db::run(&state.pool, move |conn| {
        let (rows, next_cursor) = cursor::paginate(store::list(conn, &filter)?, limit, |r| (r.name.clone(), r.id));
        // Internal notes are opened for staff only; the public view has none.
        let rows = match staff {
            true => rows.into_iter().map(|row| store::opened(conn, &keyring, row)).collect::<Result<Vec<_>, _>>()?,
            false => rows,
        };
        Ok((rows, next_cursor))
    })
    .await?;
    Ok(if staff {
        HttpResponse::Ok().json(Page { items: rows.iter().map(StaffStation::from).collect(), next_cursor })
    } else {
        HttpResponse::Ok().json(Page { items: rows.iter().map(PublicStation::from).collect(), next_cursor })
    })
}

/// The staff view of one station: with the cases linked to it and how many reports name it.
#[derive(Serialize)]
pub struct StationDetail {
    #[serde(flatten)]
    pub station: StaffStation,
    pub cases: Vec<LinkedCase>,
    pub report_count: i64,
}

pub async fn get(state: web::Data<AppState>, caller: Caller, id: web::Path<String>) -> Result<HttpResponse, AppError> {
    let id = http::path_id(&id)?;
    let staff = is_staff(&caller);
    let keyring = state.keyring.clone();
    let found = db::run(&state.pool, move |conn| {
        let Some(row) = store::find(conn, id)? else { return Ok(None) };
        if !staff {
            // An internal entry is as absent to the public as one that does not exist.
            return Ok((row.visibility == Visibility::Public).then(|| serde_json::to_value(PublicStation::from(&row))));
        }
        let row = store::opened(conn, &keyring, row)?;
        let detail = StationDetail {
            cases: store::linked_cases(conn, id)?,
            report_count: store::report_count(conn, id)?,
            station: StaffStation::from(&row),
        };
        Ok(Some(serde_json::to_value(detail)))
    })
    .await?
    .ok_or(AppError::NotFound)?
    .map_err(|_| AppError::internal("serialise station"))?;
    let mut response = HttpResponse::Ok();
    if let Some(version) = found.get("version").and_then(|v| v.as_i64()) {
        response.insert_header((header::ETAG, http::etag(version as i32)));
    }
    Ok(response.json(found))
}

pub async fn create(
    state: web::Data<AppState>,
    Staff(user): Staff,
    rid: RequestId,
    body: JsonBody,
) -> Result<HttpResponse, AppError> {
    let mut form = Form::read(body).await?;
    let fields = input::read(&mut form, true);
    form.finish()?;
    let row = StationRow::create(fields, db::now());
    let keyring = state.keyring.clone();
    let row = db::run(&state.pool, move |conn| {
        write_tx(conn, |conn| {
            if store::find_by_name(conn, &row.name, &row.country)?.is_some() {
                return Err(AppError::Conflict("A station with this name already exists in this country.".into()));
            }
            let stored = store::sealed(conn, &keyring, row.clone())?;
            store::insert(conn, &stored)?;
            let entry = user
                .audit(&rid, Action::StationCreate)
                .target("station", row.id)
                .details(json!({"visibility": row.visibility, "country": row.country}));
            audit::record(conn, entry)?;
            Ok(row)
        })
    })
    .await?;
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, format!("/api/v1/stations/{}", row.id)))
        .insert_header((header::ETAG, http::etag(row.version)))
        .json(StaffStation::from(&row)))
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
    let fields = edit(body, |form| input::read(form, false), "send at least one field to change").await?;
    let expect = Expect::Version(http::if_match(&req)?);
    let keyring = state.keyring.clone();
    let row = db::run(&state.pool, move |conn| {
        write_tx(conn, |conn| {
            let row = store::find(conn, id)?.ok_or(AppError::NotFound)?;
            versioned::unchanged(row.version, expect)?;
            let mut row = store::opened(conn, &keyring, row)?;
            let changed = row.apply(fields);
            if changed.is_empty() {
                return Ok(row);
            }
            if let Some(other) = store::find_by_name(conn, &row.name, &row.country)? {
                if other.id != row.id {
                    return Err(AppError::Conflict("A station with this name already exists in this country.".into()));
                }
            }
            versioned::claim(conn, Versioned::Station, id, expect, db::now())?;
            let stored = store::sealed(conn, &keyring, row.clone())?;
            store::update(conn, &stored)?;
            let entry =
                user.audit(&rid, Action::StationUpdate).target("station", row.id).details(json!({"fields": changed}));
            audit::record(conn, entry)?;
            let stored = store::find(conn, id)?.ok_or(AppError::NotFound)?;
            store::opened(conn, &keyring, stored)
        })
    })
    .await?;
    Ok(HttpResponse::Ok().insert_header((header::ETAG, http::etag(row.version))).json(StaffStation::from(&row)))
}
