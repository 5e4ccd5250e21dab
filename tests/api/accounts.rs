//! SPEC §3 admin account management, and SPEC §2.1 denials for it.

use serde_json::json;

use crate::both_backends;
use crate::common::{TestApp, PASSWORD};
use tipline::users::Role;

async fn admin_creates_staff_and_they_can_sign_in(app: TestApp) {
    let admin = app.admin().await;
    let res = app
        .post(
            "/api/v1/users",
            Some(&admin.access_token),
            json!({"email": "case@example.org", "password": PASSWORD, "role": "caseworker", "display_name": "Case Worker"}),
        )
        .await;
    res.assert_status(201);
    let user = res.json();
    assert_eq!(user["role"], "caseworker");
    let entry = app.audit_one("user.create");
    assert_eq!(entry.actor_id, Some(admin.id));
    assert_eq!(entry.target_id.as_deref(), user["id"].as_str());
    assert_eq!(TestApp::details(&entry), json!({"role": "caseworker", "via": "admin"}));

    app.login("case@example.org", PASSWORD).await.assert_status(200);
    let got = app.get(&format!("/api/v1/users/{}", user["id"].as_str().unwrap()), Some(&admin.access_token)).await;
    got.assert_status(200);
    assert_eq!(got.json(), user);

    let duplicate = app
        .post(
            "/api/v1/users",
            Some(&admin.access_token),
            json!({"email": "CASE@example.org", "password": PASSWORD, "role": "admin", "display_name": "Again"}),
        )
        .await;
    duplicate.assert_problem(409);
    let invalid = app
        .post(
            "/api/v1/users",
            Some(&admin.access_token),
            json!({"email": "x@example.org", "password": PASSWORD, "role": "root", "display_name": "X"}),
        )
        .await;
    assert_eq!(invalid.assert_problem(422)["errors"][0]["field"], "role");
    assert_eq!(app.audit("user.create").len(), 1);
}

async fn list_is_paginated_with_a_cursor(app: TestApp) {
    let admin = app.admin().await;
    for _ in 0..4 {
        app.insert_user(Role::Reporter);
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/users?limit=2&cursor={c}"),
            None => "/api/v1/users?limit=2".to_string(),
        };
        let page = app.get(&path, Some(&admin.access_token)).await;
        page.assert_status(200);
        let body = page.json();
        let items = body["items"].as_array().unwrap();
        assert!(items.len() <= 2);
        seen.extend(items.iter().map(|u| u["id"].as_str().unwrap().to_string()));
        match body["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => break,
        }
    }
    assert_eq!(seen.len(), 5);
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 5);

    let reporters = app.get("/api/v1/users?role=reporter", Some(&admin.access_token)).await.assert_json(200);
    assert_eq!(reporters["items"].as_array().unwrap().len(), 4);
    let bad = app.get("/api/v1/users?limit=0&cursor=%25%25&role=root", Some(&admin.access_token)).await;
    let errors = bad.assert_problem(422)["errors"].clone();
    let fields: Vec<&str> = errors.as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
    assert_eq!(fields, vec!["limit", "role", "cursor"]);
}

async fn role_change_takes_effect_at_once(app: TestApp) {
    let admin = app.admin().await;
    let worker = app.caseworker().await;
    app.get("/api/v1/me", Some(&worker.access_token)).await.assert_status(200);
    let res = app
        .patch(
            &format!("/api/v1/users/{}", worker.id),
            Some(&admin.access_token),
            json!({"role": "admin", "display_name": "Now Admin"}),
        )
        .await;
    res.assert_status(200);
    assert_eq!(res.json()["role"], "admin");
    // The old token's session was ended with the role change.
    app.get("/api/v1/me", Some(&worker.access_token)).await.assert_problem(401);
    let entry = app.audit_one("user.update");
    assert_eq!(entry.actor_id, Some(admin.id));
    let details = TestApp::details(&entry);
    assert_eq!(details["changes"]["role"], json!({"old": "caseworker", "new": "admin"}));
    assert_eq!(details["changes"]["display_name"]["new"], "Now Admin");
    assert_eq!(details["sessions_revoked"], 1);

    // A PATCH that changes nothing records nothing.
    app.patch(&format!("/api/v1/users/{}", worker.id), Some(&admin.access_token), json!({"role": "admin"}))
        .await
        .assert_status(200);
    assert_eq!(app.audit("user.update").len(), 1);
    // Staff never become reporters, nor reporters staff (SPEC §14.1): a reporter has no email.
    let reporter = app.reporter().await;
    for (who, role) in [(worker.id, "reporter"), (reporter.id, "caseworker")] {
        let res = app.patch(&format!("/api/v1/users/{who}"), Some(&admin.access_token), json!({"role": role})).await;
        assert_eq!(res.assert_problem(422)["errors"][0]["field"], "role");
    }
    assert_eq!(app.audit("user.update").len(), 1);
    app.patch(&format!("/api/v1/users/{}", worker.id), Some(&admin.access_token), json!({})).await.assert_problem(422);
    app.patch(&format!("/api/v1/users/{}", uuid::Uuid::new_v4()), Some(&admin.access_token), json!({"active": false}))
        .await
        .assert_problem(404);
}

async fn deactivation_takes_effect_at_once(app: TestApp) {
    let admin = app.admin().await;
    let reporter = app.reporter().await;
    app.patch(&format!("/api/v1/users/{}", reporter.id), Some(&admin.access_token), json!({"active": false}))
        .await
        .assert_status(200);
    app.get("/api/v1/me", Some(&reporter.access_token)).await.assert_problem(401);
    app.login(&reporter.email, PASSWORD).await.assert_problem(401);
    let details = TestApp::details(&app.audit_one("user.update"));
    assert_eq!(details["changes"]["active"], json!({"old": true, "new": false}));
    assert_eq!(TestApp::details(&app.audit("auth.login_failed")[0])["reason"], "inactive");
}

async fn the_last_admin_cannot_be_removed(app: TestApp) {
    let admin = app.admin().await;
    let res =
        app.patch(&format!("/api/v1/users/{}", admin.id), Some(&admin.access_token), json!({"active": false})).await;
    res.assert_problem(409);
    app.patch(&format!("/api/v1/users/{}", admin.id), Some(&admin.access_token), json!({"role": "caseworker"}))
        .await
        .assert_problem(409);
    app.get("/api/v1/me", Some(&admin.access_token)).await.assert_status(200);
    assert!(app.audit("user.update").is_empty());
    // With a second admin, the first may step down.
    app.admin().await;
    app.patch(&format!("/api/v1/users/{}", admin.id), Some(&admin.access_token), json!({"role": "caseworker"}))
        .await
        .assert_status(200);
}

async fn admin_ends_all_sessions_of_a_user(app: TestApp) {
    let admin = app.admin().await;
    let reporter = app.reporter().await;
    let second = app.login(&reporter.email, PASSWORD).await.assert_json(200);
    let res =
        app.post(&format!("/api/v1/users/{}/sessions/revoke", reporter.id), Some(&admin.access_token), json!({})).await;
    res.assert_status(200);
    assert_eq!(res.json()["revoked"], 2);
    app.get("/api/v1/me", Some(&reporter.access_token)).await.assert_problem(401);
    app.get("/api/v1/me", second["access_token"].as_str()).await.assert_problem(401);
    let entry = app.audit_one("user.sessions_revoke");
    assert_eq!(entry.target_id, Some(reporter.id.to_string()));
    assert_eq!(TestApp::details(&entry)["revoked"], 2);
    app.post(&format!("/api/v1/users/{}/sessions/revoke", uuid::Uuid::new_v4()), Some(&admin.access_token), json!({}))
        .await
        .assert_problem(404);
}

/// SPEC §2.1: only admins manage users or read the audit trail.
async fn only_admins_manage_accounts_and_audit(app: TestApp) {
    let reporter = app.reporter().await;
    let worker = app.caseworker().await;
    let admin = app.admin().await;
    let target = format!("/api/v1/users/{}", reporter.id);
    let revoke = format!("{target}/sessions/revoke");
    let create = json!({"email": "n@example.org", "password": PASSWORD, "role": "admin", "display_name": "N"});
    for token in [&reporter.access_token, &worker.access_token] {
        app.get("/api/v1/users", Some(token)).await.assert_problem(403);
        app.post("/api/v1/users", Some(token), create.clone()).await.assert_problem(403);
        app.get(&target, Some(token)).await.assert_problem(403);
        app.patch(&target, Some(token), json!({"role": "admin"})).await.assert_problem(403);
        app.post(&revoke, Some(token), json!({})).await.assert_problem(403);
        app.get("/api/v1/audit", Some(token)).await.assert_problem(403);
        app.get("/api/v1/audit/verify", Some(token)).await.assert_problem(403);
    }
    for path in ["/api/v1/users", target.as_str(), "/api/v1/audit", "/api/v1/audit/verify", "/api/v1/me"] {
        app.get(path, None).await.assert_problem(401);
    }
    app.get("/api/v1/users", Some(&admin.access_token)).await.assert_status(200);
    // Nothing was created or changed by the refused calls.
    assert!(app.audit("user.create").is_empty());
    assert!(app.audit("user.update").is_empty());
}

both_backends!(
    admin_creates_staff_and_they_can_sign_in,
    list_is_paginated_with_a_cursor,
    role_change_takes_effect_at_once,
    deactivation_takes_effect_at_once,
    the_last_admin_cannot_be_removed,
    admin_ends_all_sessions_of_a_user,
    only_admins_manage_accounts_and_audit,
);
