//! `GET /api/v1/reports` (staff): the triage queue with filters, two sort orders and keyset
//! pagination. The cursor holds the sort key of the last item, so reports arriving meanwhile
//! neither repeat nor shift a page.

use actix_web::{web, HttpRequest, HttpResponse};
use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use super::{items, rules, QueueItem};
use crate::auth::Staff;
use crate::db::schema::{report_tactics, reports};
use crate::db::{self, DbConn, Id};
use crate::db_run;
use crate::error::{AppError, FieldError};
use crate::http::{self, cursor, Page};
use crate::reports::ReportRow;
use crate::state::AppState;

#[derive(Deserialize)]
pub struct QueueQuery {
    status: Option<String>,
    kind: Option<String>,
    tactic: Option<String>,
    country: Option<String>,
    station_id: Option<String>,
    assignee: Option<String>,
    priority: Option<String>,
    created_after: Option<String>,
    created_before: Option<String>,
    case_id: Option<String>,
    sort: Option<String>,
    order: Option<String>,
    cursor: Option<String>,
    limit: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sort {
    CreatedAt,
    Priority,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Assignee {
    Nobody,
    User(Id),
}

/// Where the previous page ended, in the order it was sorted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Position {
    pub sort: Sort,
    pub descending: bool,
    pub rank: i32,
    pub created_at: NaiveDateTime,
    pub id: Id,
}

#[derive(Debug)]
pub struct Filter {
    pub status: Option<String>,
    pub kind: Option<String>,
    pub tactic: Option<String>,
    pub country: Option<String>,
    pub station_id: Option<Id>,
    pub assignee: Option<Assignee>,
    pub priority: Option<String>,
    pub created_after: Option<NaiveDateTime>,
    pub created_before: Option<NaiveDateTime>,
    pub case_id: Option<Id>,
    pub sort: Sort,
    pub descending: bool,
    pub after: Option<Position>,
    pub limit: i64,
}

fn one_of(errors: &mut Vec<FieldError>, field: &str, value: Option<String>, allowed: &[&str]) -> Option<String> {
    let value = value?;
    if allowed.contains(&value.as_str()) {
        Some(value)
    } else {
        errors.push(FieldError::new(field, format!("must be one of {}", allowed.join(", "))));
        None
    }
}

fn uuid(errors: &mut Vec<FieldError>, field: &str, value: Option<String>) -> Option<Id> {
    let value = value?;
    match http::path_id(&value) {
        Ok(id) => Some(id),
        Err(_) => {
            errors.push(FieldError::new(field, "must be a UUID"));
            None
        }
    }
}

fn timestamp(errors: &mut Vec<FieldError>, field: &str, value: Option<String>) -> Option<NaiveDateTime> {
    let value = value?;
    let parsed = crate::time::parse(&value);
    if parsed.is_none() {
        errors.push(FieldError::new(field, "must be an RFC 3339 timestamp"));
    }
    parsed
}

impl Filter {
    /// Parses the query; `me` is the caller, for `assignee=me`.
    pub fn parse(q: QueueQuery, me: Id) -> Result<Filter, AppError> {
        let mut errors = Vec::new();
        let e = &mut errors;
        let status = one_of(e, "status", q.status, &rules::STATUSES);
        let kind = one_of(e, "kind", q.kind, &["incident", "station"]);
        let tactic = one_of(e, "tactic", q.tactic, &crate::reports::rules::TACTICS);
        let priority = one_of(e, "priority", q.priority, &rules::PRIORITIES);
        let country = q.country.and_then(|c| match crate::reports::rules::country(&c) {
            Ok(c) => Some(c),
            Err(m) => {
                e.push(FieldError::new("country", m));
                None
            }
        });
        let station_id = uuid(e, "station_id", q.station_id);
        let case_id = uuid(e, "case_id", q.case_id);
        let assignee = match q.assignee.as_deref() {
            None => None,
            Some("me") => Some(Assignee::User(me)),
            Some("none") => Some(Assignee::Nobody),
            Some(_) => {
                let field = "assignee";
                uuid(e, field, q.assignee.clone()).map(Assignee::User).or_else(|| {
                    if let Some(last) = e.last_mut().filter(|err| err.field == field) {
                        last.message = "must be me, none or a user's UUID".into();
                    }
                    None
                })
            }
        };
        let created_after = timestamp(e, "created_after", q.created_after);
        let created_before = timestamp(e, "created_before", q.created_before);
        let sort = match q.sort.as_deref() {
            None | Some("created_at") => Sort::CreatedAt,
            Some("priority") => Sort::Priority,
            Some(_) => {
                e.push(FieldError::new("sort", "must be created_at or priority"));
                Sort::CreatedAt
            }
        };
        let descending = match q.order.as_deref() {
            None | Some("desc") => true,
            Some("asc") => false,
            Some(_) => {
                e.push(FieldError::new("order", "must be asc or desc"));
                true
            }
        };
        let limit = cursor::limit(q.limit.as_deref()).map_err(|m| e.push(FieldError::new("limit", m))).unwrap_or(50);
        let after = match q.cursor {
            None => None,
            Some(text) => match cursor::decode::<Position>(&text) {
                Some(p) if p.sort == sort && p.descending == descending => Some(p),
                _ => {
                    e.push(FieldError::new("cursor", "is not a cursor this service issued for this sort order"));
                    None
                }
            },
        };
        if !errors.is_empty() {
            return Err(AppError::Validation(errors));
        }
        Ok(Filter {
            status,
            kind,
            tactic,
            country,
            station_id,
            assignee,
            priority,
            created_after,
            created_before,
            case_id,
            sort,
            descending,
            after,
            limit,
        })
    }
}

/// One page of the queue (plus one row, to tell whether another page follows).
pub fn query(conn: &mut DbConn, f: &Filter) -> QueryResult<Vec<ReportRow>> {
    db_run!(conn: {
        let mut q = reports::table.select(ReportRow::as_select()).into_boxed();
        if let Some(v) = &f.status {
            q = q.filter(reports::status.eq(v.clone()));
        }
        if let Some(v) = &f.kind {
            q = q.filter(reports::kind.eq(v.clone()));
        }
        if let Some(v) = &f.tactic {
            let with_tactic =
                report_tactics::table.filter(report_tactics::tactic.eq(v.clone())).select(report_tactics::report_id);
            q = q.filter(reports::id.eq_any(with_tactic));
        }
        if let Some(v) = &f.country {
            q = q.filter(reports::country.eq(v.clone()));
        }
        if let Some(v) = f.station_id {
            q = q.filter(reports::station_id.eq(v));
        }
        match &f.assignee {
            None => {}
            Some(super::queue::Assignee::Nobody) => q = q.filter(reports::assignee_id.is_null()),
            Some(super::queue::Assignee::User(id)) => q = q.filter(reports::assignee_id.eq(*id)),
        }
        if let Some(v) = &f.priority {
            q = q.filter(reports::priority.eq(v.clone()));
        }
        if let Some(v) = f.created_after {
            q = q.filter(reports::created_at.ge(v));
        }
        if let Some(v) = f.created_before {
            q = q.filter(reports::created_at.lt(v));
        }
        if let Some(v) = f.case_id {
            q = q.filter(reports::case_id.eq(v));
        }
        if let Some(p) = &f.after {
            // Row-value comparisons, so PostgreSQL reads the index from the cursor on instead
            // of scanning to it (an `a < x OR (a = x AND b < y)` form is not an index range).
            use diesel::sql_types::{Bool, Integer, Timestamp};
            let op = if f.descending { "<" } else { ">" };
            match f.sort {
                Sort::CreatedAt => {
                    let after = diesel::dsl::sql::<Bool>(&format!("(reports.created_at, reports.id) {op} ("))
                        .bind::<Timestamp, _>(p.created_at)
                        .sql(", ")
                        .bind::<crate::db::DbUuid, _>(p.id)
                        .sql(")");
                    q = q.filter(after);
                }
                Sort::Priority => {
                    let after = diesel::dsl::sql::<Bool>(&format!(
                        "(reports.priority_rank, reports.created_at, reports.id) {op} ("
                    ))
                    .bind::<Integer, _>(p.rank)
                    .sql(", ")
                    .bind::<Timestamp, _>(p.created_at)
                    .sql(", ")
                    .bind::<crate::db::DbUuid, _>(p.id)
                    .sql(")");
                    q = q.filter(after);
                }
            }
        }
        q = match (f.sort, f.descending) {
            (Sort::CreatedAt, true) => q.order((reports::created_at.desc(), reports::id.desc())),
            (Sort::CreatedAt, false) => q.order((reports::created_at.asc(), reports::id.asc())),
            (Sort::Priority, true) => {
                q.order((reports::priority_rank.desc(), reports::created_at.desc(), reports::id.desc()))
            }
            (Sort::Priority, false) => {
                q.order((reports::priority_rank.asc(), reports::created_at.asc(), reports::id.asc()))
            }
        };
        q.limit(f.limit + 1).load(conn)
    })
}

pub async fn list(state: web::Data<AppState>, Staff(user): Staff, req: HttpRequest) -> Result<HttpResponse, AppError> {
    let filter = Filter::parse(http::query(&req)?, user.id())?;
    let page = db::run(&state.pool, move |conn| {
        let (rows, next_cursor) = cursor::paginate(query(conn, &filter)?, filter.limit, |r| Position {
            sort: filter.sort,
            descending: filter.descending,
            rank: r.priority_rank,
            created_at: r.created_at,
            id: r.id,
        });
        Ok(Page::<QueueItem> { items: items(conn, &rows)?, next_cursor })
    })
    .await?;
    Ok(HttpResponse::Ok().json(page))
}
