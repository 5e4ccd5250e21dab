//! SPEC §14: nobody can tell who reported — not from a copy of the database, not as an admin,
//! not from the audit trail.

use diesel::connection::SimpleConnection;
use diesel_migrations::MigrationHarness;
use serde_json::{json, Value};

use crate::both_backends;
use crate::common::{contains, TestApp, PASSWORD};
use tipline::db;

const SUMMARY: &str = "CANARY-SUMMARY-quotes-the-report";
const LINK_NOTE: &str = "CANARY-LINK-NOTE-quotes-the-report";
const STATION_NOTES: &str = "CANARY-STATION-NOTES-from-a-source";
const DISPLAY_NAME: &str = "CANARY-DISPLAY-NAME";

struct Reporter {
    account: String,
    id: String,
    token: String,
    report: String,
    reference: String,
}

/// A reporter who registers, signs in, files a report and writes on its thread.
async fn reporter_files_a_report(app: &TestApp) -> Reporter {
    let created =
        app.post("/api/v1/auth/register", None, json!({"password": PASSWORD, "display_name": DISPLAY_NAME})).await;
    created.assert_status(201);
    let created = created.json();
    let account = created["account"].as_str().unwrap().to_string();
    let login = app.post("/api/v1/auth/login", None, json!({"account": account, "password": PASSWORD})).await;
    login.assert_status(200);
    let token = login.json()["access_token"].as_str().unwrap().to_string();
    let body = json!({"kind": "incident", "tactics": ["summons_or_visit"], "narrative": "called to the station", "country": "NL"});
    let report = app.post("/api/v1/reports", Some(&token), body).await;
    report.assert_status(201);
    let report = report.json();
    let id = report["id"].as_str().unwrap().to_string();
    app.post(&format!("/api/v1/reports/{id}/messages"), Some(&token), json!({"body": "more"})).await.assert_status(201);
    Reporter {
        account,
        id: created["id"].as_str().unwrap().to_string(),
        token,
        report: id,
        reference: report["reference"].as_str().unwrap().to_string(),
    }
}

/// Staff free text that quotes reports: a case summary, a link note, a station's notes.
async fn staff_write_about_it(app: &TestApp, report: &str) {
    let worker = app.caseworker().await;
    let station = app
        .post(
            "/api/v1/stations",
            Some(&worker.access_token),
            json!({"name": "Site", "country": "NL", "notes": STATION_NOTES}),
        )
        .await;
    station.assert_status(201);
    assert_eq!(station.json()["notes"], STATION_NOTES, "staff read the notes back");
    let station = station.json()["id"].as_str().unwrap().to_string();
    let case = app
        .post(
            "/api/v1/cases",
            Some(&worker.access_token),
            json!({"title": "T", "summary": SUMMARY, "report_ids": [report]}),
        )
        .await;
    case.assert_status(201);
    assert_eq!(case.json()["summary"], SUMMARY, "caseworkers read the summary back");
    let case = case.json()["id"].as_str().unwrap().to_string();
    let link = json!({"station_id": station, "relation": "mentioned", "confidence": "low", "note": LINK_NOTE});
    let linked = app.post(&format!("/api/v1/cases/{case}/stations"), Some(&worker.access_token), link).await;
    linked.assert_status(201);
    assert_eq!(linked.json()["note"], LINK_NOTE);
    let detail = app.get(&format!("/api/v1/cases/{case}"), Some(&worker.access_token)).await;
    detail.assert_status(200);
    assert_eq!(
        (detail.json()["summary"].clone(), detail.json()["stations"][0]["note"].clone()),
        (json!(SUMMARY), json!(LINK_NOTE))
    );
}

async fn a_copy_of_the_database_names_no_reporter_and_holds_no_staff_text(app: TestApp) {
    let reporter = reporter_files_a_report(&app).await;
    staff_write_about_it(&app, &reporter.report).await;
    let dump = app.dump();
    // Positive controls: the dump is real and holds what is stored in the clear.
    assert!(contains(&dump, &reporter.reference), "the report's reference is in the dump");
    assert!(contains(&dump, &reporter.id), "the account's id is in the dump (users, sessions)");
    for secret in [&reporter.account[3..], SUMMARY, LINK_NOTE, STATION_NOTES] {
        assert!(!contains(&dump, secret), "{secret} is in a copy of the database");
    }
    // Nothing stored with the report or its thread, and no audit entry, names the account.
    let mut pooled = app.conn();
    let conn: &mut db::DbConn = &mut pooled;
    for (table, column) in [
        ("reports", "reporter_id"),
        ("reports", "submitted_by"),
        ("report_messages", "author_id"),
        ("audit_log", "actor_id"),
        ("audit_log", "target_id"),
    ] {
        let sql = format!("SELECT count(*) AS n FROM {table} WHERE CAST({column} AS TEXT) = '{}'", reporter.id);
        assert_eq!(count(conn, &sql), 0, "{table}.{column} names the reporter");
    }
    let sql = format!("SELECT count(*) AS n FROM audit_log WHERE details LIKE '%{}%'", reporter.id);
    assert_eq!(count(conn, &sql), 0, "an audit entry's details name the reporter");
    // The link exists for the service alone: the reporter still finds their report.
    let mine = app.get("/api/v1/reports/mine", Some(&reporter.token)).await;
    mine.assert_status(200);
    assert_eq!(mine.json()["items"][0]["id"], json!(reporter.report));
}

fn count(conn: &mut db::DbConn, sql: &str) -> i64 {
    use diesel::prelude::*;
    #[derive(QueryableByName)]
    struct N {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    tipline::db_run!(conn: { diesel::sql_query(sql).get_result::<N>(conn) }).expect(sql).n
}

/// Every GET an admin may call, with every page: nothing connects the reporter's account to
/// the report. The admin sees the account (without a name, to the day) and the report's
/// metadata, and nothing in between.
async fn an_admin_walking_every_route_cannot_connect_an_account_to_its_report(app: TestApp) {
    let reporter = reporter_files_a_report(&app).await;
    staff_write_about_it(&app, &reporter.report).await;
    let admin = app.admin().await;
    let mut seen: Vec<(String, Value)> = Vec::new();
    let mut pending: Vec<String> = [
        "/api/v1/users",
        "/api/v1/audit",
        "/api/v1/reports",
        "/api/v1/cases",
        "/api/v1/stations",
        "/api/v1/me",
        "/api/v1/audit/verify",
    ]
    .iter()
    .map(|p| p.to_string())
    .collect();
    while let Some(path) = pending.pop() {
        let res = app.get(&path, Some(&admin.access_token)).await;
        if res.status.as_u16() != 200 {
            assert_eq!(res.status.as_u16(), 403, "{path}");
            continue;
        }
        let body = res.json();
        if let Some(next) = body.get("next_cursor").and_then(Value::as_str) {
            let base = path.split('?').next().unwrap();
            pending.push(format!("{base}?cursor={next}"));
        }
        // Open every item the lists lead to.
        for item in body.get("items").and_then(Value::as_array).into_iter().flatten() {
            let Some(id) = item.get("id").and_then(Value::as_str) else { continue };
            let base = path.split('?').next().unwrap();
            if ["/api/v1/users", "/api/v1/reports", "/api/v1/cases", "/api/v1/stations"].contains(&base) {
                pending.push(format!("{base}/{id}"));
                if base == "/api/v1/reports" {
                    for sub in ["messages", "notes"] {
                        pending.push(format!("{base}/{id}/{sub}"));
                    }
                }
            }
        }
        seen.push((path, body));
    }
    assert!(
        seen.iter().any(|(p, _)| p == &format!("/api/v1/reports/{}", reporter.report))
            || seen.iter().any(|(p, b)| p == "/api/v1/reports" && b.to_string().contains(&reporter.report)),
        "the walk saw the report"
    );
    for (path, body) in &seen {
        let text = body.to_string();
        let names_account = text.contains(&reporter.id);
        let users_route = path.starts_with("/api/v1/users");
        assert!(!names_account || users_route, "{path} names the reporter's account: {text}");
        for secret in [&reporter.account[3..], DISPLAY_NAME, SUMMARY, LINK_NOTE] {
            assert!(!text.contains(secret), "{path} shows {secret}");
        }
        if users_route && names_account {
            assert!(
                !text.contains(&reporter.report) && !text.contains(&reporter.reference),
                "{path} links the account to the report"
            );
        }
    }
    let account = seen
        .iter()
        .find(|(p, _)| p == &format!("/api/v1/users/{}", reporter.id))
        .map(|(_, b)| b.clone())
        .expect("the admin saw the account");
    assert_eq!(account["role"], "reporter");
    assert!(account.get("email").is_none() && account.get("display_name").is_none(), "{account}");
    assert!(account["created_at"].as_str().unwrap().contains("T00:00:00"), "to the day only: {account}");
}

/// An installation from before SPEC §14: a reporter account with an email in the clear, a
/// report linked to it by id, a message naming its author, staff text in the clear. After the
/// upgrade at start the email still signs in, and none of those links or texts is stored.
async fn older_accounts_and_reports_are_upgraded(app: TestApp) {
    let reporter = reporter_files_a_report(&app).await;
    let backend = app.backend();
    let db = {
        let TestApp { db, pool, .. } = app;
        drop(pool);
        db
    };
    let mut conn = db.connect();
    // Back to before SPEC §14, reverting the later migrations on the way.
    loop {
        let reverted = conn.revert_last_migration(db::migrations_for(&conn)).expect("back to before SPEC §14");
        if reverted.to_string().ends_with("000004") {
            break;
        }
    }
    let id = &reporter.id;
    conn.batch_execute(&format!(
        "UPDATE users SET email = 'older@example.org' WHERE id = '{id}';
         UPDATE reports SET reporter_id = '{id}', submitted_by = '{id}';
         UPDATE report_messages SET author_id = '{id}';
         UPDATE cases SET summary = '{SUMMARY}';"
    ))
    .expect("older data");
    drop(conn);
    let app = TestApp::start(db, |_| {}).await;
    assert_eq!(app.backend(), backend);
    let login = app.post("/api/v1/auth/login", None, json!({"email": "Older@Example.org", "password": PASSWORD})).await;
    login.assert_status(200);
    let token = login.json()["access_token"].as_str().unwrap().to_string();
    let mine = app.get("/api/v1/reports/mine", Some(&token)).await;
    mine.assert_status(200);
    assert_eq!(mine.json()["items"][0]["id"], json!(reporter.report), "ownership moved to the tag");
    app.get(&format!("/api/v1/reports/{}", reporter.report), Some(&token)).await.assert_status(200);
    let dump = app.dump();
    assert!(contains(&dump, &reporter.reference));
    assert!(!contains(&dump, "older@example.org"), "the email is stored only as a keyed hash");
    let mut pooled = app.conn();
    let conn: &mut db::DbConn = &mut pooled;
    for (table, column) in [("reports", "reporter_id"), ("reports", "submitted_by"), ("report_messages", "author_id")] {
        let sql = format!("SELECT count(*) AS n FROM {table} WHERE CAST({column} AS TEXT) = '{id}'");
        assert_eq!(count(conn, &sql), 0, "{table}.{column} still names the reporter");
    }
    // Nothing new may name an owner by id again.
    let refused = conn.batch_execute(&format!("UPDATE reports SET reporter_id = '{id}'"));
    assert!(refused.is_err(), "reporter_id must stay empty");
}

both_backends!(
    a_copy_of_the_database_names_no_reporter_and_holds_no_staff_text,
    an_admin_walking_every_route_cannot_connect_an_account_to_its_report,
    older_accounts_and_reports_are_upgraded,
);
