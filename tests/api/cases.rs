//! SPEC §6: cases, their reports and their stations.

use actix_web::test::TestRequest;
use serde_json::{json, Value};

use crate::both_backends;
use crate::common::{Client, TestApp};

async fn new_report(app: &TestApp) -> String {
    let res = app.post("/api/v1/reports", None, json!({"kind": "station", "narrative": "n", "country": "NL"})).await;
    res.json()["id"].as_str().unwrap().to_string()
}

async fn new_station(app: &TestApp, who: &Client, name: &str) -> String {
    let res = app.post("/api/v1/stations", Some(&who.access_token), json!({"name": name, "country": "NL"})).await;
    res.assert_status(201);
    res.json()["id"].as_str().unwrap().to_string()
}

async fn delete(app: &TestApp, who: &Client, path: &str) -> crate::common::Response {
    app.send(TestRequest::delete().uri(path).insert_header(("Authorization", format!("Bearer {}", who.access_token))))
        .await
}

async fn a_case_groups_reports_each_in_one_case_only(app: TestApp) {
    let worker = app.caseworker().await;
    let (r1, r2) = (new_report(&app).await, new_report(&app).await);
    let res = app
        .post(
            "/api/v1/cases",
            Some(&worker.access_token),
            json!({"title": "Rotterdam station", "summary": "CASE-SUMMARY", "report_ids": [r1, r2]}),
        )
        .await;
    res.assert_status(201);
    assert_eq!(res.header("etag"), Some("\"1\""));
    let case = res.json();
    let reference = case["reference"].as_str().unwrap();
    assert!(reference.starts_with("CASE-") && reference.len() == 11);
    assert_eq!((case["status"].as_str(), case["priority"].as_str()), (Some("open"), Some("normal")));
    assert_eq!(case["reports"].as_array().unwrap().len(), 2);
    assert_eq!(case["reports"][0]["case_id"], case["id"]);
    let entry = app.audit_one("case.create");
    assert_eq!(TestApp::details(&entry)["report_ids"].as_array().unwrap().len(), 2);
    assert!(!entry.details.contains("CASE-SUMMARY"));

    // A report belongs to at most one case.
    let second =
        app.post("/api/v1/cases", Some(&worker.access_token), json!({"title": "Other", "report_ids": [r1]})).await;
    second.assert_problem(409);
    assert_eq!(app.count("cases"), 1, "the refused case was not kept");
    let other = app.post("/api/v1/cases", Some(&worker.access_token), json!({"title": "Other"})).await.assert_json(201);
    let other_id = other["id"].as_str().unwrap();
    app.post(&format!("/api/v1/cases/{other_id}/reports"), Some(&worker.access_token), json!({"report_id": r1}))
        .await
        .assert_problem(409);
    let case_id = case["id"].as_str().unwrap();
    delete(&app, &worker, &format!("/api/v1/cases/{case_id}/reports/{r1}")).await.assert_status(204);
    let moved = app
        .post(&format!("/api/v1/cases/{other_id}/reports"), Some(&worker.access_token), json!({"report_id": r1}))
        .await;
    moved.assert_status(200);
    assert_eq!(moved.json()["reports"][0]["id"], r1.as_str());
    delete(&app, &worker, &format!("/api/v1/cases/{case_id}/reports/{r1}")).await.assert_problem(404);
    app.post(
        &format!("/api/v1/cases/{other_id}/reports"),
        Some(&worker.access_token),
        json!({"report_id": uuid::Uuid::new_v4()}),
    )
    .await
    .assert_problem(422);
    assert_eq!(app.audit("case.remove_report").len(), 1);
    assert_eq!(TestApp::details(&app.audit_one("case.add_report"))["report_id"], r1.as_str());

    // The queue filters by case.
    let queue =
        app.get(&format!("/api/v1/reports?case_id={other_id}"), Some(&worker.access_token)).await.assert_json(200);
    assert_eq!(queue["items"].as_array().unwrap().len(), 1);
}

async fn cases_are_edited_with_if_match(app: TestApp) {
    let worker = app.caseworker().await;
    let case = app.post("/api/v1/cases", Some(&worker.access_token), json!({"title": "T"})).await.assert_json(201);
    let path = format!("/api/v1/cases/{}", case["id"].as_str().unwrap());
    let patch = |version: Option<i32>, body: Value| {
        let mut req = TestRequest::patch()
            .uri(&path)
            .insert_header(("Authorization", format!("Bearer {}", worker.access_token)))
            .set_json(body);
        if let Some(v) = version {
            req = req.insert_header(("If-Match", format!("\"{v}\"")));
        }
        app.send(req)
    };
    patch(None, json!({"status": "monitoring"})).await.assert_problem(428);
    let res = patch(
        Some(1),
        json!({"status": "monitoring", "title": "Renamed", "assignee_id": worker.id, "summary": "SECRET-SUMMARY"}),
    )
    .await;
    res.assert_status(200);
    assert_eq!(res.header("etag"), Some("\"2\""));
    patch(Some(1), json!({"status": "closed"})).await.assert_problem(412);
    patch(Some(2), json!({"status": "archived"})).await.assert_problem(422);
    let entry = app.audit_one("case.update");
    let changes = TestApp::details(&entry)["changes"].clone();
    assert!(changes.as_array().unwrap().contains(&json!({"field": "status", "old": "open", "new": "monitoring"})));
    assert!(changes.as_array().unwrap().contains(&json!({"field": "summary"})));
    assert!(!entry.details.contains("SECRET-SUMMARY"));
    let listed =
        app.get("/api/v1/cases?assignee=me&status=monitoring", Some(&worker.access_token)).await.assert_json(200);
    assert_eq!(listed["items"].as_array().unwrap().len(), 1);
    let none = app.get("/api/v1/cases?status=closed", Some(&worker.access_token)).await.assert_json(200);
    assert!(none["items"].as_array().unwrap().is_empty());
}

async fn stations_are_linked_and_unlinked(app: TestApp) {
    let worker = app.caseworker().await;
    let admin = app.admin().await;
    let station = new_station(&app, &worker, "Suspected site").await;
    let case = app
        .post("/api/v1/cases", Some(&worker.access_token), json!({"title": "T", "summary": "S"}))
        .await
        .assert_json(201);
    let case_id = case["id"].as_str().unwrap();
    let link = app
        .post(
            &format!("/api/v1/cases/{case_id}/stations"),
            Some(&worker.access_token),
            json!({"station_id": station, "relation": "operates_from", "confidence": "medium", "note": "LINK-NOTE"}),
        )
        .await;
    link.assert_status(201);
    assert_eq!(link.json()["relation"], "operates_from");
    let entry = app.audit_one("case.link_station");
    assert_eq!(TestApp::details(&entry)["station_id"], station.as_str());
    assert!(!entry.details.contains("LINK-NOTE"));
    app.post(
        &format!("/api/v1/cases/{case_id}/stations"),
        Some(&worker.access_token),
        json!({"station_id": station, "relation": "mentioned", "confidence": "low"}),
    )
    .await
    .assert_problem(409);
    let bad = app
        .post(
            &format!("/api/v1/cases/{case_id}/stations"),
            Some(&worker.access_token),
            json!({"station_id": uuid::Uuid::new_v4(), "relation": "owns", "confidence": "total"}),
        )
        .await;
    assert_eq!(bad.assert_problem(422)["errors"].as_array().unwrap().len(), 2);

    // The case view shows the link; the station's staff view shows the case.
    let view = app.get(&format!("/api/v1/cases/{case_id}"), Some(&worker.access_token)).await.assert_json(200);
    assert_eq!(view["stations"][0]["note"], "LINK-NOTE");
    assert_eq!(view["summary"], "S");
    let station_view =
        app.get(&format!("/api/v1/stations/{station}"), Some(&worker.access_token)).await.assert_json(200);
    assert_eq!(station_view["cases"][0]["id"], case_id);
    let by_station =
        app.get(&format!("/api/v1/cases?station_id={station}"), Some(&admin.access_token)).await.assert_json(200);
    assert_eq!(by_station["items"].as_array().unwrap().len(), 1);
    // Admins read case metadata, not the caseworkers' writing.
    let admin_view = app.get(&format!("/api/v1/cases/{case_id}"), Some(&admin.access_token)).await.assert_json(200);
    assert_eq!(admin_view["id"], case_id);
    assert_eq!(admin_view["stations"].as_array().unwrap().len(), 1, "admins see the link itself");
    assert!(admin_view.get("summary").is_none() && admin_view["stations"][0].get("note").is_none());

    delete(&app, &worker, &format!("/api/v1/cases/{case_id}/stations/{station}")).await.assert_status(204);
    delete(&app, &worker, &format!("/api/v1/cases/{case_id}/stations/{station}")).await.assert_problem(404);
    assert_eq!(app.audit("case.unlink_station").len(), 1);
}

async fn only_caseworkers_change_cases(app: TestApp) {
    let worker = app.caseworker().await;
    let admin = app.admin().await;
    let reporter = app.reporter().await;
    let case = app.post("/api/v1/cases", Some(&worker.access_token), json!({"title": "T"})).await.assert_json(201);
    let id = case["id"].as_str().unwrap();
    for who in [&admin, &reporter] {
        let token = Some(who.access_token.as_str());
        app.post("/api/v1/cases", token, json!({"title": "x"})).await.assert_problem(403);
        app.patch(&format!("/api/v1/cases/{id}"), token, json!({"title": "x"})).await.assert_problem(403);
        app.post(&format!("/api/v1/cases/{id}/reports"), token, json!({"report_id": uuid::Uuid::new_v4()}))
            .await
            .assert_problem(403);
        app.post(&format!("/api/v1/cases/{id}/stations"), token, json!({})).await.assert_problem(403);
        delete(&app, who, &format!("/api/v1/cases/{id}/stations/{}", uuid::Uuid::new_v4())).await.assert_problem(403);
    }
    app.get("/api/v1/cases", Some(&admin.access_token)).await.assert_status(200);
    app.get(&format!("/api/v1/cases/{id}"), Some(&admin.access_token)).await.assert_status(200);
    app.get("/api/v1/cases", Some(&reporter.access_token)).await.assert_problem(403);
    app.get("/api/v1/cases", None).await.assert_problem(401);
    app.get(&format!("/api/v1/cases/{}", uuid::Uuid::new_v4()), Some(&worker.access_token)).await.assert_problem(404);
    let invalid =
        app.post("/api/v1/cases", Some(&worker.access_token), json!({"priority": "asap", "report_ids": ["x"]})).await;
    let fields: Vec<String> = invalid.assert_problem(422)["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(fields, vec!["title", "priority", "report_ids[0]"]);
    assert_eq!(app.audit("case.create").len(), 1);
}

both_backends!(
    a_case_groups_reports_each_in_one_case_only,
    cases_are_edited_with_if_match,
    stations_are_linked_and_unlinked,
    only_caseworkers_change_cases,
);
