//! SPEC §13: withdrawal, receipts replaced and revoked, shredding, retention and legal holds.

use std::sync::atomic::AtomicBool;

use serde_json::{json, Value};

use crate::both_backends;
use crate::common::{Client, TestApp, TestDb};
use tipline::retention::Policy;

const NARRATIVE: &str = "SHREDMARKER 他们要求我回国。";

fn incident() -> Value {
    json!({
        "kind": "incident",
        "tactics": ["threat_to_family", "surveillance"],
        "narrative": NARRATIVE,
        "country": "nl",
        "city": "Rotterdam",
        "location_detail": "above the restaurant",
        "station_hint": "the association upstairs",
        "contact": "signal only",
    })
}

/// An anonymous report: its id and receipt.
async fn anonymous_report(app: &TestApp) -> (String, String) {
    let res = app.post("/api/v1/reports", None, incident()).await;
    let created = res.assert_json(201);
    (created["id"].as_str().unwrap().to_string(), created["receipt"].as_str().unwrap().to_string())
}

async fn report_of(app: &TestApp, reporter: &Client) -> String {
    let res = app.post("/api/v1/reports", Some(&reporter.access_token), incident()).await;
    res.assert_json(201)["id"].as_str().unwrap().to_string()
}

async fn exchange(app: &TestApp, receipt: &str) -> String {
    let res = app.post("/api/v1/auth/receipt", None, json!({"receipt": receipt})).await;
    res.assert_json(200)["access_token"].as_str().unwrap().to_string()
}

/// The body of a refused receipt exchange, without what differs per request.
async fn refused_exchange(app: &TestApp, receipt: &str) -> Value {
    let res = app.post("/api/v1/auth/receipt", None, json!({"receipt": receipt})).await;
    res.assert_problem(401)
}

fn withdraw_path(id: &str) -> String {
    format!("/api/v1/reports/{id}/withdraw")
}

/// Rows of `table` that belong to report `id`.
fn rows_of(app: &TestApp, table: &str, id: &str) -> i64 {
    app.count(&format!("{table} WHERE report_id = '{id}'"))
}

/// Makes reports look as if they entered `status` long ago (`ids`), behind the service's back.
fn age(app: &TestApp, ids: &[&str], status: &str) {
    for id in ids {
        let resolution = if status == "closed" { "'substantiated'" } else { "NULL" };
        app.sql(&format!(
            "UPDATE reports SET status = '{status}', resolution = {resolution}, \
             status_changed_at = '2001-01-01 00:00:00' WHERE id = '{id}'"
        ));
    }
}

fn sweep(app: &TestApp, policy: &Policy) -> usize {
    let mut conn = app.db.connect();
    tipline::retention::sweeper::sweep(&mut conn, &app.config.blobs, policy, &AtomicBool::new(false)).expect("sweep")
}

async fn queue_ids(app: &TestApp, token: &str, query: &str) -> Vec<String> {
    let res = app.get(&format!("/api/v1/reports?{query}"), Some(token)).await;
    let page = res.assert_json(200);
    let mut ids: Vec<String> =
        page["items"].as_array().unwrap().iter().map(|i| i["id"].as_str().unwrap().to_string()).collect();
    ids.sort();
    ids
}

async fn the_receipt_holder_withdraws_and_the_receipt_ends(app: TestApp) {
    let (id, receipt) = anonymous_report(&app).await;
    let token = exchange(&app, &receipt).await;
    let wrong = refused_exchange(&app, "00000000000000000000").await;

    let res = app.post(&withdraw_path(&id), Some(&token), json!({})).await;
    let body = res.assert_json(200);
    assert_eq!(body["status"], "withdrawn");
    assert_eq!((body["shredded"].clone(), body["erase_pending"].clone()), (json!(false), json!(false)));

    // The token given for the receipt ends at once, and the receipt gets a wrong one's answer.
    app.get(&format!("/api/v1/reports/{id}"), Some(&token)).await.assert_problem(401);
    app.post(&withdraw_path(&id), Some(&token), json!({})).await.assert_problem(401);
    assert_eq!(refused_exchange(&app, &receipt).await, wrong);

    let entry = app.audit_one("report.withdraw");
    assert_eq!((entry.actor_id, entry.actor_role.as_deref()), (None, Some("anonymous")));
    assert_eq!(entry.target_id.as_deref(), Some(id.as_str()));
    assert_eq!(TestApp::details(&entry), json!({"erase": false, "from": "new"}));
    assert!(app.audit("report.shred").is_empty());

    // Closed as withdrawn, for good: triage cannot move it.
    let worker = app.caseworker().await;
    let res = app.get(&format!("/api/v1/reports/{id}"), Some(&worker.access_token)).await;
    let view = res.assert_json(200);
    assert_eq!((view["status"].clone(), view["resolution"].clone()), (json!("withdrawn"), json!("withdrawn")));
    let version = view["version"].as_i64().unwrap();
    let patch = json!({"status": "investigating"});
    let res = app.patch_if_match(&format!("/api/v1/reports/{id}"), &worker.access_token, Some(version), patch).await;
    res.assert_problem(409);
    assert_eq!(rows_of(&app, "report_keys", &id), 1, "withdrawal without erase keeps the content");
}

async fn the_owner_withdraws_twice_then_erases(app: TestApp) {
    let owner = app.reporter().await;
    let other = app.reporter().await;
    let worker = app.caseworker().await;
    let admin = app.admin().await;
    let id = report_of(&app, &owner).await;
    let path = withdraw_path(&id);

    app.post(&path, None, json!({})).await.assert_problem(401);
    app.post(&path, Some(&other.access_token), json!({})).await.assert_problem(404);
    app.post(&path, Some(&worker.access_token), json!({})).await.assert_problem(403);
    app.post(&path, Some(&admin.access_token), json!({})).await.assert_problem(403);
    let problem = app.post(&path, Some(&owner.access_token), json!({"erase": "yes"})).await.assert_problem(422);
    assert_eq!(problem["errors"][0]["field"], "erase");
    assert!(app.audit("report.withdraw").is_empty());

    app.post(&path, Some(&owner.access_token), json!({"erase": false})).await.assert_status(200);
    // Again: the same answer, nothing changes, nothing more is audited.
    let again = app.post(&path, Some(&owner.access_token), json!({})).await.assert_json(200);
    assert_eq!((again["status"].clone(), again["shredded"].clone()), (json!("withdrawn"), json!(false)));
    let entry = app.audit_one("report.withdraw");
    assert_eq!((entry.actor_id, entry.actor_role.as_deref()), (None, Some("reporter")));

    // Erase on a withdrawn report shreds it.
    let erased = app.post(&path, Some(&owner.access_token), json!({"erase": true})).await.assert_json(200);
    assert_eq!((erased["shredded"].clone(), erased["erase_pending"].clone()), (json!(true), json!(false)));
    assert_eq!(app.audit("report.withdraw").len(), 1);
    let shred = app.audit_one("report.shred");
    assert_eq!((shred.actor_id, shred.actor_role.as_deref()), (None, Some("reporter")));
    assert_eq!(TestApp::details(&shred), json!({"by": "withdrawal"}));
    let problem = app.get(&format!("/api/v1/reports/{id}"), Some(&owner.access_token)).await.assert_problem(410);
    assert_eq!(problem["type"], "urn:tipline:problem:shredded");
    // Once shredded, nothing more happens.
    let last = app.post(&path, Some(&owner.access_token), json!({"erase": true})).await.assert_json(200);
    assert_eq!(last["shredded"], true);
    assert_eq!(app.audit("report.shred").len(), 1);
    // The owner still sees the tombstone in their list.
    let mine = app.get("/api/v1/reports/mine", Some(&owner.access_token)).await.assert_json(200);
    assert_eq!(mine["items"][0]["status"], "withdrawn");
}

async fn erase_shreds_every_ciphertext_and_keeps_a_tombstone(app: TestApp) {
    let worker = app.caseworker().await;
    let admin = app.admin().await;
    let (id, receipt) = anonymous_report(&app).await;
    let (kept, _) = anonymous_report(&app).await;
    let token = exchange(&app, &receipt).await;
    let messages = format!("/api/v1/reports/{id}/messages");
    let notes = format!("/api/v1/reports/{id}/notes");
    app.post(&messages, Some(&token), json!({"body": "SHREDMARKER message"})).await.assert_status(201);
    app.post(&messages, Some(&worker.access_token), json!({"body": "a reply"})).await.assert_status(201);
    app.post(&notes, Some(&worker.access_token), json!({"body": "SHREDMARKER note"})).await.assert_status(201);
    let view = app.get(&format!("/api/v1/reports/{id}"), Some(&worker.access_token)).await.assert_json(200);
    let patch = json!({"tags": ["sensitive"]});
    let version = view["version"].as_i64();
    app.patch_if_match(&format!("/api/v1/reports/{id}"), &worker.access_token, version, patch).await.assert_status(200);

    let res = app.post(&withdraw_path(&id), Some(&token), json!({"erase": true})).await;
    assert_eq!(res.assert_json(200)["shredded"], true);

    // The key row and every ciphertext are gone; the other report is whole.
    for table in ["report_keys", "report_messages", "report_notes", "report_tags"] {
        assert_eq!(rows_of(&app, table, &id), 0, "{table}");
    }
    assert_eq!(rows_of(&app, "report_keys", &kept), 1);
    let tombstone = format!(
        "reports WHERE id = '{id}' AND narrative = '' AND contact IS NULL AND location_detail IS NULL \
         AND station_hint IS NULL AND city IS NULL AND receipt_hash IS NULL AND shredded_at IS NOT NULL"
    );
    assert_eq!(app.count(&tombstone), 1);
    assert_eq!(app.count(&format!("reports WHERE id = '{kept}' AND shredded_at IS NULL")), 1);
    assert_eq!(rows_of(&app, "report_tactics", &id), 2, "tactics stay in the tombstone");

    // Content is 410, for staff too; the queue still shows the tombstone.
    for path in [format!("/api/v1/reports/{id}"), messages.clone(), notes.clone()] {
        let problem = app.get(&path, Some(&worker.access_token)).await.assert_problem(410);
        assert_eq!(problem["type"], "urn:tipline:problem:shredded", "{path}");
    }
    app.post(&messages, Some(&worker.access_token), json!({"body": "x"})).await.assert_problem(410);
    app.post(&notes, Some(&worker.access_token), json!({"body": "x"})).await.assert_problem(410);
    let version = Some(view["version"].as_i64().unwrap() + 3);
    let path = format!("/api/v1/reports/{id}");
    let res = app.patch_if_match(&path, &worker.access_token, version, json!({"priority": "high"})).await;
    res.assert_problem(410);
    assert_eq!(app.count(&format!("report_messages WHERE report_id = '{id}'")), 0);
    for token in [&worker.access_token, &admin.access_token] {
        let page = app.get("/api/v1/reports?status=withdrawn", Some(token)).await.assert_json(200);
        let item = &page["items"][0];
        assert_eq!(item["id"], id.as_str());
        assert!(item["shredded_at"].is_string());
        assert_eq!(item["country"], "NL");
        assert_eq!(item["tactics"], json!(["surveillance", "threat_to_family"]));
        assert_eq!(item["resolution"], "withdrawn");
    }
    assert_eq!(app.audit_one("report.shred").target_id.as_deref(), Some(id.as_str()));
}

async fn a_replaced_receipt_and_its_tokens_stop_working(app: TestApp) {
    let (id, receipt) = anonymous_report(&app).await;
    let token = exchange(&app, &receipt).await;
    let wrong = refused_exchange(&app, "00000000000000000000").await;

    let res = app.post(&format!("/api/v1/reports/{id}/receipt"), Some(&token), json!({})).await;
    let fresh = res.assert_json(201)["receipt"].as_str().unwrap().to_string();
    assert_ne!(fresh, receipt);
    assert!(!crate::common::contains(&app.raw_database(), &fresh), "only a hash of the receipt is stored");

    app.get(&format!("/api/v1/reports/{id}"), Some(&token)).await.assert_problem(401);
    assert_eq!(refused_exchange(&app, &receipt).await, wrong, "a revoked receipt looks like a wrong one");
    let token = exchange(&app, &fresh).await;
    app.get(&format!("/api/v1/reports/{id}"), Some(&token)).await.assert_status(200);

    let entry = app.audit_one("receipt.replace");
    assert_eq!((entry.actor_id, entry.actor_role.as_deref()), (None, Some("anonymous")));
    assert_eq!(entry.target_id.as_deref(), Some(id.as_str()));
    assert_eq!(TestApp::details(&entry), json!({"by": "reporter", "had_receipt": true}));

    // An owner gets a receipt for an account's report too.
    let owner = app.reporter().await;
    let own = report_of(&app, &owner).await;
    let res = app.post(&format!("/api/v1/reports/{own}/receipt"), Some(&owner.access_token), json!({})).await;
    let receipt = res.assert_json(201)["receipt"].as_str().unwrap().to_string();
    exchange(&app, &receipt).await;
    // A withdrawn report has none.
    app.post(&withdraw_path(&own), Some(&owner.access_token), json!({})).await.assert_status(200);
    app.post(&format!("/api/v1/reports/{own}/receipt"), Some(&owner.access_token), json!({})).await.assert_problem(409);
    refused_exchange(&app, &receipt).await;
}

async fn a_caseworker_revokes_and_issues_a_receipt(app: TestApp) {
    let worker = app.caseworker().await;
    let admin = app.admin().await;
    let stranger = app.reporter().await;
    let (id, receipt) = anonymous_report(&app).await;
    let token = exchange(&app, &receipt).await;
    let path = format!("/api/v1/reports/{id}/receipt");

    app.delete(&path, Some(&admin.access_token), json!({})).await.assert_problem(403);
    app.delete(&path, Some(&stranger.access_token), json!({})).await.assert_problem(403);
    app.delete(&path, Some(&token), json!({})).await.assert_problem(401);
    app.post(&path, Some(&admin.access_token), json!({})).await.assert_problem(403);
    app.post(&path, Some(&stranger.access_token), json!({})).await.assert_problem(404);
    assert!(app.audit("receipt.revoke").is_empty() && app.audit("receipt.replace").is_empty());

    app.delete(&path, Some(&worker.access_token), json!({})).await.assert_status(204);
    app.get(&format!("/api/v1/reports/{id}"), Some(&token)).await.assert_problem(401);
    refused_exchange(&app, &receipt).await;
    let entry = app.audit_one("receipt.revoke");
    assert_eq!(entry.actor_id, Some(worker.id));
    assert_eq!(TestApp::details(&entry), json!({"had_receipt": true}));

    let res = app.post(&path, Some(&worker.access_token), json!({})).await;
    let handed_over = res.assert_json(201)["receipt"].as_str().unwrap().to_string();
    let token = exchange(&app, &handed_over).await;
    app.get(&format!("/api/v1/reports/{id}"), Some(&token)).await.assert_status(200);
    let entry = app.audit_one("receipt.replace");
    assert_eq!(entry.actor_id, Some(worker.id));
    assert_eq!(TestApp::details(&entry), json!({"by": "staff", "had_receipt": false}));
}

async fn retention_shreds_what_is_due_and_spares_held_reports(app: TestApp) {
    let worker = app.caseworker().await;
    let staff = worker.access_token.as_str();
    let mut ids = Vec::new();
    for _ in 0..6 {
        ids.push(anonymous_report(&app).await.0);
    }
    let [due, held, in_held_case, recent, open, erased] = [0, 1, 2, 3, 4, 5].map(|i| ids[i].clone());
    age(&app, &[&due, &held, &in_held_case, &erased], "closed");
    age(&app, &[&open], "new");
    app.sql(&format!("UPDATE reports SET status = 'closed', resolution = 'referred' WHERE id = '{recent}'"));

    // Holds: on a report, and on a case that holds a report.
    let res = app.post(&format!("/api/v1/reports/{held}/legal-hold"), Some(staff), json!({})).await;
    assert!(res.assert_json(200)["legal_hold_at"].is_string());
    app.post(&format!("/api/v1/reports/{held}/legal-hold"), Some(staff), json!({})).await.assert_status(200);
    let case = app.post("/api/v1/cases", Some(staff), json!({"title": "Held"})).await.assert_json(201)["id"]
        .as_str()
        .unwrap()
        .to_string();
    app.post(&format!("/api/v1/cases/{case}/reports"), Some(staff), json!({"report_id": in_held_case}))
        .await
        .assert_status(200);
    app.post(&format!("/api/v1/cases/{case}/legal-hold"), Some(staff), json!({})).await.assert_status(200);
    let placed = app.audit("legal_hold.place");
    assert_eq!(placed.len(), 2, "a hold placed again is not audited again");
    assert_eq!(placed[0].target_type.as_deref(), Some("report"));
    assert_eq!((placed[1].target_type.as_deref(), placed[1].target_id.as_deref()), (Some("case"), Some(case.as_str())));
    assert_eq!(placed[1].actor_id, Some(worker.id));
    let admin = app.admin().await;
    app.post(&format!("/api/v1/cases/{case}/legal-hold"), Some(&admin.access_token), json!({}))
        .await
        .assert_problem(403);

    // A reporter's erase waits for the hold of the report.
    app.post(&format!("/api/v1/reports/{erased}/legal-hold"), Some(staff), json!({})).await.assert_status(200);
    let receipt_token = {
        app.sql(&format!("UPDATE reports SET status = 'investigating' WHERE id = '{erased}'"));
        let res = app.post(&format!("/api/v1/reports/{erased}/receipt"), Some(staff), json!({})).await;
        exchange(&app, res.assert_json(201)["receipt"].as_str().unwrap()).await
    };
    let res = app.post(&withdraw_path(&erased), Some(&receipt_token), json!({"erase": true})).await;
    let body = res.assert_json(200);
    assert_eq!((body["shredded"].clone(), body["erase_pending"].clone()), (json!(false), json!(true)));

    let mut soon = vec![due.clone()];
    soon.sort();
    assert_eq!(queue_ids(&app, staff, "expiring_within=0").await, soon);
    let mut later = vec![due.clone(), recent.clone()];
    later.sort();
    assert_eq!(queue_ids(&app, staff, "expiring_within=731").await, later);
    let problem = app.get("/api/v1/reports?expiring_within=soon", Some(staff)).await.assert_problem(422);
    assert_eq!(problem["errors"][0]["field"], "expiring_within");

    assert_eq!(sweep(&app, &Policy::DEFAULT), 1);
    assert_eq!(sweep(&app, &Policy::DEFAULT), 0, "a second sweep finds nothing");
    app.get(&format!("/api/v1/reports/{due}"), Some(staff)).await.assert_problem(410);
    for kept in [&held, &in_held_case, &recent, &open, &erased] {
        app.get(&format!("/api/v1/reports/{kept}"), Some(staff)).await.assert_status(200);
        assert_eq!(rows_of(&app, "report_keys", kept), 1);
    }
    let entry = app.audit_one("report.shred");
    assert_eq!((entry.actor_id, entry.actor_role.as_deref()), (None, Some("system")));
    assert_eq!(entry.target_id.as_deref(), Some(due.as_str()));
    assert_eq!(TestApp::details(&entry), json!({"by": "retention", "status": "closed", "days": 730}));

    // Lifting the holds lets retention (and the waiting erase) through.
    app.delete(&format!("/api/v1/reports/{held}/legal-hold"), Some(staff), json!({})).await.assert_status(204);
    app.delete(&format!("/api/v1/cases/{case}/legal-hold"), Some(staff), json!({})).await.assert_status(204);
    app.delete(&format!("/api/v1/reports/{erased}/legal-hold"), Some(staff), json!({})).await.assert_status(204);
    app.delete(&format!("/api/v1/cases/{case}/legal-hold"), Some(staff), json!({})).await.assert_status(204);
    let lifted = app.audit("legal_hold.lift");
    assert_eq!(lifted.len(), 3, "lifting no hold is not audited");
    let mut expected = vec![held.clone(), in_held_case.clone(), erased.clone()];
    expected.sort();
    assert_eq!(queue_ids(&app, staff, "expiring_within=0").await, expected);
    assert_eq!(sweep(&app, &Policy::DEFAULT), 3);
    let reasons: Vec<Value> = app.audit("report.shred").iter().map(TestApp::details).collect();
    assert_eq!(reasons.iter().filter(|d| d["by"] == "withdrawal").count(), 1);
    app.get(&format!("/api/v1/reports/{recent}"), Some(staff)).await.assert_status(200);
    app.get(&format!("/api/v1/reports/{open}"), Some(staff)).await.assert_status(200);
    // A policy of 0 days keeps everything.
    assert_eq!(sweep(&app, &Policy::KEEP), 0);
}

async fn concurrent_sweepers_never_shred_a_report_twice(app: TestApp) {
    let app = app.restart(|c| c.rates.submit = None).await;
    let mut ids = Vec::new();
    for _ in 0..40 {
        ids.push(anonymous_report(&app).await.0);
    }
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    age(&app, &refs, "closed");
    let url = app.db.url.clone();
    let sweepers: Vec<_> = (0..3)
        .map(|_| {
            let (url, blobs) = (url.clone(), app.config.blobs.clone());
            std::thread::spawn(move || {
                let mut conn = tipline::db::connect(&tipline::db::DatabaseUrl::parse(&url).unwrap()).expect("connect");
                tipline::retention::sweeper::sweep(&mut conn, &blobs, &Policy::DEFAULT, &AtomicBool::new(false))
                    .expect("sweep")
            })
        })
        .collect();
    let total: usize = sweepers.into_iter().map(|s| s.join().unwrap()).sum();
    assert_eq!(total, ids.len());
    let entries = app.audit("report.shred");
    let mut targets: Vec<String> = entries.iter().map(|e| e.target_id.clone().unwrap()).collect();
    targets.sort();
    targets.dedup();
    assert_eq!((entries.len(), targets.len()), (ids.len(), ids.len()), "one entry per report");
    assert_eq!(app.count("report_keys"), 0);
}

both_backends!(
    the_receipt_holder_withdraws_and_the_receipt_ends,
    the_owner_withdraws_twice_then_erases,
    erase_shreds_every_ciphertext_and_keeps_a_tombstone,
    a_replaced_receipt_and_its_tokens_stop_working,
    a_caseworker_revokes_and_issues_a_receipt,
    retention_shreds_what_is_due_and_spares_held_reports,
    concurrent_sweepers_never_shred_a_report_twice,
);

/// `tipline retention sweep` killed with SIGKILL while it shreds: every report is whole (its
/// content reads back) or shredded (410, no key, no messages), never in between; each shredded
/// report has exactly one `report.shred`; a second run finishes the job and prints its count.
async fn a_sweeper_killed_midway_leaves_reports_whole_or_shredded(db: TestDb) {
    let app = TestApp::start(db, |c| c.rates.submit = None).await;
    let worker = app.caseworker().await;
    let mut ids = Vec::new();
    for _ in 0..150 {
        let (id, receipt) = anonymous_report(&app).await;
        if ids.len() % 10 == 0 {
            let token = exchange(&app, &receipt).await;
            let path = format!("/api/v1/reports/{id}/messages");
            app.post(&path, Some(&token), json!({"body": "SHREDMARKER"})).await.assert_status(201);
        }
        ids.push(id);
    }
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    age(&app, &refs, "closed");

    let run = || {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_tipline"));
        command
            .args(["retention", "sweep"])
            .env("DATABASE_URL", &app.db.url)
            .env("TIPLINE_DATA_DIR", app.db.dir.path())
            .env("RUST_LOG", "warn")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null());
        command
    };
    // Kill points: after the first shredding, then at random further on; printed, so that a
    // failure can be replayed.
    let mut points: Vec<usize> =
        uuid::Uuid::new_v4().as_bytes()[..2].iter().map(|b| 2 + usize::from(*b) % 120).collect();
    points.push(1);
    points.sort_unstable();
    points.dedup();
    eprintln!("kill points (reports shredded): {points:?}");
    let mut shredded = 0;
    for threshold in points {
        let mut child = run().spawn().expect("start the sweep");
        let started = std::time::Instant::now();
        while (app.count("reports WHERE shredded_at IS NOT NULL") as usize) < threshold
            && started.elapsed().as_secs() < 60
        {
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        child.kill().expect("SIGKILL");
        child.wait().expect("reaped");

        shredded = 0;
        for id in &ids {
            let res = app.get(&format!("/api/v1/reports/{id}"), Some(&worker.access_token)).await;
            match res.status.as_u16() {
                200 => {
                    assert_eq!(res.json()["narrative"], NARRATIVE);
                    assert_eq!(rows_of(&app, "report_keys", id), 1);
                }
                410 => {
                    shredded += 1;
                    assert_eq!(rows_of(&app, "report_keys", id), 0);
                    assert_eq!(rows_of(&app, "report_messages", id), 0);
                    assert_eq!(
                        app.count(&format!("reports WHERE id = '{id}' AND narrative = '' AND contact IS NULL")),
                        1
                    );
                }
                other => panic!("report {id}: {other} {}", res.text()),
            }
        }
        assert!(shredded >= threshold, "the kill came after {threshold} shreddings");
        assert_eq!(app.audit("report.shred").len(), shredded, "one entry per shredded report");
    }

    let out = run().output().expect("the second sweep");
    assert!(out.status.success());
    let printed = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(printed.trim(), format!("{} report(s) shredded", ids.len() - shredded));
    assert_eq!(app.count("reports WHERE shredded_at IS NULL"), 0);
    assert_eq!(app.count("report_keys"), 0);
    assert_eq!(app.audit("report.shred").len(), ids.len());
}

mod a_sweeper_killed_midway {
    #[actix_web::test]
    async fn sqlite() {
        super::a_sweeper_killed_midway_leaves_reports_whole_or_shredded(crate::common::TestDb::sqlite()).await
    }
    #[actix_web::test]
    async fn postgres() {
        if let Some(db) = crate::common::TestDb::postgres() {
            super::a_sweeper_killed_midway_leaves_reports_whole_or_shredded(db).await
        }
    }
}
