//! The authorization matrix: every route × every kind of caller, with the status each gets.
//! The test runs every cell on both backends and fails when the app has a route the table
//! does not list. Mutating routes get bodies that are invalid (or targets that do not exist),
//! so a caller who is let through gets 422/404 and nothing changes; the one exception, logout,
//! runs last.
//!
//! A 422 there says only that the body was read before anything else was decided, so a second
//! pass sends every route that takes a body (and the two DELETEs, with a target that exists) a
//! body that passes validation, with a current `If-Match` where one is needed: a caller let
//! through gets the 2xx, with its effect in the database, and a caller kept out gets the
//! 401/403/404 of the access rule that keeps them out, with nothing changed.

use std::collections::BTreeSet;

use actix_web::test::TestRequest;
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use serde_json::json;

use crate::both_backends;
use crate::common::{Client, Response, TestApp, PASSWORD};
use tipline::db::Id;
use tipline::users::Role;

/// Callers, in the order of each row's expected statuses.
const CALLERS: [&str; 8] =
    ["anonymous", "receipt", "reporter_a", "reporter_b", "caseworker", "admin", "deactivated", "expired"];

/// (method, route pattern, path with placeholders, JSON body or none, expected status per caller)
type Row = (&'static str, &'static str, &'static str, Option<&'static str>, [u16; 8]);

#[rustfmt::skip]
const MATRIX: &[Row] = &[
    //                                                                                                     anon rcpt repA repB case admn deac expd
    ("GET",    "/healthz",                          "/healthz",                                  None,       [200, 200, 200, 200, 200, 200, 200, 200]),
    ("GET",    "/readyz",                           "/readyz",                                   None,       [200, 200, 200, 200, 200, 200, 200, 200]),
    ("POST",   "/api/v1/auth/register",             "/api/v1/auth/register",                     Some("{}"), [422, 422, 422, 422, 422, 422, 422, 422]),
    ("POST",   "/api/v1/auth/login",                "/api/v1/auth/login",                        Some("{}"), [422, 422, 422, 422, 422, 422, 422, 422]),
    ("POST",   "/api/v1/auth/refresh",              "/api/v1/auth/refresh",                      Some("{}"), [422, 422, 422, 422, 422, 422, 422, 422]),
    ("POST",   "/api/v1/auth/receipt",              "/api/v1/auth/receipt",                      Some("{}"), [422, 422, 422, 422, 422, 422, 422, 422]),
    ("GET",    "/api/v1/me",                        "/api/v1/me",                                None,       [401, 401, 200, 200, 200, 200, 401, 401]),
    // Staff of the cast have a confirmed second factor already (409); reporters start one.
    ("POST",   "/api/v1/me/totp",                   "/api/v1/me/totp",                           None,       [401, 401, 200, 200, 409, 409, 401, 401]),
    ("POST",   "/api/v1/me/totp/confirm",           "/api/v1/me/totp/confirm",                   Some("{}"), [401, 401, 422, 422, 422, 422, 401, 401]),
    // Staff may not remove theirs while a second factor is required.
    ("DELETE", "/api/v1/me/totp",                   "/api/v1/me/totp",                           Some("{}"), [401, 401, 422, 422, 403, 403, 401, 401]),
    ("GET",    "/api/v1/users",                     "/api/v1/users",                             None,       [401, 401, 403, 403, 403, 200, 401, 401]),
    ("POST",   "/api/v1/users",                     "/api/v1/users",                             Some("{}"), [401, 401, 403, 403, 403, 422, 401, 401]),
    ("GET",    "/api/v1/users/{id}",                "/api/v1/users/{user}",                      None,       [401, 401, 403, 403, 403, 200, 401, 401]),
    ("PATCH",  "/api/v1/users/{id}",                "/api/v1/users/{user}",                      Some("{}"), [401, 401, 403, 403, 403, 422, 401, 401]),
    ("POST",   "/api/v1/users/{id}/sessions/revoke","/api/v1/users/{user}/sessions/revoke",      None,       [401, 401, 403, 403, 403, 200, 401, 401]),
    ("POST",   "/api/v1/users/{id}/unlock",         "/api/v1/users/{user}/unlock",               None,       [401, 401, 403, 403, 403, 204, 401, 401]),
    ("POST",   "/api/v1/users/{id}/totp/reset",     "/api/v1/users/{user}/totp/reset",           None,       [401, 401, 403, 403, 403, 204, 401, 401]),
    ("POST",   "/api/v1/reports",                   "/api/v1/reports",                           Some("{}"), [422, 403, 422, 422, 422, 403, 401, 401]),
    ("GET",    "/api/v1/reports",                   "/api/v1/reports",                           None,       [401, 401, 403, 403, 200, 200, 401, 401]),
    ("GET",    "/api/v1/reports/mine",              "/api/v1/reports/mine",                      None,       [401, 401, 200, 200, 403, 403, 401, 401]),
    ("GET",    "/api/v1/reports/{id}",              "/api/v1/reports/{report}",                  None,       [401, 404, 200, 404, 200, 403, 401, 401]),
    ("PATCH",  "/api/v1/reports/{id}",              "/api/v1/reports/{report}",                  Some("{}"), [401, 401, 403, 403, 422, 422, 401, 401]),
    ("GET",    "/api/v1/reports/{id}/notes",        "/api/v1/reports/{report}/notes",            None,       [401, 401, 403, 403, 200, 403, 401, 401]),
    ("POST",   "/api/v1/reports/{id}/notes",        "/api/v1/reports/{report}/notes",            Some("{}"), [401, 401, 403, 403, 422, 403, 401, 401]),
    ("GET",    "/api/v1/reports/{id}/messages",     "/api/v1/reports/{report}/messages",         None,       [401, 404, 200, 404, 200, 403, 401, 401]),
    ("POST",   "/api/v1/reports/{id}/messages",     "/api/v1/reports/{report}/messages",         Some("{}"), [401, 422, 422, 422, 422, 403, 401, 401]),
    // The body of an upload is the file: an empty one is 422. No file has this id.
    ("GET",    "/api/v1/reports/{id}/attachments",  "/api/v1/reports/{report}/attachments",      None,       [401, 404, 200, 404, 200, 403, 401, 401]),
    ("POST",   "/api/v1/reports/{id}/attachments",  "/api/v1/reports/{report}/attachments",      None,       [401, 404, 422, 404, 422, 403, 401, 401]),
    ("GET",    "/api/v1/reports/{id}/attachments/{aid}", "/api/v1/reports/{report}/attachments/{user}", None, [401, 404, 404, 404, 404, 403, 401, 401]),
    // Originals are for caseworkers, who must give a reason (checked before anything is looked up).
    ("GET",    "/api/v1/reports/{id}/attachments/{aid}/original", "/api/v1/reports/{report}/attachments/{user}/original", None, [401, 403, 403, 403, 422, 403, 401, 401]),
    // Only the reporter withdraws; the body is read before the report is looked up.
    ("POST",   "/api/v1/reports/{id}/withdraw",     "/api/v1/reports/{report}/withdraw",         Some(r#"{"erase": 1}"#), [401, 422, 422, 422, 403, 403, 401, 401]),
    // Not the receipt holder's report: a new receipt for reporter A's, which had none.
    ("POST",   "/api/v1/reports/{id}/receipt",      "/api/v1/reports/{report}/receipt",          None,       [401, 404, 201, 404, 201, 403, 401, 401]),
    ("DELETE", "/api/v1/reports/{id}/receipt",      "/api/v1/reports/{report}/receipt",          None,       [401, 401, 403, 403, 204, 403, 401, 401]),
    ("POST",   "/api/v1/reports/{id}/legal-hold",   "/api/v1/reports/{report}/legal-hold",       None,       [401, 401, 403, 403, 200, 403, 401, 401]),
    ("DELETE", "/api/v1/reports/{id}/legal-hold",   "/api/v1/reports/{report}/legal-hold",       None,       [401, 401, 403, 403, 204, 403, 401, 401]),
    ("POST",   "/api/v1/cases",                     "/api/v1/cases",                             Some("{}"), [401, 401, 403, 403, 422, 403, 401, 401]),
    ("GET",    "/api/v1/cases",                     "/api/v1/cases",                             None,       [401, 401, 403, 403, 200, 200, 401, 401]),
    ("GET",    "/api/v1/cases/{id}",                "/api/v1/cases/{case}",                      None,       [401, 401, 403, 403, 200, 200, 401, 401]),
    ("PATCH",  "/api/v1/cases/{id}",                "/api/v1/cases/{case}",                      Some("{}"), [401, 401, 403, 403, 422, 403, 401, 401]),
    ("POST",   "/api/v1/cases/{id}/reports",        "/api/v1/cases/{case}/reports",              Some("{}"), [401, 401, 403, 403, 422, 403, 401, 401]),
    ("DELETE", "/api/v1/cases/{id}/reports/{report_id}", "/api/v1/cases/{case}/reports/{report}",None,       [401, 401, 403, 403, 404, 403, 401, 401]),
    ("POST",   "/api/v1/cases/{id}/stations",       "/api/v1/cases/{case}/stations",             Some("{}"), [401, 401, 403, 403, 422, 403, 401, 401]),
    ("DELETE", "/api/v1/cases/{id}/stations/{station_id}", "/api/v1/cases/{case}/stations/{station}", None,  [401, 401, 403, 403, 404, 403, 401, 401]),
    ("POST",   "/api/v1/cases/{id}/legal-hold",     "/api/v1/cases/{case}/legal-hold",           None,       [401, 401, 403, 403, 200, 403, 401, 401]),
    ("DELETE", "/api/v1/cases/{id}/legal-hold",     "/api/v1/cases/{case}/legal-hold",           None,       [401, 401, 403, 403, 204, 403, 401, 401]),
    ("GET",    "/api/v1/stations",                  "/api/v1/stations",                          None,       [200, 200, 200, 200, 200, 200, 401, 401]),
    ("POST",   "/api/v1/stations",                  "/api/v1/stations",                          Some("{}"), [401, 401, 403, 403, 422, 422, 401, 401]),
    ("GET",    "/api/v1/stations/{id}",             "/api/v1/stations/{station}",                None,       [200, 200, 200, 200, 200, 200, 401, 401]),
    ("PATCH",  "/api/v1/stations/{id}",             "/api/v1/stations/{station}",                Some("{}"), [401, 401, 403, 403, 422, 422, 401, 401]),
    ("GET",    "/api/v1/audit",                     "/api/v1/audit",                             None,       [401, 401, 403, 403, 403, 200, 401, 401]),
    ("GET",    "/api/v1/audit/verify",              "/api/v1/audit/verify",                      None,       [401, 401, 403, 403, 403, 200, 401, 401]),
    ("GET",    "/api/v1/audit/checkpoint",          "/api/v1/audit/checkpoint",                  None,       [401, 401, 403, 403, 403, 200, 401, 401]),
    ("GET",    "/api/v1/audit/public-key",          "/api/v1/audit/public-key",                  None,       [401, 401, 403, 403, 403, 200, 401, 401]),
    ("GET",    "/api/v1/audit/entries/{seq}/proof", "/api/v1/audit/entries/1/proof",             None,       [401, 401, 403, 403, 403, 200, 401, 401]),
    ("GET",    "/api/v1/audit/consistency",         "/api/v1/audit/consistency?from=1",          None,       [401, 401, 403, 403, 403, 200, 401, 401]),
    // The reporter website reads no token: every caller gets the same page. Its posts take
    // forms, not JSON (anything else is 415); tests/api/pages.rs posts real forms.
    ("GET",    "/",                                 "/",                                         None,       [200, 200, 200, 200, 200, 200, 200, 200]),
    ("GET",    "/assets/style.css",                 "/assets/style.css",                         None,       [200, 200, 200, 200, 200, 200, 200, 200]),
    ("GET",    "/{lang}/report",                    "/ug/report",                                None,       [200, 200, 200, 200, 200, 200, 200, 200]),
    ("POST",   "/{lang}/report",                    "/ug/report",                                None,       [415, 415, 415, 415, 415, 415, 415, 415]),
    ("GET",    "/{lang}/follow-up",                 "/zh-Hans/follow-up",                        None,       [200, 200, 200, 200, 200, 200, 200, 200]),
    ("POST",   "/{lang}/follow-up",                 "/zh-Hans/follow-up",                        None,       [415, 415, 415, 415, 415, 415, 415, 415]),
    ("GET",    "/{lang}/about",                     "/bo/about",                                 None,       [200, 200, 200, 200, 200, 200, 200, 200]),
    // Last: it ends the callers' sessions.
    ("POST",   "/api/v1/auth/logout",               "/api/v1/auth/logout",                       None,       [401, 401, 204, 204, 204, 204, 401, 401]),
];

#[test]
fn the_matrix_lists_every_route() {
    let listed: BTreeSet<String> = MATRIX.iter().map(|(m, pattern, ..)| format!("{m} {pattern}")).collect();
    let routed: BTreeSet<String> =
        tipline::routes::table().into_iter().map(|(method, path)| format!("{method} {path}")).collect();
    let missing: Vec<_> = routed.difference(&listed).collect();
    let stale: Vec<_> = listed.difference(&routed).collect();
    assert!(missing.is_empty(), "routes without a row in the authorization matrix: {missing:?}");
    assert!(stale.is_empty(), "matrix rows for routes that do not exist: {stale:?}");
}

/// The callers and the records the cells are about.
struct Cast {
    tokens: [Option<String>; 8],
    worker: Client,
    extra_user: Id,
    extra_email: String,
    /// Reporter A's report.
    report: String,
    /// The anonymous report whose receipt the receipt holder has.
    anonymous_report: String,
    receipt: String,
    case: String,
    station: String,
}

impl Cast {
    // The cast: two reporters (A owns the report), the holder of another report's receipt,
    // staff, a deactivated account and an expired token.
    async fn new(app: &TestApp) -> Cast {
        let reporter_a = app.reporter().await;
        let reporter_b = app.reporter().await;
        let worker = app.caseworker().await;
        let admin = app.admin().await;
        let deactivated = app.reporter().await;
        let (extra_user, extra_email) = app.insert_user(Role::Reporter);
        let report = app
            .post(
                "/api/v1/reports",
                Some(&reporter_a.access_token),
                json!({"kind": "station", "narrative": "A", "country": "NL"}),
            )
            .await
            .json()["id"]
            .as_str()
            .unwrap()
            .to_string();
        let anonymous = app
            .post("/api/v1/reports", None, json!({"kind": "station", "narrative": "B", "country": "NL"}))
            .await
            .json();
        let receipt = anonymous["receipt"].as_str().unwrap().to_string();
        let receipt_token = app.post("/api/v1/auth/receipt", None, json!({"receipt": receipt})).await.json()
            ["access_token"]
            .as_str()
            .unwrap()
            .to_string();
        let case = app.post("/api/v1/cases", Some(&worker.access_token), json!({"title": "Matrix"})).await.json()["id"]
            .as_str()
            .unwrap()
            .to_string();
        let station = app
            .post(
                "/api/v1/stations",
                Some(&worker.access_token),
                json!({"name": "Matrix station", "country": "NL", "visibility": "public"}),
            )
            .await
            .json()["id"]
            .as_str()
            .unwrap()
            .to_string();
        let patch = json!({"active": false});
        app.patch(&format!("/api/v1/users/{}", deactivated.id), Some(&admin.access_token), patch)
            .await
            .assert_status(200);
        let expired = {
            let key = tipline::crypto::derive_key(app.config.jwt_secret.expose(), "jwt-hs256");
            let now = chrono::Utc::now().timestamp();
            let mut claims: serde_json::Value = {
                use base64::Engine;
                let payload = worker.access_token.split('.').nth(1).unwrap();
                serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap())
                    .unwrap()
            };
            claims["iat"] = json!(now - 7200);
            claims["nbf"] = json!(now - 7200);
            claims["exp"] = json!(now - 3600);
            encode(&Header::new(Algorithm::HS256), &claims, &EncodingKey::from_secret(&key)).unwrap()
        };
        let tokens = [
            None,
            Some(receipt_token),
            Some(reporter_a.access_token),
            Some(reporter_b.access_token),
            Some(worker.access_token.clone()),
            Some(admin.access_token),
            Some(deactivated.access_token),
            Some(expired),
        ];
        Cast {
            tokens,
            worker,
            extra_user,
            extra_email,
            report,
            anonymous_report: anonymous["id"].as_str().unwrap().to_string(),
            receipt,
            case,
            station,
        }
    }

    /// The template with the cast's ids in place of the placeholders.
    fn fill(&self, template: &str) -> String {
        template
            .replace("{user}", &self.extra_user.to_string())
            .replace("{report}", &self.report)
            .replace("{anonymous_report}", &self.anonymous_report)
            .replace("{case}", &self.case)
            .replace("{station}", &self.station)
            .replace("{worker}", &self.worker.id.to_string())
            .replace("{receipt}", &self.receipt)
            .replace("{email}", &self.extra_email)
    }
}

/// Sends one cell's request; a refused one must be a problem+json.
async fn send_cell(
    app: &TestApp,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&str>,
    if_match: Option<&str>,
) -> Response {
    let mut req = TestRequest::default().method(method.parse().unwrap()).uri(path);
    if let Some(token) = token {
        req = req.insert_header(("Authorization", format!("Bearer {token}")));
    }
    if let Some(body) = body {
        req = req.insert_header(("content-type", "application/json")).set_payload(body.to_string());
    }
    if let Some(etag) = if_match {
        req = req.insert_header(("If-Match", etag.to_string()));
    }
    let res = app.send(req).await;
    if res.status.as_u16() >= 400 {
        assert_eq!(res.header("content-type"), Some("application/problem+json"), "{method} {path}");
    }
    res
}

async fn every_cell_of_the_matrix(app: TestApp) {
    let cast = Cast::new(&app).await;
    let mut failures = Vec::new();
    for (method, _, template, body, expected) in MATRIX {
        let path = cast.fill(template);
        for (i, token) in cast.tokens.iter().enumerate() {
            let res = send_cell(&app, method, &path, token.as_deref(), *body, None).await;
            let got = res.status.as_u16();
            if got != expected[i] {
                failures.push(format!(
                    "{method} {template} as {}: expected {}, got {got}: {}",
                    CALLERS[i],
                    expected[i],
                    res.text()
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{} cell(s) differ:\n{}", failures.len(), failures.join("\n"));
    // Nothing the refused or invalid calls sent was kept.
    assert_eq!(app.count("cases"), 1);
    assert_eq!(app.count("stations"), 1);
    assert_eq!(app.count("reports"), 2);
    assert_eq!(app.count("report_notes"), 0);
    assert_eq!(app.count("report_messages"), 0);
}

both_backends!(every_cell_of_the_matrix);

/// A record with an ETag, read by staff: for `If-Match`, and to see whether a cell changed it.
#[derive(Clone, Copy, Debug)]
enum Versioned {
    Report,
    Case,
    Station,
}

/// What a cell that is let through leaves behind; a refused cell leaves nothing.
#[derive(Clone, Copy, Debug)]
enum Effect {
    /// One more row in `SELECT COUNT(*) FROM <this>`.
    Adds(&'static str),
    /// One row fewer there.
    Removes(&'static str),
    /// The record's version moves on by one.
    Bumps(Versioned),
    /// Nothing a count or a version shows (a sign-in, a receipt exchange, a rename to the same name).
    Unseen,
}

/// What must hold before each cell, so that every caller meets the record in the same state
/// whatever the callers before them were allowed to do to it.
#[derive(Clone, Copy, Debug)]
enum Before {
    Nothing,
    ReportOutOfCase,
    ReportInCase,
    StationUnlinked,
    StationLinked,
}

use Before::*;
use Effect::*;

/// (method, route pattern, path, valid body, If-Match of, before each cell, effect, expected status per caller).
/// In bodies, `{n}` is a number of the cell's own, `{refresh}` a refresh token of the extra user
/// issued for the cell, `{password}` the test password.
type ValidRow =
    (&'static str, &'static str, &'static str, Option<&'static str>, Option<Versioned>, Before, Effect, [u16; 8]);

#[rustfmt::skip]
const VALID: &[ValidRow] = &[
    //                                                                                                                                                                                                      anon rcpt repA repB case admn deac expd
    ("POST",   "/api/v1/auth/register",             "/api/v1/auth/register",                 Some(r#"{"password": "{password}", "display_name": "Valid"}"#), None, Nothing, Adds("users"),                [201, 201, 201, 201, 201, 201, 201, 201]),
    ("POST",   "/api/v1/auth/login",                "/api/v1/auth/login",                    Some(r#"{"account": "{email}", "password": "{password}"}"#),                 None,                   Nothing,         Adds("sessions"),             [200, 200, 200, 200, 200, 200, 200, 200]),
    ("POST",   "/api/v1/auth/refresh",              "/api/v1/auth/refresh",                  Some(r#"{"refresh_token": "{refresh}"}"#),                                   None,                   Nothing,         Unseen,                       [200, 200, 200, 200, 200, 200, 200, 200]),
    ("POST",   "/api/v1/auth/receipt",              "/api/v1/auth/receipt",                  Some(r#"{"receipt": "{receipt}"}"#),                                         None,                   Nothing,         Unseen,                       [200, 200, 200, 200, 200, 200, 200, 200]),
    ("POST",   "/api/v1/users",                     "/api/v1/users",                         Some(r#"{"email": "made-{n}@example.org", "password": "{password}", "role": "caseworker", "display_name": "Made"}"#), None, Nothing, Adds("users"),               [401, 401, 403, 403, 403, 201, 401, 401]),
    ("PATCH",  "/api/v1/users/{id}",                "/api/v1/users/{user}",                  Some(r#"{"display_name": "Renamed"}"#),                                      None,                   Nothing,         Unseen,                       [401, 401, 403, 403, 403, 200, 401, 401]),
    ("POST",   "/api/v1/reports",                   "/api/v1/reports",                       Some(r#"{"kind": "station", "narrative": "Valid", "country": "NL"}"#),       None,                   Nothing,         Adds("reports"),              [201, 403, 201, 201, 201, 403, 401, 401]),
    // Admins may change the assignee and nothing else.
    ("PATCH",  "/api/v1/reports/{id}",              "/api/v1/reports/{report}",              Some(r#"{"priority": "high", "tags": ["valid-{n}"]}"#),                      Some(Versioned::Report), Nothing,        Bumps(Versioned::Report),     [401, 401, 403, 403, 200, 403, 401, 401]),
    ("PATCH",  "/api/v1/reports/{id}",              "/api/v1/reports/{report}",              Some(r#"{"assignee_id": "{worker}"}"#),                                      Some(Versioned::Report), Nothing,        Unseen,                       [401, 401, 403, 403, 200, 200, 401, 401]),
    ("POST",   "/api/v1/reports/{id}/notes",        "/api/v1/reports/{report}/notes",        Some(r#"{"body": "x"}"#),                                                    None,                   Nothing,         Adds("report_notes"),         [401, 401, 403, 403, 201, 403, 401, 401]),
    // The thread of reporter A's report, and that of the report the receipt is for.
    ("POST",   "/api/v1/reports/{id}/messages",     "/api/v1/reports/{report}/messages",     Some(r#"{"body": "x"}"#),                                                    None,                   Nothing,         Adds("report_messages"),      [401, 404, 201, 404, 201, 403, 401, 401]),
    ("POST",   "/api/v1/reports/{id}/messages",     "/api/v1/reports/{anonymous_report}/messages", Some(r#"{"body": "x"}"#),                                              None,                   Nothing,         Adds("report_messages"),      [401, 201, 404, 404, 201, 403, 401, 401]),
    // A two-byte file of reporter A's report.
    ("POST",   "/api/v1/reports/{id}/attachments",  "/api/v1/reports/{report}/attachments",  Some("{}"),                                                                  None,                   Nothing,         Adds("attachments"),          [401, 404, 201, 404, 201, 403, 401, 401]),
    ("POST",   "/api/v1/cases",                     "/api/v1/cases",                         Some(r#"{"title": "T"}"#),                                                   None,                   Nothing,         Adds("cases"),                [401, 401, 403, 403, 201, 403, 401, 401]),
    ("PATCH",  "/api/v1/cases/{id}",                "/api/v1/cases/{case}",                  Some(r#"{"title": "T{n}"}"#),                                                Some(Versioned::Case),  Nothing,         Bumps(Versioned::Case),       [401, 401, 403, 403, 200, 403, 401, 401]),
    ("POST",   "/api/v1/cases/{id}/reports",        "/api/v1/cases/{case}/reports",          Some(r#"{"report_id": "{report}"}"#),                                        None,                   ReportOutOfCase, Adds("reports WHERE case_id IS NOT NULL"),    [401, 401, 403, 403, 200, 403, 401, 401]),
    ("DELETE", "/api/v1/cases/{id}/reports/{report_id}", "/api/v1/cases/{case}/reports/{report}", None,                                                                     None,                   ReportInCase,    Removes("reports WHERE case_id IS NOT NULL"), [401, 401, 403, 403, 204, 403, 401, 401]),
    ("POST",   "/api/v1/cases/{id}/stations",       "/api/v1/cases/{case}/stations",         Some(r#"{"station_id": "{station}", "relation": "mentioned", "confidence": "low"}"#), None,          StationUnlinked, Adds("case_stations"),        [401, 401, 403, 403, 201, 403, 401, 401]),
    ("DELETE", "/api/v1/cases/{id}/stations/{station_id}", "/api/v1/cases/{case}/stations/{station}", None,                                                                 None,                   StationLinked,   Removes("case_stations"),     [401, 401, 403, 403, 204, 403, 401, 401]),
    ("POST",   "/api/v1/stations",                  "/api/v1/stations",                      Some(r#"{"name": "Valid station {n}", "country": "NL"}"#),                   None,                   Nothing,         Adds("stations"),             [401, 401, 403, 403, 201, 201, 401, 401]),
    ("PATCH",  "/api/v1/stations/{id}",             "/api/v1/stations/{station}",            Some(r#"{"name": "Renamed station {n}"}"#),                                  Some(Versioned::Station), Nothing,       Bumps(Versioned::Station),    [401, 401, 403, 403, 200, 200, 401, 401]),
    // Last, since a withdrawal ends the receipt: reporter A withdraws theirs, the receipt holder theirs.
    ("POST",   "/api/v1/reports/{id}/withdraw",     "/api/v1/reports/{report}/withdraw",     Some(r#"{"erase": false}"#),                                                 None,                   Nothing,         Adds("reports WHERE status = 'withdrawn'"), [401, 404, 200, 404, 403, 403, 401, 401]),
    ("POST",   "/api/v1/reports/{id}/withdraw",     "/api/v1/reports/{anonymous_report}/withdraw", Some(r#"{"erase": false}"#),                                           None,                   Nothing,         Adds("reports WHERE status = 'withdrawn'"), [401, 200, 404, 404, 403, 403, 401, 401]),
];

#[test]
fn the_valid_pass_covers_every_route_that_takes_a_body() {
    let with_body: BTreeSet<String> =
        MATRIX.iter().filter(|row| row.3.is_some()).map(|(m, pattern, ..)| format!("{m} {pattern}")).collect();
    let valid: BTreeSet<String> = VALID.iter().map(|(m, pattern, ..)| format!("{m} {pattern}")).collect();
    // Their only valid body is a current code of the caller's own authenticator (and, to
    // confirm, a pending secret): tests/api/second_factor.rs sends them with valid codes.
    let own_code: BTreeSet<String> =
        ["DELETE /api/v1/me/totp", "POST /api/v1/me/totp/confirm"].into_iter().map(String::from).collect();
    let missing: Vec<_> = with_body.difference(&valid).filter(|route| !own_code.contains(*route)).collect();
    assert!(missing.is_empty(), "routes that take a body without a row in the valid pass: {missing:?}");
}

impl Cast {
    fn etag_path(&self, record: Versioned) -> String {
        match record {
            Versioned::Report => format!("/api/v1/reports/{}", self.report),
            Versioned::Case => format!("/api/v1/cases/{}", self.case),
            Versioned::Station => format!("/api/v1/stations/{}", self.station),
        }
    }

    /// The record's current `ETag`, as staff read it.
    async fn etag(&self, app: &TestApp, record: Versioned) -> String {
        let res = app.get(&self.etag_path(record), Some(&self.worker.access_token)).await;
        res.assert_status(200);
        res.header("etag").unwrap_or_else(|| panic!("no ETag on {record:?}")).to_string()
    }

    async fn prepare(&self, app: &TestApp, before: Before) {
        let token = Some(self.worker.access_token.as_str());
        let (res, allowed) = match before {
            Nothing => return,
            ReportOutOfCase => {
                let path = format!("/api/v1/cases/{}/reports/{}", self.case, self.report);
                (send_cell(app, "DELETE", &path, token, None, None).await, [204, 404])
            }
            ReportInCase => {
                let path = format!("/api/v1/cases/{}/reports", self.case);
                (app.post(&path, token, json!({"report_id": self.report})).await, [200, 409])
            }
            StationUnlinked => {
                let path = format!("/api/v1/cases/{}/stations/{}", self.case, self.station);
                (send_cell(app, "DELETE", &path, token, None, None).await, [204, 404])
            }
            StationLinked => {
                let path = format!("/api/v1/cases/{}/stations", self.case);
                let link = json!({"station_id": self.station, "relation": "mentioned", "confidence": "low"});
                (app.post(&path, token, link).await, [201, 409])
            }
        };
        assert!(allowed.contains(&res.status.as_u16()), "{before:?}: {} {}", res.status, res.text());
    }

    /// What the effect of a cell is measured by: a count, or a version.
    async fn measure(&self, app: &TestApp, effect: Effect) -> i64 {
        match effect {
            Adds(table) | Removes(table) => app.count(table),
            Bumps(record) => {
                let etag = self.etag(app, record).await;
                etag.trim_matches('"').parse().unwrap_or_else(|_| panic!("ETag {etag}"))
            }
            Unseen => 0,
        }
    }
}

async fn every_cell_with_a_valid_body(app: TestApp) {
    let cast = Cast::new(&app).await;
    let mut failures = Vec::new();
    let mut n = 0;
    for (method, pattern, template, body, if_match, before, effect, expected) in VALID {
        let path = cast.fill(template);
        for (i, token) in cast.tokens.iter().enumerate() {
            n += 1;
            cast.prepare(&app, *before).await;
            let body = match body {
                Some(body) => {
                    let mut body = cast.fill(body).replace("{n}", &n.to_string()).replace("{password}", PASSWORD);
                    if body.contains("{refresh}") {
                        let res = app.login(&cast.extra_email, PASSWORD).await;
                        res.assert_status(200);
                        body = body.replace("{refresh}", res.json()["refresh_token"].as_str().unwrap());
                    }
                    Some(body)
                }
                None => None,
            };
            let etag = match if_match {
                Some(record) => Some(cast.etag(&app, *record).await),
                None => None,
            };
            let was = cast.measure(&app, *effect).await;
            let res = send_cell(&app, method, &path, token.as_deref(), body.as_deref(), etag.as_deref()).await;
            let got = res.status.as_u16();
            let change = cast.measure(&app, *effect).await - was;
            let let_through = (200..300).contains(&expected[i]);
            let expected_change = match (effect, let_through) {
                (_, false) | (Unseen, _) => 0,
                (Adds(_) | Bumps(_), true) => 1,
                (Removes(_), true) => -1,
            };
            if got != expected[i] || change != expected_change {
                failures.push(format!(
                    "{method} {pattern} ({path}) as {}: expected {} changing {effect:?} by {expected_change}, got {got} \
                     changing it by {change}: {}",
                    CALLERS[i],
                    expected[i],
                    res.text()
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{} cell(s) differ:\n{}", failures.len(), failures.join("\n"));
}

both_backends!(every_cell_with_a_valid_body);
