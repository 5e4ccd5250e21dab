//! `/api/v1/stations`: anyone may read the public entries; staff read everything and edit.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::store::{self, Filter, LinkedCase};
use super::{rules, PublicStation, StaffStation, StationRow};
use crate::audit::{self, NewEntry};
use crate::auth::{Caller, Staff};
use crate::db::{self, write_tx, Id};
use crate::error::{AppError, FieldError};
use crate::http::body::{Form, JsonBody};
use crate::http::{self, cursor, Page, RequestId};
use crate::state::AppState;
use crate::users::Role;

fn is_staff(caller: &Caller) -> bool {
    matches!(caller, Caller::User(u) if u.role == Role::Caseworker || u.role == Role::Admin)
}

#[derive(Deserialize)]
pub struct ListQuery {
    country: Option<String>,
    city: Option<String>,
    bureau: Option<String>,
    status: Option<String>,
    visibility: Option<String>,
    q: Option<String>,
    cursor: Option<String>,
    limit: Option<String>,
}

pub async fn list(state: web::Data<AppState>, caller: Caller, req: HttpRequest) -> Result<HttpResponse, AppError> {
    let query: ListQuery = http::query(&req)?;
    let staff = is_staff(&caller);
    let mut errors = Vec::new();
    let mut filter = Filter { public_only: !staff, ..Filter::default() };
    filter.limit =
        cursor::limit(query.limit.as_deref()).map_err(|m| errors.push(FieldError::new("limit", m))).unwrap_or(50);
    if let Some(c) = query.country {
        match crate::reports::rules::country(&c) {
            Ok(c) => filter.country = Some(c),
            Err(m) => errors.push(FieldError::new("country", m)),
        }
    }
    if let Some(s) = query.status {
        match rules::STATUSES.contains(&s.as_str()) {
            true => filter.status = Some(s),
            false => errors.push(FieldError::new("status", "must be reported, confirmed, closed or disputed")),
        }
    }
    if let Some(v) = query.visibility {
        if !rules::VISIBILITIES.contains(&v.as_str()) {
            errors.push(FieldError::new("visibility", "must be public or internal"));
        } else if staff {
            filter.visibility = Some(v);
        }
        // The public only ever sees public entries; a valid filter changes nothing for them.
    }
    for (name, value, slot) in [
        ("city", query.city, &mut filter.city),
        ("bureau", query.bureau, &mut filter.bureau),
        ("q", query.q, &mut filter.q),
    ] {
        if let Some(v) = value {
            match v.chars().count() {
                1..=200 => *slot = Some(v),
                _ => errors.push(FieldError::new(name, "must be 1 to 200 characters")),
            }
        }
    }
    if let Some(c) = query.cursor {
        match cursor::decode::<(String, Id)>(&c) {
            Some(p) => filter.after = Some(p),
            None => errors.push(FieldError::new("cursor", "is not a cursor this service issued")),
        }
    }
    if !errors.is_empty() {
        return Err(AppError::Validation(errors));
    }
    let limit = filter.limit;
    let rows = db::run(&state.pool, move |conn| Ok(store::list(conn, &filter)?)).await?;
    let (rows, next_cursor) = cursor::paginate(rows, limit, |r| (r.name.clone(), r.id));
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
    let found = db::run(&state.pool, move |conn| {
        let Some(row) = store::find(conn, id)? else { return Ok(None) };
        if !staff {
            // An internal entry is as absent to the public as one that does not exist.
            return Ok((row.visibility == "public").then(|| serde_json::to_value(PublicStation::from(&row))));
        }
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
    let fields = rules::read(&mut form, true);
    form.finish()?;
    let row = StationRow::create(fields, db::now());
    let row = db::run(&state.pool, move |conn| {
        write_tx(conn, |conn| {
            if store::find_by_name(conn, &row.name, &row.country)?.is_some() {
                return Err(AppError::Conflict("A station with this name already exists in this country.".into()));
            }
            store::insert(conn, &row)?;
            let entry = NewEntry::new(user.actor(), "station.create")
                .target("station", row.id)
                .details(json!({"visibility": row.visibility, "country": row.country}))
                .request(Some(&rid.0));
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
    let mut form = Form::read(body).await?;
    let fields = rules::read(&mut form, false);
    form.finish()?;
    if fields == rules::StationFields::default() {
        return Err(AppError::invalid("", "send at least one field to change"));
    }
    let expected = http::if_match(&req)?;
    let row = db::run(&state.pool, move |conn| {
        write_tx(conn, |conn| {
            let mut row = store::find(conn, id)?.ok_or(AppError::NotFound)?;
            if row.version != expected {
                return Err(AppError::PreconditionFailed);
            }
            let changed = row.apply(fields);
            if changed.is_empty() {
                return Ok(row);
            }
            if let Some(other) = store::find_by_name(conn, &row.name, &row.country)? {
                if other.id != row.id {
                    return Err(AppError::Conflict("A station with this name already exists in this country.".into()));
                }
            }
            row.version += 1;
            row.updated_at = db::now();
            store::update(conn, &row)?;
            let entry = NewEntry::new(user.actor(), "station.update")
                .target("station", row.id)
                .details(json!({"fields": changed}))
                .request(Some(&rid.0));
            audit::record(conn, entry)?;
            Ok(row)
        })
    })
    .await?;
    Ok(HttpResponse::Ok().insert_header((header::ETAG, http::etag(row.version))).json(StaffStation::from(&row)))
}
