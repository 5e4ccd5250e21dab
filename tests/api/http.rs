//! SPEC §9: problem+json for every error, limits, headers, health endpoints.

use actix_web::test::TestRequest;
use serde_json::json;

use crate::both_backends;
use crate::common::{Response, TestApp};

const MARKER: &str = "MARKER-7f3a9c-do-not-echo";

#[track_caller]
fn assert_no_marker(res: &Response) {
    assert!(!res.text().contains(MARKER), "the body echoes client input: {}", res.text());
    for (name, value) in res.headers.iter() {
        assert!(!value.to_str().unwrap_or("").contains(MARKER), "header {name} echoes client input");
    }
}

async fn malformed_bodies_get_problems_without_echo(app: TestApp) {
    let json_req = |body: Vec<u8>| {
        TestRequest::post()
            .uri("/api/v1/auth/login")
            .insert_header(("content-type", "application/json"))
            .set_payload(body)
    };
    let cases: Vec<(u16, TestRequest)> = vec![
        (400, json_req(format!("{{\"email\": \"{MARKER}").into_bytes())),
        (400, json_req(format!("{{\"email\": {MARKER}}}").into_bytes())),
        (400, json_req(vec![b'{', b'"', 0xff, 0xfe, b'"', b':', b'1', b'}'])),
        (400, json_req(Vec::new())),
        (422, json_req(format!("[\"{MARKER}\"]").into_bytes())),
        (422, json_req(json!({"email": 5, "password": [MARKER]}).to_string().into_bytes())),
        (422, json_req(json!({"email": "a@b.org", "password": "x", MARKER: MARKER}).to_string().into_bytes())),
        (
            415,
            TestRequest::post()
                .uri("/api/v1/auth/login")
                .insert_header(("content-type", "text/plain"))
                .set_payload(MARKER),
        ),
        (415, TestRequest::post().uri("/api/v1/auth/login").set_payload(format!("{{\"email\":\"{MARKER}\"}}"))),
        (413, json_req(format!("{{\"email\": \"{}\"}}", MARKER.repeat(260 * 1024 / MARKER.len())).into_bytes())),
        (404, TestRequest::get().uri(&format!("/api/v1/{MARKER}"))),
        (401, TestRequest::get().uri(&format!("/api/v1/users/{MARKER}"))),
        (405, TestRequest::put().uri("/api/v1/auth/login").set_payload(MARKER)),
        (401, TestRequest::get().uri("/api/v1/me").insert_header(("Authorization", format!("Bearer {MARKER}")))),
    ];
    for (expected, req) in cases {
        let res = app.send(req).await;
        let body = res.assert_problem(expected);
        assert!(body["title"].is_string() && body["detail"].is_string() && body["type"].is_string());
        assert_no_marker(&res);
    }
    // Nothing was written by the rejected requests.
    assert!(app.audit("auth.login_failed").is_empty());
}

async fn validation_errors_name_their_fields(app: TestApp) {
    let res = app.post("/api/v1/auth/login", None, json!({"email": 1})).await;
    let body = res.assert_problem(422);
    assert_eq!(
        body["errors"],
        json!([{"field": "email", "message": "must be a string"}, {"field": "password", "message": "is required"}])
    );
}

async fn every_response_carries_the_security_headers(app: TestApp) {
    let responses = vec![
        app.get("/healthz", None).await,
        app.get("/readyz", None).await,
        app.get("/nowhere", None).await,
        app.get("/api/v1/me", None).await,
        app.post("/api/v1/auth/login", None, json!({})).await,
    ];
    let mut ids = Vec::new();
    for res in &responses {
        let id = res.header("x-request-id").expect("X-Request-Id");
        assert!(uuid::Uuid::parse_str(id).is_ok_and(|u| u.get_version_num() == 4), "{id}");
        ids.push(id.to_string());
        assert_eq!(res.header("cache-control"), Some("no-store"));
        assert_eq!(res.header("x-content-type-options"), Some("nosniff"));
        assert_eq!(res.header("referrer-policy"), Some("no-referrer"));
        assert_eq!(res.header("content-security-policy"), Some("default-src 'none'; frame-ancestors 'none'"));
        assert_eq!(res.header("strict-transport-security"), None, "HSTS only when asked for");
    }
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), responses.len());
    // A client-chosen request id is not adopted: the answer carries one of the server's own.
    let res = app.send(TestRequest::get().uri("/healthz").insert_header(("X-Request-Id", MARKER))).await;
    res.assert_status(200);
    let id = res.header("x-request-id").expect("X-Request-Id");
    assert!(uuid::Uuid::parse_str(id).is_ok_and(|u| u.get_version_num() == 4), "{id}");
    assert_ne!(id, MARKER);
    // Behind TLS, HSTS on request (TIPLINE_HSTS).
    let app = app.restart(|c| c.hsts = true).await;
    let res = app.get("/api/v1/me", None).await;
    res.assert_problem(401);
    assert_eq!(res.header("strict-transport-security"), Some("max-age=63072000; includeSubDomains"));
}

/// SPEC §12.3: a 20 000-character narrative fits in any script and any escaping (256 KiB), and
/// names shown to staff are NFC and free of bidirectional-control and zero-width characters.
async fn bodies_up_to_256_kib_and_names_staff_can_trust(app: TestApp) {
    // 20 000 characters of Chinese, each escaped as \uXXXX by the client: 120 KB of JSON.
    let narrative = "\\u5b57".repeat(20_000);
    let raw = format!(r#"{{"kind":"station","narrative":"{narrative}","country":"CN"}}"#);
    assert!(raw.len() > 64 * 1024, "the old limit would have refused it");
    let req = TestRequest::post().uri("/api/v1/reports").insert_header(("Content-Type", "application/json"));
    app.send(req.set_payload(raw)).await.assert_status(201);
    let worker = app.caseworker().await;
    for bad in ["Kashgar\u{202E}nimda", "Site\u{200B}"] {
        let res = app.post("/api/v1/stations", Some(&worker.access_token), json!({"name": bad, "country": "NL"})).await;
        assert_eq!(res.assert_problem(422)["errors"][0]["field"], "name", "{bad:?}");
    }
    let res =
        app.post("/api/v1/stations", Some(&worker.access_token), json!({"name": "Cafe\u{301}", "country": "NL"})).await;
    res.assert_status(201);
    assert_eq!(res.json()["name"], "Caf\u{e9}", "stored in NFC");
}

async fn health_and_readiness(app: TestApp) {
    let health = app.get("/healthz", None).await;
    health.assert_status(200);
    assert_eq!(health.json(), json!({"status": "ok"}));
    let ready = app.get("/readyz", None).await;
    ready.assert_status(200);
    assert_eq!(ready.json(), json!({"status": "ready"}));
}

async fn request_ids_reach_the_audit_trail(app: TestApp) {
    let (_, email) = app.insert_user(tipline::users::Role::Reporter);
    let res = app.login(&email, crate::common::PASSWORD).await;
    res.assert_status(200);
    let id = res.header("x-request-id").expect("X-Request-Id");
    let entry = app.audit_one("auth.login");
    assert_eq!(entry.request_id.as_deref(), Some(id));
}

/// `If-Match` on the three versioned PATCHes: a value that is not of the ETag form is a
/// malformed request (400), not a stale one (412), and changes nothing; a value of the form
/// that the record never had is stale.
async fn if_match_is_an_etag_or_400(app: TestApp) {
    let worker = app.caseworker().await;
    let report = app.post("/api/v1/reports", None, json!({"kind": "station", "narrative": "R", "country": "NL"})).await;
    let case = app.post("/api/v1/cases", Some(&worker.access_token), json!({"title": "C"})).await;
    let station = app.post("/api/v1/stations", Some(&worker.access_token), json!({"name": "S", "country": "NL"})).await;
    let targets = [
        (format!("/api/v1/reports/{}", report.json()["id"].as_str().unwrap()), json!({"priority": "high"})),
        (format!("/api/v1/cases/{}", case.json()["id"].as_str().unwrap()), json!({"title": "C2"})),
        (format!("/api/v1/stations/{}", station.json()["id"].as_str().unwrap()), json!({"name": "S2"})),
    ];
    let send = |path: &str, body: &serde_json::Value, if_match: &str| {
        let req = TestRequest::patch()
            .uri(path)
            .insert_header(("Authorization", format!("Bearer {}", worker.access_token)))
            .insert_header(("If-Match", if_match.to_string()))
            .set_json(body);
        app.send(req)
    };
    for (path, body) in &targets {
        for malformed in
            ["1", "\"\"", "\"1", "\"1\"x", "\"-1\"", "\"+1\"", "\"1 \"", "*", "\"1\", \"2\"", "W/1", "w/\"1\""]
        {
            let res = send(path, body, malformed).await;
            let problem = res.assert_problem(400);
            assert!(problem["detail"].as_str().unwrap().contains("If-Match"), "{path} {malformed}: {problem}");
        }
        for stale in ["\"0\"", "\"2\"", "\"99999999999\"", "W/\"2\""] {
            send(path, body, stale).await.assert_problem(412);
        }
        let view = app.get(path, Some(&worker.access_token)).await;
        assert_eq!(view.header("etag"), Some("\"1\""), "{path} changed by a refused PATCH");
        // Weak and zero-padded forms name the same version.
        send(path, body, "W/\"01\"").await.assert_status(200);
        assert_eq!(app.get(path, Some(&worker.access_token)).await.header("etag"), Some("\"2\""));
    }
}

both_backends!(
    malformed_bodies_get_problems_without_echo,
    validation_errors_name_their_fields,
    every_response_carries_the_security_headers,
    bodies_up_to_256_kib_and_names_staff_can_trust,
    health_and_readiness,
    request_ids_reach_the_audit_trail,
    if_match_is_an_etag_or_400,
);
