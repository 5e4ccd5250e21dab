//! The triage queue's query (SPEC §5): filters, two sort orders and keyset pagination, parsed
//! from `GET /api/v1/reports?…` into a [`Filter`]. The cursor holds the sort key of the last
//! item, so reports arriving meanwhile neither repeat nor shift a page.

use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};

use crate::db::Id;
use crate::error::{AppError, FieldError};
use crate::http::{self, cursor::ListQuery, param};
use crate::reports::{Kind, Priority, Status, Tactic};
use crate::retention::{rules, Policy};

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
    expiring_within: Option<String>,
    sort: Option<String>,
    order: Option<String>,
    #[serde(flatten)]
    page: ListQuery,
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
    pub status: Option<Status>,
    pub kind: Option<Kind>,
    pub tactic: Option<Tactic>,
    pub country: Option<String>,
    pub station_id: Option<Id>,
    pub assignee: Option<Assignee>,
    pub priority: Option<Priority>,
    pub created_after: Option<NaiveDateTime>,
    pub created_before: Option<NaiveDateTime>,
    pub case_id: Option<Id>,
    /// `expiring_within=DAYS`: only what retention will shred within DAYS, as the latest time of
    /// entering each status that is due by then (`retention::rules::cutoffs`).
    pub expiring: Option<Vec<(Status, NaiveDateTime)>>,
    pub sort: Sort,
    pub descending: bool,
    pub after: Option<Position>,
    pub limit: i64,
}

fn uuid(text: &str) -> Result<Id, &'static str> {
    http::path_id(text).map_err(|_| "must be a UUID")
}

fn timestamp(text: &str) -> Result<NaiveDateTime, &'static str> {
    crate::time::parse(text).ok_or("must be an RFC 3339 timestamp")
}

impl Filter {
    /// Parses the query; `me` is the caller, for `assignee=me`; `policy` and `now` turn
    /// `expiring_within` into cutoffs.
    pub fn parse(q: QueueQuery, me: Id, policy: &Policy, now: NaiveDateTime) -> Result<Filter, AppError> {
        let mut errors = Vec::new();
        let e = &mut errors;
        let status = param(e, "status", q.status, Status::read);
        let kind = param(e, "kind", q.kind, Kind::read);
        let tactic = param(e, "tactic", q.tactic, Tactic::read);
        let priority = param(e, "priority", q.priority, Priority::read);
        let country = param(e, "country", q.country, crate::fields::country);
        let station_id = param(e, "station_id", q.station_id, uuid);
        let case_id = param(e, "case_id", q.case_id, uuid);
        let assignee = param(e, "assignee", q.assignee, |text| match text {
            "me" => Ok(Assignee::User(me)),
            "none" => Ok(Assignee::Nobody),
            other => http::path_id(other).map(Assignee::User).map_err(|_| "must be me, none or a user's UUID"),
        });
        let created_after = param(e, "created_after", q.created_after, timestamp);
        let created_before = param(e, "created_before", q.created_before, timestamp);
        let expiring = param(e, "expiring_within", q.expiring_within, rules::expiring_within)
            .map(|days| rules::cutoffs(policy, now + chrono::Duration::days(i64::from(days))));
        let sort = param(e, "sort", q.sort, |text| match text {
            "created_at" => Ok(Sort::CreatedAt),
            "priority" => Ok(Sort::Priority),
            _ => Err("must be created_at or priority"),
        })
        .unwrap_or(Sort::CreatedAt);
        let descending = param(e, "order", q.order, |text| match text {
            "desc" => Ok(true),
            "asc" => Ok(false),
            _ => Err("must be asc or desc"),
        })
        .unwrap_or(true);
        let (limit, after) = q.page.read::<Position>(e);
        let after = match after {
            Some(p) if p.sort != sort || p.descending != descending => {
                e.push(FieldError::new("cursor", "is not a cursor this service issued for this sort order"));
                None
            }
            other => other,
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
            expiring,
            sort,
            descending,
            after,
            limit,
        })
    }
}
