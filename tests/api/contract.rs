//! SPEC §10: the code and api-spec/openapi.yaml say the same thing: the same routes, the
//! responses the document describes (checked on every response in `TestApp::send`, see
//! `spec.rs`), and the same enums and limits.

use std::collections::BTreeSet;

use serde_json::{json, Value};

use crate::common::TestApp;
use crate::spec::{self, document, resolve};

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

fn operations() -> impl Iterator<Item = (String, &'static Value)> {
    document()["paths"].as_object().expect("paths").iter().flat_map(|(path, item)| {
        METHODS.iter().filter_map(move |method| Some((format!("{} {path}", method.to_uppercase()), item.get(*method)?)))
    })
}

#[test]
fn every_route_is_in_the_spec_and_every_operation_is_routed() {
    assert!(document()["openapi"].as_str().is_some_and(|v| v.starts_with("3.1")));
    let documented: BTreeSet<String> = operations().map(|(name, _)| name).collect();
    let routed: BTreeSet<String> =
        tipline::routes::table().into_iter().map(|(method, path)| format!("{method} {path}")).collect();
    let missing: Vec<_> = routed.difference(&documented).collect();
    let extra: Vec<_> = documented.difference(&routed).collect();
    assert!(missing.is_empty(), "routes missing from api-spec/openapi.yaml: {missing:?}");
    assert!(extra.is_empty(), "operations in the spec that the app does not serve: {extra:?}");
}

#[test]
fn every_operation_documents_its_errors() {
    for (name, op) in operations() {
        let codes: BTreeSet<&String> =
            op["responses"].as_object().unwrap_or_else(|| panic!("{name}: no responses")).keys().collect();
        assert!(codes.iter().any(|c| c.starts_with('2')), "{name}: no success response");
        let public = op.get("security").and_then(Value::as_array).is_some_and(|s| s.is_empty());
        if !public {
            assert!(codes.contains(&"401".to_string()), "{name}: 401 not documented");
        }
        if let Some(body) = op.get("requestBody") {
            // A JSON body may come as another type (415); an evidence file is taken as any type.
            let json = body["content"].get("application/json").is_some();
            let codes_for_body: &[&str] = if json { &["400", "413", "415", "422"] } else { &["400", "413", "422"] };
            for code in codes_for_body {
                assert!(codes.contains(&code.to_string()), "{name}: {code} not documented");
            }
        }
    }
}

// --- Responses are closed: a field the document lacks is an error --------------------------

/// Every object schema a response can hold states what it admits beyond its `properties`:
/// `additionalProperties: false` (or `unevaluatedProperties: false`) for the API's own objects,
/// `additionalProperties: true` only where the document leaves an object open on purpose.
#[test]
fn every_response_object_is_closed_or_deliberately_open() {
    let mut seen = BTreeSet::new();
    let mut unstated = Vec::new();
    for (name, op) in operations() {
        for (status, response) in op["responses"].as_object().expect("responses") {
            for (media_type, content) in resolve(response)["content"].as_object().into_iter().flatten() {
                let place = format!("{name} {status} {media_type}");
                walk(&content["schema"], &place, &mut seen, &mut unstated);
            }
        }
    }
    assert!(unstated.is_empty(), "response objects that do not say whether they admit other fields: {unstated:#?}");
}

fn walk(schema: &'static Value, place: &str, seen: &mut BTreeSet<&'static str>, unstated: &mut Vec<String>) {
    if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
        if seen.insert(reference) {
            walk(resolve(schema), reference, seen, unstated);
        }
    }
    let Some(map) = schema.as_object() else { return };
    let is_object = match &map.get("type") {
        Some(Value::String(t)) => t == "object",
        Some(Value::Array(types)) => types.iter().any(|t| t == "object"),
        _ => map.contains_key("properties"),
    };
    if is_object && !map.contains_key("additionalProperties") && !map.contains_key("unevaluatedProperties") {
        unstated.push(place.to_string());
    }
    for (keyword, value) in map {
        match keyword.as_str() {
            "properties" => {
                for (field, sub) in value.as_object().into_iter().flatten() {
                    walk(sub, &format!("{place}.{field}"), seen, unstated);
                }
            }
            "items" | "additionalProperties" | "unevaluatedProperties" => {
                walk(value, &format!("{place}[]"), seen, unstated)
            }
            "allOf" | "anyOf" | "oneOf" => {
                for sub in value.as_array().into_iter().flatten() {
                    walk(sub, place, seen, unstated);
                }
            }
            _ => {}
        }
    }
}

/// The check of `TestApp::send` catches a field the code would add to a response and the
/// document does not list, at the top level and inside nested objects; the same body without
/// it passes.
#[actix_web::test]
async fn a_response_field_missing_from_the_spec_fails() {
    let app = TestApp::sqlite().await;
    let worker = app.caseworker().await;
    let me = app.get("/api/v1/me", Some(&worker.access_token)).await;
    me.assert_status(200);
    let mut body = me.json();
    assert_eq!(check_json("GET", "/api/v1/me", 200, &body), Ok(()));
    body["nickname"] = json!("Ana");
    let error = check_json("GET", "/api/v1/me", 200, &body).expect_err("an extra field must be refused");
    assert!(error.contains("nickname"), "{error}");

    let station = json!({
        "name": "Fuzhou PSB station, Rotterdam", "country": "NL", "visibility": "public",
        "sources": [{"title": "Safeguard Defenders: 110 Overseas", "url": "https://example.org/110", "published_on": "2022-09-12"}]
    });
    let created = app.post("/api/v1/stations", Some(&worker.access_token), station).await;
    created.assert_status(201);
    let path = format!("/api/v1/stations/{}", created.json()["id"].as_str().expect("id"));
    let public = app.get(&path, None).await;
    public.assert_status(200);
    let mut body = public.json();
    assert_eq!(check_json("GET", &path, 200, &body), Ok(()));
    body["sources"][0]["archived_at"] = json!("2024-01-01");
    let error = check_json("GET", &path, 200, &body).expect_err("an extra nested field must be refused");
    assert!(error.contains("archived_at"), "{error}");
}

#[test]
fn a_status_or_value_outside_the_spec_fails() {
    let user = json!({
        "id": "9b2f6a8e-3c1d-4e5f-8a7b-1c2d3e4f5a6b", "email": "ana@example.org", "display_name": "Ana",
        "role": "reporter", "active": true, "created_at": "2026-11-28T10:15:30.123456Z"
    });
    assert_eq!(check_json("GET", "/api/v1/me", 200, &user), Ok(()));
    assert!(check_json("GET", "/api/v1/me", 418, &user).is_err(), "an undocumented status");
    let mut superuser = user.clone();
    superuser["role"] = json!("superuser");
    assert!(check_json("GET", "/api/v1/me", 200, &superuser).is_err(), "a role the document does not list");
    let mut missing = user.clone();
    missing.as_object_mut().expect("object").remove("created_at");
    assert!(check_json("GET", "/api/v1/me", 200, &missing).is_err(), "a missing required field");
    assert!(spec::check("DELETE", "/api/v1/me", 200, None, b"").is_err(), "a method the path does not have");
    assert!(spec::check("GET", "/api/v1/nowhere", 200, None, b"").is_err(), "a path the document does not have");
}

fn check_json(method: &str, path: &str, status: u16, body: &Value) -> Result<(), String> {
    spec::check(method, path, status, Some("application/json"), body.to_string().as_bytes())
}

// --- The code's enums and limits are the document's ----------------------------------------
//
// One function per constant of the code, each naming the places of the document that state it
// (JSON pointers under `components/schemas`).

/// The values an enum of the document allows, `null` left out (in a request it means absent).
fn spec_enum(place: &str) -> Vec<&'static str> {
    let mut schema = schema_at(place);
    if let Some(branches) = schema.get("oneOf").and_then(Value::as_array) {
        schema = branches.iter().map(resolve).find(|b| b.get("enum").is_some()).unwrap_or(schema);
    }
    let values = schema["enum"].as_array().unwrap_or_else(|| panic!("{place}: no enum"));
    values.iter().filter_map(Value::as_str).collect()
}

fn spec_number(place: &str, keyword: &str) -> i64 {
    schema_at(place)[keyword].as_i64().unwrap_or_else(|| panic!("{place}: no {keyword}"))
}

fn schema_at(place: &str) -> &'static Value {
    let pointer = format!("/components/schemas/{place}");
    resolve(document().pointer(&pointer).unwrap_or_else(|| panic!("no {pointer} in the document")))
}

#[track_caller]
fn assert_enum(code: &[&str], places: &[&str]) {
    for place in places {
        assert_eq!(spec_enum(place), code, "{place}: the document and the code list different values");
    }
}

#[track_caller]
fn assert_number(code: usize, keyword: &str, places: &[impl AsRef<str>]) {
    for place in places.iter().map(AsRef::as_ref) {
        assert_eq!(spec_number(place, keyword), code as i64, "{place}: {keyword} differs from the code");
    }
}

/// `field` in each of `schemas`, as places for `assert_number`.
fn field_of(schemas: &[&str], field: &str) -> Vec<String> {
    schemas.iter().map(|schema| format!("{schema}/properties/{field}")).collect()
}

/// The words of one of the code's closed vocabularies, in order.
macro_rules! words {
    ($vocabulary:ty) => {
        <$vocabulary>::ALL.iter().map(|v| v.as_str()).collect::<Vec<&str>>()
    };
}

#[test]
fn roles() {
    assert_enum(&words!(tipline::users::Role), &["Role", "UserUpdateRequest/properties/role"]);
}

#[test]
fn report_kinds_and_date_precisions() {
    assert_enum(&words!(tipline::reports::Kind), &["ReportKind"]);
    assert_enum(&words!(tipline::reports::Precision), &["DatePrecision"]);
}

#[test]
fn report_statuses() {
    assert_enum(&words!(tipline::reports::Status), &["ReportStatus", "TriageRequest/properties/status"]);
}

/// Cases take the priorities of reports.
#[test]
fn priorities() {
    assert_enum(
        &words!(tipline::reports::Priority),
        &[
            "ReportPriority",
            "TriageRequest/properties/priority",
            "CasePriority",
            "CaseUpdateRequest/properties/priority",
        ],
    );
}

#[test]
fn report_resolutions() {
    assert_enum(&words!(tipline::reports::Resolution), &["ReportResolution", "TriageRequest/properties/resolution"]);
}

#[test]
fn report_sources() {
    assert_enum(&words!(tipline::reports::Source), &["ReportSource"]);
}

#[test]
fn tactics() {
    let tactics = words!(tipline::reports::Tactic);
    assert_enum(&tactics, &["Tactic"]);
    assert_number(tactics.len(), "maxItems", &["ReportSubmission/properties/tactics"]);
}

#[test]
fn case_statuses() {
    assert_enum(&words!(tipline::cases::CaseStatus), &["CaseStatus", "CaseUpdateRequest/properties/status"]);
}

#[test]
fn link_relations() {
    assert_enum(&words!(tipline::cases::Relation), &["LinkRelation"]);
}

#[test]
fn link_confidences() {
    assert_enum(&words!(tipline::cases::Confidence), &["LinkConfidence"]);
}

#[test]
fn station_statuses() {
    assert_enum(
        &words!(tipline::stations::StationStatus),
        &["StationStatus", "StationUpdateRequest/properties/status"],
    );
}

#[test]
fn station_visibilities() {
    assert_enum(
        &words!(tipline::stations::Visibility),
        &["StationVisibility", "StationUpdateRequest/properties/visibility"],
    );
}

/// `limit` of every list: what `cursor::limit` accepts and what it takes when it is absent.
#[test]
fn list_limit() {
    use tipline::http::cursor::limit;
    let schema = &resolve(&document()["components"]["parameters"]["Limit"])["schema"];
    let bound = |keyword: &str| schema[keyword].as_i64().unwrap_or_else(|| panic!("Limit: no {keyword}"));
    let (minimum, maximum, default) = (bound("minimum"), bound("maximum"), bound("default"));
    assert_eq!(limit(None), Ok(default), "default limit");
    assert_eq!(limit(Some(&minimum.to_string())), Ok(minimum), "smallest limit");
    assert!(limit(Some(&(minimum - 1).to_string())).is_err(), "below the smallest limit");
    assert_eq!(limit(Some(&maximum.to_string())), Ok(maximum), "largest limit");
    assert!(limit(Some(&(maximum + 1).to_string())).is_err(), "above the largest limit");
    let pages = [
        "UserPage",
        "ReportPage",
        "QueuePage",
        "MessageThread",
        "NoteList",
        "CasePage",
        "PublicStationPage",
        "StaffStationPage",
        "AuditPage",
    ];
    // A page holds at most `limit` items.
    assert_number(usize::try_from(maximum).expect("positive"), "maxItems", &field_of(&pages, "items"));
}

#[test]
fn token_lifetime() {
    let seconds = usize::try_from(tipline::auth::token::ACCESS_TTL_SECS).expect("positive");
    assert_number(seconds, "const", &["TokenPair/properties/expires_in", "ReceiptToken/properties/expires_in"]);
}

#[test]
fn throttle_lockout() {
    let retry_after = &document()["components"]["headers"]["RetryAfter"]["schema"]["maximum"];
    assert_eq!(retry_after.as_i64(), Some(tipline::auth::rules::LOCKOUT.num_seconds()));
}

#[test]
fn email_length() {
    assert_number(tipline::users::rules::EMAIL_MAX_CHARS, "maxLength", &["Email", "User/properties/email"]);
}

#[test]
fn password_length() {
    assert_number(tipline::users::rules::PASSWORD_MIN_CHARS, "minLength", &["Password"]);
    assert_number(tipline::users::rules::PASSWORD_MAX_CHARS, "maxLength", &["Password"]);
}

#[test]
fn display_name_length() {
    let places = ["DisplayName", "UserUpdateRequest/properties/display_name", "User/properties/display_name"];
    assert_number(tipline::users::rules::DISPLAY_NAME_MAX_CHARS, "maxLength", &places);
}

#[test]
fn report_text_lengths() {
    use tipline::reports::rules;
    let submission = |field| field_of(&["ReportSubmission"], field);
    assert_number(rules::NARRATIVE_MAX, "maxLength", &submission("narrative"));
    let cities = field_of(&["ReportSubmission", "StationCreateRequest", "StationUpdateRequest"], "city");
    assert_number(tipline::fields::CITY_MAX, "maxLength", &cities);
    assert_number(rules::LOCATION_DETAIL_MAX, "maxLength", &submission("location_detail"));
    assert_number(rules::STATION_HINT_MAX, "maxLength", &submission("station_hint"));
    assert_number(rules::CONTACT_MAX, "maxLength", &submission("contact"));
    assert_number(tipline::fields::LANGUAGE_MAX, "maxLength", &submission("language"));
    assert_number(rules::MESSAGE_MAX, "maxLength", &field_of(&["MessageRequest", "NoteRequest"], "body"));
}

#[test]
fn triage_limits() {
    use tipline::triage::rules;
    assert_number(rules::TAG_MAX_CHARS, "maxLength", &["Tag", "StoredTag"]);
    assert_number(rules::TAGS_MAX, "maxItems", &field_of(&["TriageRequest", "StaffView", "QueueItem"], "tags"));
    assert_number(rules::REASON_MAX, "maxLength", &field_of(&["TriageRequest"], "reason"));
}

#[test]
fn case_limits() {
    use tipline::cases::rules;
    let cases = ["CaseCreateRequest", "CaseUpdateRequest", "CaseView", "CaseDetail"];
    assert_number(rules::TITLE_MAX, "maxLength", &field_of(&cases, "title"));
    assert_number(rules::SUMMARY_MAX, "maxLength", &field_of(&cases, "summary"));
    assert_number(rules::LINK_NOTE_MAX, "maxLength", &field_of(&["LinkRequest", "LinkView"], "note"));
    assert_number(rules::REPORTS_MAX, "maxItems", &["CaseCreateRequest/properties/report_ids"]);
}

#[test]
fn station_limits() {
    use tipline::stations::rules;
    let requests = ["StationCreateRequest", "StationUpdateRequest"];
    let all = ["StationCreateRequest", "StationUpdateRequest", "PublicStation", "StaffStation", "StationDetail"];
    assert_number(rules::NAME_MAX, "maxLength", &field_of(&all, "name"));
    assert_number(rules::BUREAU_MAX, "maxLength", &field_of(&requests, "operating_bureau"));
    assert_number(rules::ADDRESS_MAX, "maxLength", &field_of(&requests, "address"));
    assert_number(rules::NOTES_MAX, "maxLength", &field_of(&requests, "notes"));
    assert_number(rules::SOURCES_MAX, "maxItems", &field_of(&all, "sources"));
    assert_number(rules::SOURCE_TITLE_MAX, "maxLength", &field_of(&["SourceRequest", "Source"], "title"));
    assert_number(rules::URL_MAX, "maxLength", &field_of(&["SourceRequest", "Source"], "url"));
}
