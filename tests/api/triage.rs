//! SPEC §5: the queue, triage with optimistic concurrency, internal notes.

use actix_web::test::TestRequest;
use serde_json::{json, Value};

use crate::both_backends;
use crate::common::{contains, Client, TestApp};

async fn report(app: &TestApp, country: &str, tactic: &str, kind: &str) -> Value {
    let body = json!({"kind": kind, "narrative": "queue item", "country": country, "tactics": [tactic]});
    let res = app.post("/api/v1/reports", None, body).await;
    res.assert_status(201);
    res.json()
}

async fn patch(app: &TestApp, who: &Client, id: &str, version: Option<i64>, body: Value) -> crate::common::Response {
    let mut req = TestRequest::patch()
        .uri(&format!("/api/v1/reports/{id}"))
        .insert_header(("Authorization", format!("Bearer {}", who.access_token)))
        .set_json(body);
    if let Some(v) = version {
        req = req.insert_header(("If-Match", format!("\"{v}\"")));
    }
    app.send(req).await
}

fn ids(page: &Value) -> Vec<String> {
    page["items"].as_array().unwrap().iter().map(|i| i["id"].as_str().unwrap().to_string()).collect()
}

async fn the_queue_is_for_staff_and_holds_metadata_only(app: TestApp) {
    let worker = app.caseworker().await;
    let admin = app.admin().await;
    let reporter = app.reporter().await;
    report(&app, "NL", "surveillance", "incident").await;
    let page = app.get("/api/v1/reports", Some(&worker.access_token)).await;
    page.assert_status(200);
    let item = page.json()["items"][0].clone();
    assert_eq!(item["country"], "NL");
    assert_eq!(item["tactics"], json!(["surveillance"]));
    assert_eq!(item["status"], "new");
    assert_eq!(item["version"], 1);
    for content in ["narrative", "contact", "location_detail", "station_hint"] {
        assert!(item.get(content).is_none(), "the queue shows {content}");
    }
    app.get("/api/v1/reports", Some(&admin.access_token)).await.assert_status(200);
    app.get("/api/v1/reports", Some(&reporter.access_token)).await.assert_problem(403);
    app.get("/api/v1/reports", None).await.assert_problem(401);
}

async fn the_queue_filters_and_sorts(app: TestApp) {
    let worker = app.caseworker().await;
    let other = app.caseworker().await;
    let a = report(&app, "NL", "surveillance", "incident").await;
    let b = report(&app, "CA", "threat_to_family", "incident").await;
    let c = report(&app, "CA", "surveillance", "station").await;
    let id = |r: &Value| r["id"].as_str().unwrap().to_string();
    patch(&app, &worker, &id(&b), Some(1), json!({"priority": "urgent", "assignee_id": worker.id}))
        .await
        .assert_status(200);
    patch(&app, &worker, &id(&c), Some(1), json!({"status": "triaged", "assignee_id": other.id}))
        .await
        .assert_status(200);
    let t = worker.access_token.as_str();
    let get = |q: &str| {
        let path = format!("/api/v1/reports?{q}");
        let app = &app;
        async move {
            let res = app.get(&path, Some(t)).await;
            res.assert_status(200);
            ids(&res.json())
        }
    };
    assert_eq!(get("").await, vec![id(&c), id(&b), id(&a)], "newest first by default");
    assert_eq!(get("order=asc").await, vec![id(&a), id(&b), id(&c)]);
    assert_eq!(get("country=ca").await, vec![id(&c), id(&b)]);
    assert_eq!(get("tactic=surveillance").await, vec![id(&c), id(&a)]);
    assert_eq!(get("kind=station").await, vec![id(&c)]);
    assert_eq!(get("status=triaged").await, vec![id(&c)]);
    assert_eq!(get("assignee=me").await, vec![id(&b)]);
    assert_eq!(get(&format!("assignee={}", other.id)).await, vec![id(&c)]);
    assert_eq!(get("assignee=none").await, vec![id(&a)]);
    assert_eq!(get("priority=urgent").await, vec![id(&b)]);
    assert_eq!(get("sort=priority").await[0], id(&b), "urgent first");
    assert_eq!(get("sort=priority&order=asc").await.last(), Some(&id(&b)));
    assert_eq!(get("created_after=2999-01-01T00:00:00Z").await, Vec::<String>::new());
    assert_eq!(get("created_before=2999-01-01T00:00:00Z").await.len(), 3);
    assert_eq!(get(&format!("station_id={}", uuid::Uuid::new_v4())).await, Vec::<String>::new());
    assert_eq!(get(&format!("case_id={}", uuid::Uuid::new_v4())).await, Vec::<String>::new());

    let bad =
        app.get("/api/v1/reports?status=open&tactic=x&country=XX&assignee=someone&sort=size&limit=0", Some(t)).await;
    let fields: Vec<String> = bad.assert_problem(422)["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(fields, vec!["status", "tactic", "country", "assignee", "sort", "limit"]);
}

async fn pages_stay_correct_while_reports_arrive(app: TestApp) {
    let worker = app.caseworker().await;
    for sort in ["created_at", "priority"] {
        let mut expected = Vec::new();
        for n in 0..5 {
            let r = report(&app, "NL", "other", "incident").await;
            if n % 2 == 0 {
                let id = r["id"].as_str().unwrap();
                patch(&app, &worker, id, Some(1), json!({"priority": "high"})).await.assert_status(200);
            }
            expected.push(r["id"].as_str().unwrap().to_string());
        }
        let mut seen: Vec<String> = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let path = match &cursor {
                Some(c) => format!("/api/v1/reports?sort={sort}&limit=2&cursor={c}"),
                None => format!("/api/v1/reports?sort={sort}&limit=2"),
            };
            let page = app.get(&path, Some(&worker.access_token)).await.assert_json(200);
            seen.extend(ids(&page));
            // A new report arrives between pages: it sorts before the cursor and must not
            // appear or shift what follows.
            report(&app, "NL", "other", "incident").await;
            match page["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_string()),
                None => break,
            }
        }
        for id in &expected {
            assert_eq!(seen.iter().filter(|s| *s == id).count(), 1, "{sort}: every report exactly once");
        }
        let mut unique = seen.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), seen.len(), "{sort}: no duplicates");
        let other_sort = if sort == "priority" { "created_at" } else { "priority" };
        let mismatched = app
            .get(
                &format!("/api/v1/reports?sort={other_sort}&cursor={}", cursor.unwrap_or_default()),
                Some(&worker.access_token),
            )
            .await;
        assert!(mismatched.status.as_u16() == 422 || mismatched.status.as_u16() == 200);
        app.sql("DELETE FROM report_tactics; DELETE FROM report_keys; DELETE FROM reports;");
    }
}

async fn triage_uses_if_match_and_records_every_change(app: TestApp) {
    let worker = app.caseworker().await;
    let other = app.caseworker().await;
    let r = report(&app, "NL", "surveillance", "incident").await;
    let id = r["id"].as_str().unwrap();
    let staff_view = app.get(&format!("/api/v1/reports/{id}"), Some(&worker.access_token)).await;
    assert_eq!(staff_view.header("etag"), Some("\"1\""));

    patch(&app, &worker, id, None, json!({"status": "triaged"})).await.assert_problem(428);
    let res = patch(
        &app,
        &worker,
        id,
        Some(1),
        json!({"status": "triaged", "priority": "high", "assignee_id": other.id, "tags": ["Fuzhou", "family"]}),
    )
    .await;
    res.assert_status(200);
    assert_eq!(res.header("etag"), Some("\"2\""));
    let item = res.json();
    assert_eq!((item["status"].as_str(), item["priority"].as_str()), (Some("triaged"), Some("high")));
    assert_eq!(item["tags"], json!(["family", "fuzhou"]));
    assert_eq!(item["assignee_id"], json!(other.id));

    // A second caseworker still holding version 1 cannot overwrite the first.
    patch(&app, &other, id, Some(1), json!({"priority": "low"})).await.assert_problem(412);
    let entry = app.audit_one("report.triage");
    assert_eq!(entry.actor_id, Some(worker.id));
    let changes = TestApp::details(&entry)["changes"].clone();
    assert!(changes.as_array().unwrap().contains(&json!({"field": "status", "old": "new", "new": "triaged"})));
    assert!(changes.as_array().unwrap().contains(&json!({"field": "priority", "old": "normal", "new": "high"})));
    assert!(changes.as_array().unwrap().contains(&json!({"field": "assignee_id", "old": null, "new": other.id})));
    assert!(changes.as_array().unwrap().contains(&json!({"field": "tags", "old": [], "new": ["family", "fuzhou"]})));

    let view = app.get(&format!("/api/v1/reports/{id}"), Some(&worker.access_token)).await.assert_json(200);
    assert_eq!((view["version"].as_i64(), view["tags"].clone()), (Some(2), json!(["family", "fuzhou"])));
    // Unassign with an explicit null.
    let res = patch(&app, &worker, id, Some(2), json!({"assignee_id": null})).await;
    let unassigned = res.assert_json(200);
    assert_eq!(unassigned["version"], 3);
    assert!(unassigned["assignee_id"].is_null());
}

async fn the_status_machine_is_enforced(app: TestApp) {
    let worker = app.caseworker().await;
    let a = report(&app, "NL", "surveillance", "incident").await;
    let b = report(&app, "NL", "surveillance", "incident").await;
    let (a, b) = (a["id"].as_str().unwrap(), b["id"].as_str().unwrap());
    let res = patch(&app, &worker, a, Some(1), json!({"status": "investigating"})).await;
    let problem = res.assert_problem(409);
    assert_eq!(problem["allowed"], json!(["triaged", "closed"]));
    let res = patch(&app, &worker, a, Some(1), json!({"status": "closed"})).await;
    assert_eq!(res.assert_problem(422)["errors"][0]["field"], "resolution");
    let res = patch(&app, &worker, a, Some(1), json!({"status": "closed", "resolution": "duplicate"})).await;
    assert_eq!(res.assert_problem(422)["errors"][0]["field"], "duplicate_of");
    let res =
        patch(&app, &worker, a, Some(1), json!({"status": "closed", "resolution": "duplicate", "duplicate_of": a}))
            .await;
    assert_eq!(res.assert_problem(422)["errors"][0]["field"], "duplicate_of");
    let res =
        patch(&app, &worker, a, Some(1), json!({"status": "closed", "resolution": "duplicate", "duplicate_of": b}))
            .await;
    res.assert_status(200);
    assert_eq!(res.json()["duplicate_of"], b);

    let res = patch(&app, &worker, a, Some(2), json!({"status": "investigating"})).await;
    assert_eq!(res.assert_problem(422)["errors"][0]["field"], "reason");
    let res = patch(&app, &worker, a, Some(2), json!({"status": "triaged", "reason": "x"})).await;
    assert_eq!(res.assert_problem(409)["allowed"], json!(["investigating"]));
    let res =
        patch(&app, &worker, a, Some(2), json!({"status": "investigating", "reason": "REOPEN-MARKER new evidence"}))
            .await;
    res.assert_status(200);
    let item = res.json();
    assert!(item["resolution"].is_null() && item["duplicate_of"].is_null());
    // The reason became an internal note, not an audit detail.
    let notes = app.get(&format!("/api/v1/reports/{a}/notes"), Some(&worker.access_token)).await.assert_json(200);
    assert!(notes["items"][0]["body"].as_str().unwrap().contains("REOPEN-MARKER"));
    for entry in app.audit("report.triage") {
        assert!(!entry.details.contains("REOPEN-MARKER"));
    }
    assert_eq!(app.audit("report.triage").len(), 2, "refused changes record nothing");
    patch(&app, &worker, &uuid::Uuid::new_v4().to_string(), Some(1), json!({"priority": "low"}))
        .await
        .assert_problem(404);
    patch(&app, &worker, a, Some(3), json!({})).await.assert_problem(422);
    patch(&app, &worker, a, Some(3), json!({"priority": "soon"})).await.assert_problem(422);
}

async fn only_active_caseworkers_are_assigned_and_admins_only_assign(app: TestApp) {
    let worker = app.caseworker().await;
    let admin = app.admin().await;
    let reporter = app.reporter().await;
    let r = report(&app, "NL", "surveillance", "incident").await;
    let id = r["id"].as_str().unwrap();
    let res = patch(&app, &worker, id, Some(1), json!({"assignee_id": reporter.id})).await;
    assert_eq!(res.assert_problem(422)["errors"][0]["field"], "assignee_id");
    let res = patch(&app, &admin, id, Some(1), json!({"priority": "urgent"})).await;
    res.assert_problem(403);
    let res = patch(&app, &admin, id, Some(1), json!({"assignee_id": worker.id})).await;
    res.assert_status(200);
    assert_eq!(app.audit_one("report.triage").actor_id, Some(admin.id));
    let reporter_patch = patch(&app, &reporter, id, Some(2), json!({"priority": "low"})).await;
    reporter_patch.assert_problem(403);
    app.patch(&format!("/api/v1/reports/{id}"), None, json!({"priority": "low"})).await.assert_problem(401);
    // Deactivated caseworkers cannot be assigned.
    app.sql(&format!(
        "UPDATE users SET active = {} WHERE id = '{}'",
        if app.backend() == tipline::db::Backend::Postgres { "false" } else { "0" },
        worker.id
    ));
    let res = patch(&app, &admin, id, Some(2), json!({"assignee_id": worker.id})).await;
    res.assert_problem(422);
}

async fn internal_notes_are_for_caseworkers_only(app: TestApp) {
    let worker = app.caseworker().await;
    let admin = app.admin().await;
    let reporter = app.reporter().await;
    let res = app
        .post(
            "/api/v1/reports",
            Some(&reporter.access_token),
            json!({"kind": "station", "narrative": "n", "country": "FR"}),
        )
        .await;
    let report = res.assert_json(201);
    let id = report["id"].as_str().unwrap().to_string();
    let path = format!("/api/v1/reports/{id}/notes");
    let created =
        app.post(&path, Some(&worker.access_token), json!({"body": "NOTE-MARKER-3f1 call the embassy"})).await;
    created.assert_status(201);
    assert_eq!(created.json()["author_id"], json!(worker.id));
    let list = app.get(&path, Some(&worker.access_token)).await;
    list.assert_status(200);
    assert_eq!(list.json()["items"][0]["body"], "NOTE-MARKER-3f1 call the embassy");
    app.post(&path, Some(&worker.access_token), json!({"body": "second note"})).await.assert_status(201);
    let first = app.get(&format!("{path}?limit=1"), Some(&worker.access_token)).await.assert_json(200);
    assert_eq!(first["items"][0]["body"], "NOTE-MARKER-3f1 call the embassy");
    let cursor = first["next_cursor"].as_str().unwrap();
    let second = app.get(&format!("{path}?limit=1&cursor={cursor}"), Some(&worker.access_token)).await.assert_json(200);
    assert_eq!(second["items"][0]["body"], "second note");
    assert_eq!(second["next_cursor"], Value::Null);
    app.get(&format!("{path}?cursor=x"), Some(&worker.access_token)).await.assert_problem(422);

    for token in [&admin.access_token, &reporter.access_token] {
        app.get(&path, Some(token)).await.assert_problem(403);
        app.post(&path, Some(token), json!({"body": "x"})).await.assert_problem(403);
    }
    app.get(&path, None).await.assert_problem(401);
    let own_view = app.get(&format!("/api/v1/reports/{id}"), Some(&reporter.access_token)).await;
    assert_eq!(own_view.assert_json(200)["id"], id.as_str());
    assert!(!own_view.text().contains("NOTE-MARKER"));
    let thread = app.get(&format!("/api/v1/reports/{id}/messages"), Some(&reporter.access_token)).await;
    thread.assert_status(200);
    assert!(!thread.text().contains("NOTE-MARKER"));
    app.post(&path, Some(&worker.access_token), json!({"body": ""})).await.assert_problem(422);
    app.post(
        &format!("/api/v1/reports/{}/notes", uuid::Uuid::new_v4()),
        Some(&worker.access_token),
        json!({"body": "x"}),
    )
    .await
    .assert_problem(404);

    let raw = app.raw_database();
    assert!(contains(&raw, report["reference"].as_str().unwrap()), "the raw bytes hold the report's reference");
    assert!(!contains(&raw, "NOTE-MARKER-3f1"), "notes are encrypted at rest");
    let entries = app.audit("note.create");
    assert_eq!(entries.len(), 2);
    for entry in entries {
        assert_eq!(entry.actor_id, Some(worker.id));
        assert!(!entry.details.contains("embassy") && !entry.details.contains("second"));
    }
    let reads: Vec<Value> = app.audit("note.read").iter().map(|e| TestApp::details(e)["notes"].clone()).collect();
    assert_eq!(reads, vec![json!(1), json!(1), json!(1)]);
}

both_backends!(
    the_queue_is_for_staff_and_holds_metadata_only,
    the_queue_filters_and_sorts,
    pages_stay_correct_while_reports_arrive,
    triage_uses_if_match_and_records_every_change,
    the_status_machine_is_enforced,
    only_active_caseworkers_are_assigned_and_admins_only_assign,
    internal_notes_are_for_caseworkers_only,
);
