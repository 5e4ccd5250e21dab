//! SPEC §4: intake, receipts, follow-up, messages, encryption at rest, no client metadata.

use actix_web::test::TestRequest;
use serde_json::{json, Value};

use crate::both_backends;
use crate::common::{contains, TestApp};
use tipline::db::Backend;

fn incident(narrative: &str) -> Value {
    json!({
        "kind": "incident",
        "tactics": ["threat_to_family", "summons_or_visit"],
        "narrative": narrative,
        "occurred_on": "2025-03-01",
        "occurred_on_precision": "month",
        "country": "nl",
        "city": "Rotterdam",
        "location_detail": "above the restaurant on the corner",
        "contact": "signal: +31 6 0000 0000",
        "consent": {"contact_ok": true},
        "on_behalf_of_other": true,
        "language": "zh-Hans"
    })
}

async fn submit(app: &TestApp, token: Option<&str>, body: Value) -> Value {
    let res = app.post("/api/v1/reports", token, body).await;
    res.assert_status(201);
    res.json()
}

async fn exchange(app: &TestApp, receipt: &str) -> String {
    let res = app.post("/api/v1/auth/receipt", None, json!({"receipt": receipt})).await;
    res.assert_status(200);
    res.json()["access_token"].as_str().unwrap().to_string()
}

async fn anonymous_submission_gets_a_receipt_once(app: TestApp) {
    let res = app.post("/api/v1/reports", None, incident("他们要求我回国。")).await;
    res.assert_status(201);
    let created = res.json();
    let id = uuid::Uuid::parse_str(created["id"].as_str().unwrap()).unwrap();
    assert_eq!(id.get_version_num(), 4);
    assert_eq!(res.header("location").unwrap(), format!("/api/v1/reports/{id}"));
    let reference = created["reference"].as_str().unwrap();
    assert!(reference.starts_with("TL-") && reference.len() == 11, "{reference}");
    assert_eq!(created["status"], "new");
    let receipt = created["receipt"].as_str().unwrap();
    assert_eq!(receipt.len(), 20);
    assert!(receipt.chars().all(|c| "0123456789ABCDEFGHJKMNPQRSTVWXYZ".contains(c)));

    // Only a keyed hash of the receipt is stored.
    let raw = app.raw_database();
    assert!(contains(&raw, reference), "the raw bytes hold the reference, stored in the clear");
    assert!(!contains(&raw, receipt));
    let entry = app.audit_one("report.create");
    assert_eq!((entry.actor_id, entry.actor_role.as_deref()), (None, Some("anonymous")), "anonymous: the role only");
    assert_eq!(entry.target_id.as_deref(), Some(id.to_string().as_str()));
    assert_eq!(TestApp::details(&entry), json!({"kind": "incident", "source": "anonymous"}));
    assert_eq!(app.count("report_tactics"), 2);
}

async fn every_violation_comes_back_at_once_and_nothing_is_stored(app: TestApp) {
    let body = json!({
        "kind": "incident",
        "tactics": ["bribery"],
        "narrative": "",
        "occurred_on": "2999-12-31",
        "country": "ZZ",
        "contact": "x".repeat(1001),
        "unexpected": "field"
    });
    let res = app.post("/api/v1/reports", None, body).await;
    let problem = res.assert_problem(422);
    let fields: Vec<&str> =
        problem["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
    assert_eq!(fields, vec!["tactics[0]", "narrative", "occurred_on", "country", "contact", ""]);
    assert!(problem["errors"].as_array().unwrap().iter().all(|e| !e["message"].as_str().unwrap().is_empty()));

    let nul =
        app.post("/api/v1/reports", None, json!({"kind": "station", "narrative": "a\u{0}b", "country": "CA"})).await;
    assert_eq!(nul.assert_problem(422)["errors"][0]["field"], "narrative");
    let missing = app.post("/api/v1/reports", None, json!({"kind": "incident"})).await;
    let fields: Vec<String> = missing.assert_problem(422)["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(fields, vec!["tactics", "narrative", "country"]);
    let wrong_types =
        app.post("/api/v1/reports", None, json!({"kind": 1, "narrative": [], "country": {}, "consent": "yes"})).await;
    assert_eq!(wrong_types.assert_problem(422)["errors"].as_array().unwrap().len(), 4);
    let invalid_utf8 = TestRequest::post()
        .uri("/api/v1/reports")
        .insert_header(("content-type", "application/json"))
        .set_payload(b"{\"kind\":\"station\",\"narrative\":\"\xff\",\"country\":\"CA\"}".to_vec());
    app.send(invalid_utf8).await.assert_problem(400);
    let huge = json!({"kind": "station", "narrative": "x".repeat(260 * 1024), "country": "CA"});
    app.post("/api/v1/reports", None, huge).await.assert_problem(413);

    assert_eq!(app.count("reports"), 0);
    assert_eq!(app.count("report_tactics"), 0);
    assert!(app.audit("report.create").is_empty());
}

async fn text_in_any_script_round_trips(app: TestApp) {
    let narratives = [
        "我在鹿特丹的一家餐馆被叫去“喝茶”，他们提到了我在福州的父母。",
        "ئۇلار ئاتا-ئانامغا تېلېفون قىلىپ، مېنى قايتىپ كېلىشكە قىستىدى.",
        "ཁོང་ཚོས་ངའི་ཕ་མར་ཁ་པར་བཏང་ནས་ང་ཕྱིར་ལོག་དགོས་ཟེར།",
        "They called my mother 📞😟 — twice.\nLine two\ttabbed.",
    ];
    for narrative in narratives {
        let mut body = incident(narrative);
        body["contact"] = json!("微信: 不要在晚上打电话 🙏");
        let created = submit(&app, None, body).await;
        let token = exchange(&app, created["receipt"].as_str().unwrap()).await;
        let view = app.get(&format!("/api/v1/reports/{}", created["id"].as_str().unwrap()), Some(&token)).await;
        view.assert_status(200);
        let view = view.json();
        assert_eq!(view["narrative"], narrative);
        assert_eq!(view["contact"], "微信: 不要在晚上打电话 🙏");
    }
}

async fn the_receipt_holder_follows_up_on_that_report_only(app: TestApp) {
    let mine = submit(&app, None, incident("mine")).await;
    let other = submit(&app, None, incident("someone else's")).await;
    let receipt = mine["receipt"].as_str().unwrap();
    // Typed by a person: lower case, grouped with hyphens.
    let grouped =
        format!("{}-{}-{}-{}", &receipt[..5], &receipt[5..10], &receipt[10..15], &receipt[15..]).to_lowercase();
    let token = exchange(&app, &grouped).await;

    let view = app.get(&format!("/api/v1/reports/{}", mine["id"].as_str().unwrap()), Some(&token)).await;
    view.assert_status(200);
    let view = view.json();
    assert_eq!(view["narrative"], "mine");
    assert_eq!(view["tactics"], json!(["summons_or_visit", "threat_to_family"]));
    assert_eq!(view["country"], "NL");
    assert_eq!(view["occurred_on"], "2025-03-01");
    assert_eq!(view["occurred_on_precision"], "month");
    assert_eq!(view["consent"], json!({"contact_ok": true, "share_with_authorities": false}));
    assert_eq!(view["status"], "new");
    for internal in ["assignee_id", "tags", "notes", "priority", "source", "receipt_hash", "reporter_id"] {
        assert!(view.get(internal).is_none(), "reporter view shows {internal}");
    }
    app.get(&format!("/api/v1/reports/{}", other["id"].as_str().unwrap()), Some(&token)).await.assert_problem(404);
    app.get(&format!("/api/v1/reports/{}", uuid::Uuid::new_v4()), Some(&token)).await.assert_problem(404);
    // A receipt token is not an account token.
    app.get("/api/v1/me", Some(&token)).await.assert_problem(401);
    app.get("/api/v1/reports/mine", Some(&token)).await.assert_problem(401);
    app.post("/api/v1/reports", Some(&token), incident("again")).await.assert_problem(403);

    let exchange_entry = app.audit_one("auth.receipt");
    assert_eq!(exchange_entry.target_id.as_deref(), mine["id"].as_str());
    assert_eq!(exchange_entry.actor_id, None);
    let read = app.audit_one("report.read");
    assert_eq!(read.target_id.as_deref(), mine["id"].as_str());
    assert_eq!((read.actor_id, read.actor_role.as_deref()), (None, Some("anonymous")));
}

async fn wrong_receipts_all_look_the_same_and_are_throttled(app: TestApp) {
    let app = app.restart(|c| c.rates.receipt_failures = Some(6)).await;
    submit(&app, None, incident("x")).await;
    let a = app.post("/api/v1/auth/receipt", None, json!({"receipt": "0000000000000000000A"})).await;
    let b = app.post("/api/v1/auth/receipt", None, json!({"receipt": "not even a receipt"})).await;
    a.assert_problem(401);
    b.assert_problem(401);
    assert_eq!(a.body, b.body);
    for _ in 0..4 {
        app.post("/api/v1/auth/receipt", None, json!({"receipt": "0000000000000000000A"})).await.assert_problem(401);
    }
    // Failures are limited globally (SPEC §12.3): the seventh in a minute is refused.
    let throttled = app.post("/api/v1/auth/receipt", None, json!({"receipt": "0000000000000000000A"})).await;
    throttled.assert_problem(429);
    assert!(throttled.header("retry-after").is_some());
    assert_eq!(app.audit("auth.receipt_failed").len(), 6);
    assert_eq!(app.audit("rate.limited").len(), 1);
}

async fn reporters_see_their_own_reports_only(app: TestApp) {
    let alice = app.reporter().await;
    let bob = app.reporter().await;
    let admin = app.admin().await;
    let worker = app.caseworker().await;
    let mut ids = Vec::new();
    for n in 0..3 {
        let created = submit(&app, Some(&alice.access_token), incident(&format!("alice {n}"))).await;
        assert!(created.get("receipt").is_none(), "account holders follow up with their account");
        ids.push(created["id"].as_str().unwrap().to_string());
    }
    let first = app.get("/api/v1/reports/mine?limit=2", Some(&alice.access_token)).await.assert_json(200);
    assert_eq!(first["items"].as_array().unwrap().len(), 2);
    assert_eq!(first["items"][0]["id"], ids[2].as_str(), "newest first");
    assert!(first["items"][0].get("narrative").is_none(), "the list holds metadata only");
    let cursor = first["next_cursor"].as_str().unwrap();
    let second = app
        .get(&format!("/api/v1/reports/mine?limit=2&cursor={cursor}"), Some(&alice.access_token))
        .await
        .assert_json(200);
    assert_eq!(second["items"].as_array().unwrap().len(), 1);
    assert!(second["next_cursor"].is_null());
    let bobs = app.get("/api/v1/reports/mine", Some(&bob.access_token)).await.assert_json(200);
    assert!(bobs["items"].as_array().unwrap().is_empty());

    let path = format!("/api/v1/reports/{}", ids[0]);
    app.get(&path, Some(&alice.access_token)).await.assert_status(200);
    app.get(&path, Some(&bob.access_token)).await.assert_problem(404);
    app.get(&path, Some(&admin.access_token)).await.assert_problem(403);
    app.get(&path, None).await.assert_problem(401);
    app.get("/api/v1/reports/mine", Some(&worker.access_token)).await.assert_problem(403);
    app.get("/api/v1/reports/mine", None).await.assert_problem(401);

    let staff = app.get(&path, Some(&worker.access_token)).await;
    staff.assert_status(200);
    let staff = staff.json();
    assert_eq!((staff["source"].as_str(), staff["priority"].as_str()), (Some("reporter"), Some("normal")));
    let reads = app.audit("report.read");
    assert_eq!(reads.len(), 2);
    assert_eq!(reads[1].actor_id, Some(worker.id));
    assert_eq!(TestApp::details(&reads[1])["side"], "staff");
    // A reporter is recorded by role only, never by account (SPEC §14.3).
    let created = app.audit("report.create");
    assert_eq!((created[0].actor_id, created[0].actor_role.as_deref()), (None, Some("reporter")));
}

async fn caseworkers_take_reports_admins_may_not(app: TestApp) {
    let worker = app.caseworker().await;
    let admin = app.admin().await;
    let created = submit(&app, Some(&worker.access_token), incident("taken by phone")).await;
    assert!(created["receipt"].is_string(), "the caseworker passes the receipt on to the caller");
    let entry = app.audit_one("report.create");
    assert_eq!(entry.actor_id, Some(worker.id));
    assert_eq!(TestApp::details(&entry)["source"], "staff");
    app.post("/api/v1/reports", Some(&admin.access_token), incident("no")).await.assert_problem(403);
    app.post("/api/v1/reports", Some("not-a-token"), incident("no")).await.assert_problem(401);
    assert_eq!(app.count("reports"), 1);
}

async fn the_message_thread_joins_reporter_and_caseworker(app: TestApp) {
    let created = submit(&app, None, incident("please call back")).await;
    let id = created["id"].as_str().unwrap();
    let token = exchange(&app, created["receipt"].as_str().unwrap()).await;
    let worker = app.caseworker().await;
    let admin = app.admin().await;
    let stranger = app.reporter().await;
    let path = format!("/api/v1/reports/{id}/messages");

    let first = app.post(&path, Some(&token), json!({"body": "Is anyone there? 有人吗？"})).await;
    first.assert_status(201);
    assert_eq!(first.json()["author"], "reporter");
    app.post(&path, Some(&worker.access_token), json!({"body": "Yes. We will call on Tuesday."}))
        .await
        .assert_status(201);

    let thread = app.get(&path, Some(&token)).await;
    thread.assert_status(200);
    let items = thread.json()["items"].as_array().unwrap().clone();
    assert_eq!(items.len(), 2);
    assert_eq!(
        (items[0]["author"].as_str(), items[0]["body"].as_str()),
        (Some("reporter"), Some("Is anyone there? 有人吗？"))
    );
    assert_eq!(items[1]["author"], "caseworker");
    assert!(items[1].get("author_id").is_none());

    app.get(&path, Some(&admin.access_token)).await.assert_problem(403);
    app.post(&path, Some(&admin.access_token), json!({"body": "x"})).await.assert_problem(403);
    app.get(&path, Some(&stranger.access_token)).await.assert_problem(404);
    app.post(&path, Some(&stranger.access_token), json!({"body": "x"})).await.assert_problem(404);
    app.get(&path, None).await.assert_problem(401);
    app.post(&path, Some(&token), json!({"body": ""})).await.assert_problem(422);
    app.post(&path, Some(&token), json!({"body": "x", "extra": 1})).await.assert_problem(422);

    let created_entries = app.audit("message.create");
    assert_eq!(created_entries.len(), 2);
    assert_eq!(created_entries[0].actor_role.as_deref(), Some("anonymous"));
    assert_eq!(created_entries[1].actor_id, Some(worker.id));
    assert_eq!(TestApp::details(&created_entries[1])["author"], "caseworker");
    let read = app.audit_one("message.read");
    assert_eq!(TestApp::details(&read)["messages"], 2);
    for entry in created_entries.iter().chain([&read]) {
        assert!(
            !entry.details.contains("Tuesday") && !entry.details.contains("anyone"),
            "no content in the audit trail"
        );
    }
    assert_eq!(app.count("report_messages"), 2);
}

async fn long_threads_come_a_page_at_a_time(app: TestApp) {
    let created = submit(&app, None, incident("a long exchange")).await;
    let id = created["id"].as_str().unwrap();
    let token = exchange(&app, created["receipt"].as_str().unwrap()).await;
    let worker = app.caseworker().await;
    let path = format!("/api/v1/reports/{id}/messages");
    let bodies: Vec<String> = (1..=5).map(|i| format!("message {i}")).collect();
    for (i, body) in bodies.iter().enumerate() {
        let who = if i % 2 == 0 { token.as_str() } else { worker.access_token.as_str() };
        app.post(&path, Some(who), json!({ "body": body })).await.assert_status(201);
    }

    let mut read = Vec::new();
    let mut query = format!("{path}?limit=2");
    loop {
        let page = app.get(&query, Some(&token)).await;
        page.assert_status(200);
        let page = page.json();
        read.extend(page["items"].as_array().unwrap().iter().map(|m| m["body"].as_str().unwrap().to_string()));
        match page["next_cursor"].as_str() {
            Some(cursor) => query = format!("{path}?limit=2&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(read, bodies, "every message once, oldest first");
    let counts: Vec<Value> =
        app.audit("message.read").iter().map(|e| TestApp::details(e)["messages"].clone()).collect();
    assert_eq!(counts, vec![json!(2), json!(2), json!(1)]);

    let bad = app.get(&format!("{path}?limit=0&cursor=not-ours"), Some(&token)).await;
    let fields: Vec<Value> =
        bad.assert_problem(422)["errors"].as_array().unwrap().iter().map(|e| e["field"].clone()).collect();
    assert_eq!(fields, vec![json!("limit"), json!("cursor")]);
    assert_eq!(app.audit("message.read").len(), 3, "a refused read is not recorded as a read");
}

const NARRATIVE_MARKER: &str = "NARRATIVE-MARKER-c41f";
const CONTACT_MARKER: &str = "CONTACT-MARKER-93be";
const MESSAGE_MARKER: &str = "MESSAGE-MARKER-77aa";

async fn content_is_encrypted_at_rest(app: TestApp) {
    let mut body = incident(&format!("{NARRATIVE_MARKER} 家人 {NARRATIVE_MARKER}"));
    body["contact"] = json!(CONTACT_MARKER);
    body["location_detail"] = json!("LOCATION-MARKER-1d0c");
    body["kind"] = json!("station");
    body["station_hint"] = json!("HINT-MARKER-5e2a");
    let created = submit(&app, None, body).await;
    let token = exchange(&app, created["receipt"].as_str().unwrap()).await;
    let path = format!("/api/v1/reports/{}/messages", created["id"].as_str().unwrap());
    app.post(&path, Some(&token), json!({"body": MESSAGE_MARKER})).await.assert_status(201);

    let raw = app.raw_database();
    assert!(contains(&raw, "Rotterdam"), "the search itself works: metadata is in the clear");
    for marker in [NARRATIVE_MARKER, CONTACT_MARKER, MESSAGE_MARKER, "LOCATION-MARKER-1d0c", "HINT-MARKER-5e2a", "家人"]
    {
        assert!(!contains(&raw, marker), "{marker} is stored in plaintext");
    }
}

async fn a_ciphertext_moved_elsewhere_does_not_decrypt(app: TestApp) {
    let a = submit(&app, None, incident("report A")).await;
    let b = submit(&app, None, incident("report B")).await;
    let worker = app.caseworker().await;
    let (a_id, b_id) = (a["id"].as_str().unwrap(), b["id"].as_str().unwrap());
    let b_path = format!("/api/v1/reports/{b_id}");
    app.get(&b_path, Some(&worker.access_token)).await.assert_status(200);

    // Another column of the same row: contact's ciphertext as the narrative.
    app.sql(&format!("UPDATE reports SET narrative = contact WHERE id = '{b_id}'"));
    app.get(&b_path, Some(&worker.access_token)).await.assert_problem(500);
    // The same column of another row, even with that row's wrapped key copied along: the
    // associated data names the row.
    let copy = match app.backend() {
        Backend::Postgres => format!(
            "UPDATE reports SET narrative = a.narrative FROM reports a WHERE a.id = '{a_id}' AND reports.id = '{b_id}'; \
             UPDATE report_keys SET wrapped = a.wrapped, key_id = a.key_id FROM report_keys a \
             WHERE a.report_id = '{a_id}' AND report_keys.report_id = '{b_id}'"
        ),
        Backend::Sqlite => format!(
            "UPDATE reports SET narrative = (SELECT narrative FROM reports WHERE id = '{a_id}') WHERE id = '{b_id}'; \
             UPDATE report_keys SET wrapped = (SELECT wrapped FROM report_keys WHERE report_id = '{a_id}'), \
             key_id = (SELECT key_id FROM report_keys WHERE report_id = '{a_id}') WHERE report_id = '{b_id}'"
        ),
    };
    app.sql(&copy);
    let res = app.get(&b_path, Some(&worker.access_token)).await;
    let problem = res.assert_problem(500);
    assert!(!res.text().contains("report A"));
    assert!(problem["detail"].as_str().unwrap().contains(res.header("x-request-id").unwrap()));
    // Report A itself is untouched.
    let a_view = app.get(&format!("/api/v1/reports/{a_id}"), Some(&worker.access_token)).await;
    assert_eq!(a_view.assert_json(200)["narrative"], "report A");
}

async fn no_client_metadata_is_kept(app: TestApp) {
    let req = TestRequest::post()
        .uri("/api/v1/reports")
        .insert_header(("X-Forwarded-For", "198.51.100.23, XFF-MARKER-a1"))
        .insert_header(("X-Real-IP", "198.51.100.24"))
        .insert_header(("User-Agent", "UA-MARKER-b2 (Android 14)"))
        .insert_header(("Forwarded", "for=198.51.100.25"))
        .peer_addr("192.0.2.77:50000".parse().unwrap())
        .set_json(incident("x"));
    let res = app.send(req).await;
    res.assert_status(201);
    let created = res.json();
    let receipt = created["receipt"].as_str().unwrap().to_string();
    let exchange = TestRequest::post()
        .uri("/api/v1/auth/receipt")
        .insert_header(("X-Forwarded-For", "198.51.100.23"))
        .insert_header(("User-Agent", "UA-MARKER-b2"))
        .peer_addr("192.0.2.77:50001".parse().unwrap())
        .set_json(json!({"receipt": receipt}));
    app.send(exchange).await.assert_status(200);
    let raw = app.raw_database();
    assert!(contains(&raw, created["reference"].as_str().unwrap()), "the raw bytes hold the report's reference");
    for marker in ["198.51.100", "192.0.2.77", "XFF-MARKER-a1", "UA-MARKER-b2", "Android"] {
        assert!(!contains(&raw, marker), "{marker} was stored");
    }
}

async fn station_ids_must_name_a_public_station(app: TestApp) {
    let (public, internal) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
    for (id, visibility) in [(public, "public"), (internal, "internal")] {
        app.sql(&format!(
            "INSERT INTO stations (id, name, city, country, operating_bureau, status, visibility, sources, version, created_at, updated_at) \
             VALUES ('{id}', 'Station {visibility}', 'Rotterdam', 'NL', 'Fuzhou PSB', 'reported', '{visibility}', '[]', 1, '2026-01-01 00:00:00', '2026-01-01 00:00:00')"
        ));
    }
    let with_station = |id: &str| {
        let mut body = incident("x");
        body["station_id"] = json!(id);
        body
    };
    let ok = submit(&app, None, with_station(&public.to_string())).await;
    let unknown = app.post("/api/v1/reports", None, with_station(&uuid::Uuid::new_v4().to_string())).await;
    let hidden = app.post("/api/v1/reports", None, with_station(&internal.to_string())).await;
    let (unknown, hidden) = (unknown.assert_problem(422), hidden.assert_problem(422));
    assert_eq!(unknown["errors"], hidden["errors"], "an internal station looks exactly like an unknown one");
    assert_eq!(unknown["errors"][0]["field"], "station_id");
    let token = exchange(&app, ok["receipt"].as_str().unwrap()).await;
    let view = app.get(&format!("/api/v1/reports/{}", ok["id"].as_str().unwrap()), Some(&token)).await.assert_json(200);
    assert_eq!(view["station_id"], public.to_string());
}

both_backends!(
    long_threads_come_a_page_at_a_time,
    anonymous_submission_gets_a_receipt_once,
    every_violation_comes_back_at_once_and_nothing_is_stored,
    text_in_any_script_round_trips,
    the_receipt_holder_follows_up_on_that_report_only,
    wrong_receipts_all_look_the_same_and_are_throttled,
    reporters_see_their_own_reports_only,
    caseworkers_take_reports_admins_may_not,
    the_message_thread_joins_reporter_and_caseworker,
    content_is_encrypted_at_rest,
    a_ciphertext_moved_elsewhere_does_not_decrypt,
    no_client_metadata_is_kept,
    station_ids_must_name_a_public_station,
);
