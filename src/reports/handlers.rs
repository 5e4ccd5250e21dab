//! `/api/v1/reports`: submission, the reporter's list and the report view.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{NaiveDate, NaiveDateTime};
use serde::Serialize;
use serde_json::json;

use super::access::{load_for, owner_tag, side_of, Side};
use super::rules::{self, Submission, STATION_UNKNOWN};
use super::view::{reporter_view, ReportSummary, StaffView};
use super::{store, KeyRow, Kind, Precision, Priority, ReportRow, Source, Status};
use crate::audit::{self, Action, NewEntry};
use crate::auth::{Caller, Reporter};
use crate::crypto::envelope::Keyring;
use crate::db::{self, write_tx, Id};
use crate::error::AppError;
use crate::fields::{self, required_text};
use crate::http::body::{Form, JsonBody};
use crate::http::{self, cursor, Page, RequestId};
use crate::state::AppState;
use crate::users::Role;

#[derive(Serialize)]
pub struct Created {
    pub id: Id,
    pub reference: String,
    pub status: Status,
    #[serde(with = "crate::time::rfc3339")]
    pub created_at: NaiveDateTime,
    /// Shown exactly once; only its HMAC is stored.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub receipt: Option<String>,
}

/// Who submits, and how it is recorded.
pub struct Submitter {
    source: Source,
    owner_tag: Option<String>,
    submitted_by: Option<Id>,
    /// Anonymous reporters get a receipt; so does a caseworker taking a report by phone or in
    /// person, to pass on to the person, who can then follow up without an account.
    gets_receipt: bool,
}

impl Submitter {
    /// Someone submitting without a token.
    pub fn anonymous() -> Self {
        Submitter { source: Source::Anonymous, owner_tag: None, submitted_by: None, gets_receipt: true }
    }
}

fn submitter(state: &AppState, caller: &Caller) -> Result<Submitter, AppError> {
    match caller {
        Caller::Anonymous => Ok(Submitter::anonymous()),
        Caller::User(user) => match user.role {
            Role::Reporter => Ok(Submitter {
                source: Source::Reporter,
                owner_tag: Some(owner_tag(state, user.id())),
                submitted_by: None,
                gets_receipt: false,
            }),
            Role::Caseworker => Ok(Submitter {
                source: Source::Staff,
                owner_tag: None,
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
    let submitter = submitter(&state, &caller)?;
    let form = Form::read(body).await?;
    let created = intake(&state, &caller, submitter, &rid, form).await?;
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, format!("/api/v1/reports/{}", created.id)))
        .json(created))
}

/// The one intake use case, shared by the API and the reporter's web pages: reads the
/// submission out of `form` (every §4.1 rule, every violation at once), stores it with its
/// audit entry and answers what the reporter may see once.
pub async fn intake(
    state: &AppState,
    caller: &Caller,
    submitter: Submitter,
    rid: &RequestId,
    mut form: Form,
) -> Result<Created, AppError> {
    let today = chrono::Utc::now().date_naive();
    let submission = submission(&mut form, today);
    if let Some(station) = submission.as_ref().and_then(|s| s.station_id) {
        if !db::run(&state.pool, move |conn| Ok(store::public_station_exists(conn, station)?)).await? {
            form.error("station_id", STATION_UNKNOWN);
        }
    }
    let submission = form.finish_with(submission)?;

    let receipt = submitter.gets_receipt.then(crate::codes::receipt);
    let receipt_hash = receipt.as_deref().map(|r| crate::auth::token::receipt_hash(&state.receipt_key, r));
    let (row, key) = seal(&state.keyring, &submission, &submitter, receipt_hash);
    let entry = caller.audit(rid, Action::ReportCreate);
    let tactics = submission.tactics;
    // The submission bucket is drawn from by the writer, for a whole batch at once.
    let row = state.group_commit.store(row, key, tactics, entry, rid).await?;
    Ok(Created { id: row.id, reference: row.reference, status: row.status, created_at: row.created_at, receipt })
}

/// The `report.create` entry of a stored report, from the one the request started.
pub fn created_entry(entry: NewEntry, row: &ReportRow) -> NewEntry {
    entry.target("report", row.id).details(json!({"kind": row.kind, "source": row.source}))
}

/// The row to store: content encrypted under a fresh data key for this report.
pub fn seal(keyring: &Keyring, s: &Submission, who: &Submitter, receipt_hash: Option<String>) -> (ReportRow, KeyRow) {
    let id = Id::new();
    let (key, wrapped) = keyring.new_data_key(id);
    let seal = |column: &str, value: &str| key.seal("reports", column, id, value);
    let now = db::now();
    let row = ReportRow {
        id,
        reference: String::new(),
        kind: s.kind,
        occurred_on: s.occurred_on,
        occurred_on_precision: s.occurred_on_precision,
        country: s.country.clone(),
        city: s.city.clone(),
        language: s.language.clone(),
        station_id: s.station_id,
        consent_contact_ok: s.contact_ok,
        consent_share_with_authorities: s.share_with_authorities,
        on_behalf_of_other: s.on_behalf_of_other,
        source: who.source,
        reporter_id: None,
        submitted_by: who.submitted_by,
        receipt_hash,
        status: Status::New,
        priority: Priority::Normal,
        narrative: seal("narrative", &s.narrative),
        contact: s.contact.as_deref().map(|v| seal("contact", v)),
        location_detail: s.location_detail.as_deref().map(|v| seal("location_detail", v)),
        station_hint: s.station_hint.as_deref().map(|v| seal("station_hint", v)),
        version: 1,
        created_at: now,
        updated_at: now,
        priority_rank: Priority::Normal.rank(),
        resolution: None,
        duplicate_of: None,
        assignee_id: None,
        case_id: None,
        owner_tag: who.owner_tag.clone(),
        status_changed_at: now,
        shredded_at: None,
        legal_hold_at: None,
        erase_requested_at: None,
    };
    (row, KeyRow::new(id, wrapped, now))
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
            let entry = caller
                .audit(&rid, Action::ReportRead)
                .target("report", report.id)
                .details(json!({"side": if side == Side::Staff { "staff" } else { "reporter" }}));
            audit::record(conn, entry)?;
            let body = match side {
                Side::Reporter => serde_json::to_value(view),
                Side::Staff => serde_json::to_value(StaffView {
                    tags: store::tags(conn, report.id)?,
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

/// `GET /api/v1/reports/mine`: the reporter's own reports, newest first, metadata only.
pub async fn mine(
    state: web::Data<AppState>,
    Reporter(user): Reporter,
    req: HttpRequest,
) -> Result<HttpResponse, AppError> {
    let (limit, before) = cursor::page::<(NaiveDateTime, Id)>(&req)?;
    let tag = owner_tag(&state, user.id());
    let rows = db::run(&state.pool, move |conn| Ok(store::list_mine(conn, &tag, before, limit)?)).await?;
    let (rows, next_cursor) = cursor::paginate(rows, limit, |r| (r.created_at, r.id));
    let items = rows.iter().map(ReportSummary::from).collect();
    Ok(HttpResponse::Ok().json(Page::<ReportSummary> { items, next_cursor }))
}

/// Reads a whole submission, collecting every violation into `form`.
pub fn submission(form: &mut Form, today: NaiveDate) -> Option<Submission> {
    let kind = form.string("kind");
    let tactics = form.opt_strings("tactics");
    let narrative = form.string("narrative");
    let occurred_on_raw = form.opt_string("occurred_on");
    let precision = form.opt_string("occurred_on_precision");
    let country_raw = form.string("country");
    let city = form.opt_string("city");
    let location_detail = form.opt_string("location_detail");
    let station_raw = form.opt_string("station_id");
    let station_hint = form.opt_string("station_hint");
    let contact = form.opt_string("contact");
    let consent = form.opt_object("consent", |c| (c.opt_bool("contact_ok"), c.opt_bool("share_with_authorities")));
    let on_behalf_of_other = form.opt_bool("on_behalf_of_other");
    let language_raw = form.opt_string("language");

    let kind = kind.and_then(|k| form.check("kind", Kind::read(&k)));
    let mut tactic_list = Vec::new();
    for (i, raw) in tactics.clone().unwrap_or_default().iter().enumerate() {
        if let Some(tactic) = form.check(&format!("tactics[{i}]"), rules::tactic(raw, &tactic_list)) {
            tactic_list.push(tactic);
        }
    }
    if kind == Some(Kind::Incident) && tactics.as_ref().is_none_or(|t| t.is_empty()) {
        form.error("tactics", "must name at least one tactic for an incident");
    }
    if let Some(n) = &narrative {
        form.check("narrative", required_text(n, rules::NARRATIVE_MAX));
    }
    let occurred_on = occurred_on_raw.and_then(|d| form.check("occurred_on", rules::occurred_on(&d, today)));
    let precision = match precision.map(|p| Precision::read(&p)) {
        Some(Err(message)) => {
            form.error("occurred_on_precision", message);
            None
        }
        Some(Ok(_)) if occurred_on.is_none() && !form.has_error("occurred_on") => {
            form.error("occurred_on_precision", "needs occurred_on");
            None
        }
        Some(Ok(p)) => Some(p),
        None => occurred_on.map(|_| Precision::Day),
    };
    let country = country_raw.and_then(|c| form.check("country", fields::country(&c)));
    for (name, value, max, multiline) in [
        ("city", &city, fields::CITY_MAX, false),
        ("location_detail", &location_detail, rules::LOCATION_DETAIL_MAX, true),
        ("station_hint", &station_hint, rules::STATION_HINT_MAX, true),
        ("contact", &contact, rules::CONTACT_MAX, true),
    ] {
        if let Some(v) = value {
            form.check(name, fields::text(v, max, multiline));
        }
    }
    let station_id =
        station_raw.and_then(|s| form.check("station_id", crate::http::path_id(&s).map_err(|_| STATION_UNKNOWN)));
    let language = language_raw.and_then(|l| form.check("language", fields::language(&l)));
    let (contact_ok, share_with_authorities) = consent.unwrap_or((None, None));

    Some(Submission {
        kind: kind?,
        tactics: tactic_list,
        narrative: narrative?,
        occurred_on,
        occurred_on_precision: precision,
        country: country?,
        city: city.filter(|c| !c.trim().is_empty()),
        location_detail: location_detail.filter(|v| !v.trim().is_empty()),
        station_id,
        station_hint: station_hint.filter(|v| !v.trim().is_empty()),
        contact: contact.filter(|v| !v.trim().is_empty()),
        contact_ok: contact_ok.unwrap_or(false),
        share_with_authorities: share_with_authorities.unwrap_or(false),
        on_behalf_of_other: on_behalf_of_other.unwrap_or(false),
        language,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::error::{AppError, FieldError};
    use serde_json::{json, Value};

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 28).unwrap()
    }

    fn read(body: Value) -> Result<Submission, Vec<FieldError>> {
        let mut form = Form::new(body).unwrap();
        let submission = submission(&mut form, today());
        match form.finish() {
            Ok(()) => Ok(submission.unwrap()),
            Err(AppError::Validation(errors)) => Err(errors),
            Err(other) => panic!("{other:?}"),
        }
    }

    fn fields(errors: Vec<FieldError>) -> Vec<String> {
        errors.into_iter().map(|e| e.field).collect()
    }

    #[test]
    fn a_minimal_incident() {
        let s = read(json!({"kind": "incident", "tactics": ["threat_to_family"], "narrative": "x", "country": "nl"}))
            .unwrap();
        assert_eq!(s.country, "NL");
        assert!(!s.contact_ok && !s.share_with_authorities && !s.on_behalf_of_other);
    }

    #[test]
    fn every_violation_at_once() {
        let errors = read(json!({
            "kind": "incident",
            "tactics": ["not_a_tactic", 3],
            "narrative": "   ",
            "occurred_on": "2999-01-01",
            "country": "XX",
            "city": "a\nb",
            "contact": "c".repeat(1001),
            "consent": {"contact_ok": "yes", "other": 1},
            "language": "not a tag!",
            "station_id": "nope",
            "surprise": true
        }))
        .unwrap_err();
        assert_eq!(
            fields(errors),
            vec![
                "tactics[1]",
                "tactics[0]",
                "narrative",
                "occurred_on",
                "country",
                "city",
                "station_id",
                "contact",
                "consent.contact_ok",
                "consent",
                "language",
                ""
            ]
        );
    }

    #[test]
    fn incidents_need_tactics_stations_do_not() {
        let errors = read(json!({"kind": "incident", "narrative": "x", "country": "NL"})).unwrap_err();
        assert_eq!(fields(errors), vec!["tactics"]);
        assert!(read(json!({"kind": "station", "narrative": "x", "country": "NL"})).is_ok());
    }

    #[test]
    fn texts_in_any_script_round_trip() {
        for narrative in ["我的家人受到威胁", "ئائىلەمگە تەھدىت قىلدى", "ང་ཚོའི་ནང་མི་ལ་", "🙏🏽 family\n\ttabs"]
        {
            let s = read(json!({"kind": "station", "narrative": narrative, "country": "CA"})).unwrap();
            assert_eq!(s.narrative, narrative);
        }
    }

    #[test]
    fn control_characters_and_nul_are_refused() {
        let errors = read(json!({"kind": "station", "narrative": "a\u{0}b", "country": "CA"})).unwrap_err();
        assert_eq!(fields(errors), vec!["narrative"]);
        let errors = read(json!({"kind": "station", "narrative": "a\u{1b}[31m", "country": "CA"})).unwrap_err();
        assert_eq!(fields(errors), vec!["narrative"]);
    }

    #[test]
    fn lengths_count_characters() {
        let ok = "字".repeat(rules::NARRATIVE_MAX);
        assert!(read(json!({"kind": "station", "narrative": ok, "country": "CA"})).is_ok());
        let long = "字".repeat(rules::NARRATIVE_MAX + 1);
        assert!(read(json!({"kind": "station", "narrative": long, "country": "CA"})).is_err());
    }

    #[test]
    fn dates_and_precision() {
        let s =
            read(json!({"kind": "station", "narrative": "x", "country": "CA", "occurred_on": "2026-11-28"})).unwrap();
        assert_eq!(s.occurred_on_precision, Some(Precision::Day));
        let errors =
            read(json!({"kind": "station", "narrative": "x", "country": "CA", "occurred_on_precision": "month"}))
                .unwrap_err();
        assert_eq!(fields(errors), vec!["occurred_on_precision"]);
        let errors = read(json!({"kind": "station", "narrative": "x", "country": "CA", "occurred_on": "2026-13-01"}))
            .unwrap_err();
        assert_eq!(fields(errors), vec!["occurred_on"]);
    }

    #[test]
    fn duplicate_tactics_are_refused() {
        let errors =
            read(json!({"kind": "incident", "tactics": ["other", "other"], "narrative": "x", "country": "CA"}))
                .unwrap_err();
        assert_eq!(fields(errors), vec!["tactics[1]"]);
    }
}
