//! `/api/v1/reports`: submission, the reporter's list and the report view.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::rules::{self, Submission, STATION_UNKNOWN};
use super::{source, store, Consent, KeyRow, ReportRow, ReportSummary, ReporterView};
use crate::audit::{self, NewEntry};
use crate::auth::{Caller, CurrentUser, Reporter};
use crate::crypto::envelope::DataKey;
use crate::db::{self, write_tx, DbConn, Id};
use crate::error::{AppError, FieldError};
use crate::http::body::{Form, JsonBody};
use crate::http::{self, cursor, Page, RequestId};
use crate::state::AppState;
use crate::users::Role;

/// Receipts are 20 Crockford base32 characters: 100 bits.
pub const RECEIPT_LEN: usize = 20;

#[derive(Serialize)]
pub struct Created {
    pub id: Id,
    pub reference: String,
    pub status: String,
    #[serde(with = "crate::time::rfc3339")]
    pub created_at: NaiveDateTime,
    /// Shown exactly once; only its HMAC is stored.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub receipt: Option<String>,
}

/// Who submits, and how it is recorded.
struct Submitter {
    source: &'static str,
    reporter_id: Option<Id>,
    submitted_by: Option<Id>,
    /// Anonymous reporters get a receipt; so does a caseworker taking a report by phone or in
    /// person, to pass on to the person, who can then follow up without an account.
    gets_receipt: bool,
}

fn submitter(caller: &Caller) -> Result<Submitter, AppError> {
    match caller {
        Caller::Anonymous => {
            Ok(Submitter { source: source::ANONYMOUS, reporter_id: None, submitted_by: None, gets_receipt: true })
        }
        Caller::User(user) => match user.role {
            Role::Reporter => Ok(Submitter {
                source: source::REPORTER,
                reporter_id: Some(user.id()),
                submitted_by: Some(user.id()),
                gets_receipt: false,
            }),
            Role::Caseworker => Ok(Submitter {
                source: source::STAFF,
                reporter_id: None,
                submitted_by: Some(user.id()),
                gets_receipt: true,
            }),
            Role::Admin => Err(AppError::Forbidden),
        },
        Caller::Receipt { .. } => {
            Err(AppError::Refused("A receipt token follows up on its own report; submit a new report without a token."))
        }
    }
}

pub async fn submit(
    state: web::Data<AppState>,
    caller: Caller,
    rid: RequestId,
    body: JsonBody,
) -> Result<HttpResponse, AppError> {
    let submitter = submitter(&caller)?;
    let mut form = Form::read(body).await?;
    let today = chrono::Utc::now().date_naive();
    let submission = rules::submission(&mut form, today);
    if let Some(station) = submission.as_ref().and_then(|s| s.station_id) {
        if !db::run(&state.pool, move |conn| Ok(store::public_station_exists(conn, station)?)).await? {
            form.error("station_id", STATION_UNKNOWN);
        }
    }
    form.finish()?;
    let submission = submission.ok_or_else(|| AppError::internal("validated submission missing"))?;

    let receipt = submitter.gets_receipt.then(|| crate::codes::random(RECEIPT_LEN));
    let receipt_hash = receipt.as_deref().map(|r| crate::auth::handlers::receipt_hash(&state, r));
    let (row, key) = seal(&state, &submission, &submitter, receipt_hash);
    let actor = caller.actor();
    let tactics = submission.tactics;
    let row = db::run(&state.pool, move |conn| {
        write_tx(conn, |conn| {
            let mut row = row;
            row.reference = unique_reference(conn)?;
            store::insert(conn, &row, &key, &tactics)?;
            let entry = NewEntry::new(actor, "report.create")
                .target("report", row.id)
                .details(json!({"kind": row.kind, "source": row.source}))
                .request(Some(&rid.0));
            audit::record(conn, entry)?;
            Ok::<_, AppError>(row)
        })
    })
    .await?;
    Ok(HttpResponse::Created().insert_header((header::LOCATION, format!("/api/v1/reports/{}", row.id))).json(Created {
        id: row.id,
        reference: row.reference,
        status: row.status,
        created_at: row.created_at,
        receipt,
    }))
}

/// A reference nobody has: 40 random bits make a clash rare, but not impossible over years.
fn unique_reference(conn: &mut DbConn) -> Result<String, AppError> {
    for _ in 0..8 {
        let reference = crate::codes::report_reference();
        if !store::reference_taken(conn, &reference)? {
            return Ok(reference);
        }
    }
    Err(AppError::internal("could not find a free report reference"))
}

/// The row to store: content encrypted under a fresh data key for this report.
fn seal(state: &AppState, s: &Submission, who: &Submitter, receipt_hash: Option<String>) -> (ReportRow, KeyRow) {
    let id = Id::new();
    let (key, wrapped) = state.keyring.new_data_key(id);
    let seal = |column: &str, value: &str| key.seal("reports", column, id, value);
    let now = db::now();
    let row = ReportRow {
        id,
        reference: String::new(),
        kind: s.kind.clone(),
        occurred_on: s.occurred_on,
        occurred_on_precision: s.occurred_on_precision.clone(),
        country: s.country.clone(),
        city: s.city.clone(),
        language: s.language.clone(),
        station_id: s.station_id,
        consent_contact_ok: s.contact_ok,
        consent_share_with_authorities: s.share_with_authorities,
        on_behalf_of_other: s.on_behalf_of_other,
        source: who.source.to_string(),
        reporter_id: who.reporter_id,
        submitted_by: who.submitted_by,
        receipt_hash,
        status: "new".into(),
        priority: "normal".into(),
        narrative: seal("narrative", &s.narrative),
        contact: s.contact.as_deref().map(|v| seal("contact", v)),
        location_detail: s.location_detail.as_deref().map(|v| seal("location_detail", v)),
        station_hint: s.station_hint.as_deref().map(|v| seal("station_hint", v)),
        version: 1,
        created_at: now,
        updated_at: now,
        priority_rank: 1,
        resolution: None,
        duplicate_of: None,
        assignee_id: None,
        case_id: None,
    };
    (row, KeyRow::new(id, wrapped, now))
}

/// How a caller may see one report's content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The reporter: by account (their own reports) or by receipt (that one report).
    Reporter,
    /// A caseworker; every read is audited.
    Staff,
}

/// Who may look at report content at all, before any report is loaded: admins never (SPEC §2).
pub fn side_of(caller: &Caller) -> Result<Side, AppError> {
    match caller {
        Caller::Anonymous => Err(AppError::Unauthorized),
        Caller::Receipt { .. } => Ok(Side::Reporter),
        Caller::User(CurrentUser { role: Role::Reporter, .. }) => Ok(Side::Reporter),
        Caller::User(CurrentUser { role: Role::Caseworker, .. }) => Ok(Side::Staff),
        Caller::User(CurrentUser { role: Role::Admin, .. }) => Err(AppError::Forbidden),
    }
}

/// Whether this caller may see this report. A reporter asking for someone else's report gets
/// the same 404 as for one that does not exist.
pub fn may_see(caller: &Caller, report: &ReportRow) -> bool {
    match caller {
        Caller::Anonymous => false,
        Caller::Receipt { report_id } => *report_id == report.id,
        Caller::User(user) => match user.role {
            Role::Reporter => report.reporter_id == Some(user.id()),
            Role::Caseworker => true,
            Role::Admin => false,
        },
    }
}

/// Loads a report the caller may see, with its data key, inside the caller's transaction.
pub fn load_for(
    state: &AppState,
    conn: &mut DbConn,
    caller: &Caller,
    id: Id,
) -> Result<(ReportRow, DataKey), AppError> {
    let report = store::find(conn, id)?.filter(|r| may_see(caller, r)).ok_or(AppError::NotFound)?;
    let stored = store::key(conn, report.id)?.ok_or_else(|| AppError::internal("report key missing"))?;
    let key = state.keyring.unwrap(report.id, &stored.wrapped_key()).map_err(|_| AppError::internal("report key"))?;
    Ok((report, key))
}

fn open(key: &DataKey, report: &ReportRow, column: &str, value: &Option<String>) -> Result<Option<String>, AppError> {
    value
        .as_deref()
        .map(|sealed| key.open("reports", column, report.id, sealed).map_err(|_| AppError::internal("decryption")))
        .transpose()
}

pub fn reporter_view(key: &DataKey, report: &ReportRow, tactics: Vec<String>) -> Result<ReporterView, AppError> {
    let narrative =
        key.open("reports", "narrative", report.id, &report.narrative).map_err(|_| AppError::internal("decryption"))?;
    Ok(ReporterView {
        id: report.id,
        reference: report.reference.clone(),
        kind: report.kind.clone(),
        tactics,
        narrative,
        occurred_on: report.occurred_on,
        occurred_on_precision: report.occurred_on_precision.clone(),
        country: report.country.clone(),
        city: report.city.clone(),
        location_detail: open(key, report, "location_detail", &report.location_detail)?,
        station_id: report.station_id,
        station_hint: open(key, report, "station_hint", &report.station_hint)?,
        contact: open(key, report, "contact", &report.contact)?,
        consent: Consent {
            contact_ok: report.consent_contact_ok,
            share_with_authorities: report.consent_share_with_authorities,
        },
        on_behalf_of_other: report.on_behalf_of_other,
        language: report.language.clone(),
        status: report.status.clone(),
        created_at: report.created_at,
        updated_at: report.updated_at,
    })
}

/// What a caseworker sees: the reporter's fields plus how it came in and its priority.
#[derive(Serialize)]
pub struct StaffView {
    #[serde(flatten)]
    pub report: ReporterView,
    pub source: String,
    pub priority: String,
    pub resolution: Option<String>,
    pub duplicate_of: Option<Id>,
    pub assignee_id: Option<Id>,
    pub case_id: Option<Id>,
    pub tags: Vec<String>,
    /// Also sent as the `ETag`.
    pub version: i32,
}

/// `GET /api/v1/reports/{id}`: the reporter's (or receipt holder's) view, or a caseworker's.
/// Every read of content is audited in the same transaction that reads it.
pub async fn get(
    state: web::Data<AppState>,
    caller: Caller,
    rid: RequestId,
    id: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let side = side_of(&caller)?;
    let id = http::path_id(&id)?;
    let state2 = state.clone();
    let body = db::run(&state.pool, move |conn| {
        write_tx(conn, |conn| {
            let (report, key) = load_for(&state2, conn, &caller, id)?;
            let view = reporter_view(&key, &report, store::tactics(conn, report.id)?)?;
            let entry = NewEntry::new(caller.actor(), "report.read")
                .target("report", report.id)
                .details(json!({"side": if side == Side::Staff { "staff" } else { "reporter" }}))
                .request(Some(&rid.0));
            audit::record(conn, entry)?;
            let body = match side {
                Side::Reporter => serde_json::to_value(view),
                Side::Staff => serde_json::to_value(StaffView {
                    tags: crate::triage::tags(conn, report.id)?,
                    source: report.source,
                    priority: report.priority,
                    resolution: report.resolution,
                    duplicate_of: report.duplicate_of,
                    assignee_id: report.assignee_id,
                    case_id: report.case_id,
                    version: report.version,
                    report: view,
                }),
            };
            let body = body.map_err(|_| AppError::internal("serialise report"))?;
            Ok::<_, AppError>((body, (side == Side::Staff).then_some(report.version)))
        })
    })
    .await?;
    let (body, version) = body;
    let mut response = HttpResponse::Ok();
    if let Some(version) = version {
        response.insert_header((header::ETAG, http::etag(version)));
    }
    Ok(response.json(body))
}

#[derive(Deserialize)]
pub struct MineQuery {
    cursor: Option<String>,
    limit: Option<String>,
}

/// `GET /api/v1/reports/mine`: the reporter's own reports, newest first, metadata only.
pub async fn mine(
    state: web::Data<AppState>,
    Reporter(user): Reporter,
    req: HttpRequest,
) -> Result<HttpResponse, AppError> {
    let query: MineQuery = http::query(&req)?;
    let mut errors = Vec::new();
    let limit =
        cursor::limit(query.limit.as_deref()).map_err(|m| errors.push(FieldError::new("limit", m))).unwrap_or(50);
    let before = match query.cursor {
        None => None,
        Some(text) => {
            let position = cursor::decode::<(NaiveDateTime, Id)>(&text);
            if position.is_none() {
                errors.push(FieldError::new("cursor", "is not a cursor this service issued"));
            }
            position
        }
    };
    if !errors.is_empty() {
        return Err(AppError::Validation(errors));
    }
    let user_id = user.id();
    let rows = db::run(&state.pool, move |conn| Ok(store::list_mine(conn, user_id, before, limit)?)).await?;
    let (rows, next_cursor) = cursor::paginate(rows, limit, |r| (r.created_at, r.id));
    let items = rows.iter().map(ReportSummary::from).collect();
    Ok(HttpResponse::Ok().json(Page::<ReportSummary> { items, next_cursor }))
}
