//! The authorization matrix: every route × every kind of caller, with the status each gets.
//! The test runs every cell on both backends and fails when the app has a route the table
//! does not list. Mutating routes get bodies that are invalid (or targets that do not exist),
//! so a caller who is let through gets 422/404 and nothing changes; the one exception, logout,
//! runs last.

use std::collections::BTreeSet;

use actix_web::test::TestRequest;
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use serde_json::json;

use crate::both_backends;
use crate::common::TestApp;
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
    ("GET",    "/api/v1/users",                     "/api/v1/users",                             None,       [401, 401, 403, 403, 403, 200, 401, 401]),
    ("POST",   "/api/v1/users",                     "/api/v1/users",                             Some("{}"), [401, 401, 403, 403, 403, 422, 401, 401]),
    ("GET",    "/api/v1/users/{id}",                "/api/v1/users/{user}",                      None,       [401, 401, 403, 403, 403, 200, 401, 401]),
    ("PATCH",  "/api/v1/users/{id}",                "/api/v1/users/{user}",                      Some("{}"), [401, 401, 403, 403, 403, 422, 401, 401]),
    ("POST",   "/api/v1/users/{id}/sessions/revoke","/api/v1/users/{user}/sessions/revoke",      None,       [401, 401, 403, 403, 403, 200, 401, 401]),
    ("POST",   "/api/v1/users/{id}/unlock",         "/api/v1/users/{user}/unlock",               None,       [401, 401, 403, 403, 403, 204, 401, 401]),
    ("POST",   "/api/v1/reports",                   "/api/v1/reports",                           Some("{}"), [422, 403, 422, 422, 422, 403, 401, 401]),
    ("GET",    "/api/v1/reports",                   "/api/v1/reports",                           None,       [401, 401, 403, 403, 200, 200, 401, 401]),
    ("GET",    "/api/v1/reports/mine",              "/api/v1/reports/mine",                      None,       [401, 401, 200, 200, 403, 403, 401, 401]),
    ("GET",    "/api/v1/reports/{id}",              "/api/v1/reports/{report}",                  None,       [401, 404, 200, 404, 200, 403, 401, 401]),
    ("PATCH",  "/api/v1/reports/{id}",              "/api/v1/reports/{report}",                  Some("{}"), [401, 401, 403, 403, 422, 422, 401, 401]),
    ("GET",    "/api/v1/reports/{id}/notes",        "/api/v1/reports/{report}/notes",            None,       [401, 401, 403, 403, 200, 403, 401, 401]),
    ("POST",   "/api/v1/reports/{id}/notes",        "/api/v1/reports/{report}/notes",            Some("{}"), [401, 401, 403, 403, 422, 403, 401, 401]),
    ("GET",    "/api/v1/reports/{id}/messages",     "/api/v1/reports/{report}/messages",         None,       [401, 404, 200, 404, 200, 403, 401, 401]),
    ("POST",   "/api/v1/reports/{id}/messages",     "/api/v1/reports/{report}/messages",         Some("{}"), [401, 422, 422, 422, 422, 403, 401, 401]),
    ("POST",   "/api/v1/cases",                     "/api/v1/cases",                             Some("{}"), [401, 401, 403, 403, 422, 403, 401, 401]),
    ("GET",    "/api/v1/cases",                     "/api/v1/cases",                             None,       [401, 401, 403, 403, 200, 200, 401, 401]),
    ("GET",    "/api/v1/cases/{id}",                "/api/v1/cases/{case}",                      None,       [401, 401, 403, 403, 200, 200, 401, 401]),
    ("PATCH",  "/api/v1/cases/{id}",                "/api/v1/cases/{case}",                      Some("{}"), [401, 401, 403, 403, 422, 403, 401, 401]),
    ("POST",   "/api/v1/cases/{id}/reports",        "/api/v1/cases/{case}/reports",              Some("{}"), [401, 401, 403, 403, 422, 403, 401, 401]),
    ("DELETE", "/api/v1/cases/{id}/reports/{report_id}", "/api/v1/cases/{case}/reports/{report}",None,       [401, 401, 403, 403, 404, 403, 401, 401]),
    ("POST",   "/api/v1/cases/{id}/stations",       "/api/v1/cases/{case}/stations",             Some("{}"), [401, 401, 403, 403, 422, 403, 401, 401]),
    ("DELETE", "/api/v1/cases/{id}/stations/{station_id}", "/api/v1/cases/{case}/stations/{station}", None,  [401, 401, 403, 403, 404, 403, 401, 401]),
    ("GET",    "/api/v1/stations",                  "/api/v1/stations",                          None,       [200, 200, 200, 200, 200, 200, 401, 401]),
    ("POST",   "/api/v1/stations",                  "/api/v1/stations",                          Some("{}"), [401, 401, 403, 403, 422, 422, 401, 401]),
    ("GET",    "/api/v1/stations/{id}",             "/api/v1/stations/{station}",                None,       [200, 200, 200, 200, 200, 200, 401, 401]),
    ("PATCH",  "/api/v1/stations/{id}",             "/api/v1/stations/{station}",                Some("{}"), [401, 401, 403, 403, 422, 422, 401, 401]),
    ("GET",    "/api/v1/audit",                     "/api/v1/audit",                             None,       [401, 401, 403, 403, 403, 200, 401, 401]),
    ("GET",    "/api/v1/audit/verify",              "/api/v1/audit/verify",                      None,       [401, 401, 403, 403, 403, 200, 401, 401]),
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

async fn every_cell_of_the_matrix(app: TestApp) {
    // The cast: two reporters (A owns the report), the holder of another report's receipt,
    // staff, a deactivated account and an expired token.
    let reporter_a = app.reporter().await;
    let reporter_b = app.reporter().await;
    let worker = app.caseworker().await;
    let admin = app.admin().await;
    let deactivated = app.reporter().await;
    let (extra_user, _) = app.insert_user(Role::Reporter);
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
        .assert_json(201);
    let receipt =
        app.post("/api/v1/auth/receipt", None, json!({"receipt": anonymous["receipt"]})).await.assert_json(200)
            ["access_token"]
            .as_str()
            .unwrap()
            .to_string();
    let case = app.post("/api/v1/cases", Some(&worker.access_token), json!({"title": "Matrix"})).await.assert_json(201)
        ["id"]
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
    app.patch(&format!("/api/v1/users/{}", deactivated.id), Some(&admin.access_token), patch).await.assert_status(200);
    let expired = {
        let key = tipline::crypto::derive_key(app.config.jwt_secret.expose(), "jwt-hs256");
        let now = chrono::Utc::now().timestamp();
        let mut claims: serde_json::Value = {
            use base64::Engine;
            let payload = worker.access_token.split('.').nth(1).unwrap();
            serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
        };
        claims["iat"] = json!(now - 7200);
        claims["nbf"] = json!(now - 7200);
        claims["exp"] = json!(now - 3600);
        encode(&Header::new(Algorithm::HS256), &claims, &EncodingKey::from_secret(&key)).unwrap()
    };
    let tokens: [Option<&str>; 8] = [
        None,
        Some(&receipt),
        Some(&reporter_a.access_token),
        Some(&reporter_b.access_token),
        Some(&worker.access_token),
        Some(&admin.access_token),
        Some(&deactivated.access_token),
        Some(&expired),
    ];

    let mut failures = Vec::new();
    for (method, _, template, body, expected) in MATRIX {
        let path = template
            .replace("{user}", &extra_user.to_string())
            .replace("{report}", &report)
            .replace("{case}", &case)
            .replace("{station}", &station);
        for (i, token) in tokens.iter().enumerate() {
            let mut req = TestRequest::default().method(method.parse().unwrap()).uri(&path);
            if let Some(token) = token {
                req = req.insert_header(("Authorization", format!("Bearer {token}")));
            }
            if let Some(body) = body {
                req = req.insert_header(("content-type", "application/json")).set_payload(body.to_string());
            }
            let res = app.send(req).await;
            let got = res.status.as_u16();
            if got != expected[i] {
                failures.push(format!(
                    "{method} {template} as {}: expected {}, got {got}: {}",
                    CALLERS[i],
                    expected[i],
                    res.text()
                ));
            }
            if got >= 400 {
                assert_eq!(res.header("content-type"), Some("application/problem+json"), "{method} {template}");
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
