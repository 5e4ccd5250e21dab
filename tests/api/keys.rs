//! SPEC §13: the keyring. `tipline keys rotate | retire | status` run as the real binary against
//! the database a running service (the test app, which reads the same keyring file) serves.

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::both_backends;
use crate::common::{TestApp, TestDb};
use tipline::db::locks::{KEY_ROTATION, KEY_ROTATION_SQL};

const NARRATIVE: &str = "KEYMARKER 他们说我父母会有麻烦。";

fn incident() -> Value {
    json!({
        "kind": "incident",
        "tactics": ["threat_to_family"],
        "narrative": NARRATIVE,
        "country": "nl",
        "contact": "signal only",
    })
}

/// An anonymous report: its id and receipt.
async fn anonymous_report(app: &TestApp) -> (String, String) {
    let created = app.post("/api/v1/reports", None, incident()).await.assert_json(201);
    (created["id"].as_str().unwrap().to_string(), created["receipt"].as_str().unwrap().to_string())
}

fn tipline(app: &TestApp, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tipline"));
    command
        .args(args)
        .env("DATABASE_URL", &app.db.url)
        .env("TIPLINE_DATA_DIR", app.db.dir.path())
        .env_remove("TIPLINE_KEYRING")
        .env_remove("TIPLINE_INDEX_KEY")
        .env_remove("TIPLINE_DATA_KEY")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

fn run(app: &TestApp, args: &[&str]) -> (Option<i32>, String) {
    let Output { status, stdout, stderr } = tipline(app, args).output().expect("run tipline");
    (status.code(), format!("{}{}", String::from_utf8_lossy(&stdout), String::from_utf8_lossy(&stderr)))
}

/// Ids of the keys in the keyring file, oldest first.
fn keyring_ids(app: &TestApp) -> Vec<String> {
    app.config.keyring_file.read().expect("keyring").into_iter().map(|e| e.id).collect()
}

/// Rows of `table` wrapped or sealed under master key `id`.
fn under(app: &TestApp, table: &str, id: &str) -> i64 {
    app.count(&format!("{table} WHERE master_key_id = '{id}'"))
}

/// Every report reads back whole through the service, as a caseworker.
async fn all_readable(app: &TestApp, token: &str, ids: &[String]) {
    for id in ids {
        let res = app.get(&format!("/api/v1/reports/{id}"), Some(token)).await;
        assert_eq!(res.status.as_u16(), 200, "report {id}: {}", res.text());
        assert_eq!(res.json()["narrative"], NARRATIVE);
    }
}

async fn rotation_rewraps_everything_while_the_service_runs(app: TestApp) {
    let worker = app.caseworker().await;
    let mut ids = Vec::new();
    let mut receipts = Vec::new();
    for _ in 0..12 {
        let (id, receipt) = anonymous_report(&app).await;
        ids.push(id);
        receipts.push(receipt);
    }
    let case = app
        .post("/api/v1/cases", Some(&worker.access_token), json!({"title": "T", "summary": "KEY-CASE-SUMMARY"}))
        .await
        .assert_json(201);
    // A second factor sealed before master key ids were stored beside secrets.
    let (_, legacy_staff) = app.insert_user(tipline::users::Role::Caseworker);
    app.sql(&format!(
        "UPDATE user_totp SET master_key_id = '' WHERE user_id = (SELECT id FROM users WHERE login = '{legacy_staff}')"
    ));
    app.login(&legacy_staff, crate::common::PASSWORD).await.assert_status(200);
    let old = app.config.keyring.master_key_id();
    assert_eq!(under(&app, "report_keys", &old), 12);

    let (code, out) = run(&app, &["keys", "rotate", "--batch", "5"]);
    assert_eq!(code, Some(0), "{out}");
    let ids_now = keyring_ids(&app);
    assert_eq!(ids_now.len(), 2);
    let new = ids_now[1].clone();
    assert_ne!(new, old);
    assert!(out.contains(&format!("rotated to the new key {new}")), "{out}");
    assert!(out.contains("re-wrapped 12 report keys, 1 case and station keys, 2 second-factor secrets"), "{out}");
    for table in ["report_keys", "data_keys", "user_totp"] {
        assert_eq!(under(&app, table, &old), 0, "{table}");
        assert_eq!(app.count(&format!("{table} WHERE master_key_id <> '{new}'")), 0, "{table}");
    }

    // The running service reads what is now wrapped under a key it had not loaded.
    all_readable(&app, &worker.access_token, &ids).await;
    let path = format!("/api/v1/cases/{}", case["id"].as_str().unwrap());
    assert_eq!(app.get(&path, Some(&worker.access_token)).await.assert_json(200)["summary"], "KEY-CASE-SUMMARY");
    // Receipts and second factors keep working; new reports are wrapped under the new key.
    for receipt in &receipts {
        app.post("/api/v1/auth/receipt", None, json!({"receipt": receipt})).await.assert_status(200);
    }
    app.login(&legacy_staff, crate::common::PASSWORD).await.assert_status(200);
    app.login(&worker.email, crate::common::PASSWORD).await.assert_status(200);
    let (fresh, _) = anonymous_report(&app).await;
    assert_eq!(app.count(&format!("report_keys WHERE report_id = '{fresh}' AND master_key_id = '{new}'")), 1);

    let entries = app.audit("keys.rotate");
    assert_eq!(entries.len(), 2, "started and finished: {entries:?}");
    assert_eq!(entries[0].actor_role.as_deref(), Some("system"));
    let started = TestApp::details(&entries[0]);
    assert_eq!(started["phase"], "started");
    assert_eq!(started["key"], new.as_str());
    assert_eq!(started["resumed"], false);
    assert_eq!(started["from"], json!([old]));
    let finished = TestApp::details(&entries[1]);
    assert_eq!(finished["phase"], "finished");
    assert_eq!(finished["rewrapped"], json!({"report_keys": 12, "data_keys": 1, "totp_secrets": 2}));
    assert_eq!(finished["left"], 0);

    let (code, out) = run(&app, &["keys", "status"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains(&format!("{new}  current: 13 report keys, 1 case and station keys, 2 second-factor secrets")),
        "{out}"
    );
    assert!(out.contains(&format!("{old}  earlier: 0 report keys")), "{out}");

    // The current key is never retired; the earlier one, now unused, is.
    let (code, out) = run(&app, &["keys", "retire", &new]);
    assert_eq!(code, Some(2), "{out}");
    assert!(out.contains("is the current key"), "{out}");
    let (code, out) = run(&app, &["keys", "retire", "0123456789abcdef"]);
    assert_eq!(code, Some(2), "{out}");
    assert!(out.contains("is not in the keyring"), "{out}");
    assert!(app.audit("keys.retire").is_empty(), "refusals change nothing");
    let (code, out) = run(&app, &["keys", "retire", &old]);
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(keyring_ids(&app), vec![new.clone()]);
    assert_eq!(TestApp::details(&app.audit_one("keys.retire")), json!({"key": old}));
    all_readable(&app, &worker.access_token, &ids).await;
}

async fn a_key_in_use_is_not_retired_and_a_rotation_resumes(app: TestApp) {
    let worker = app.caseworker().await;
    let mut ids = Vec::new();
    for _ in 0..4 {
        ids.push(anonymous_report(&app).await.0);
    }
    let old = app.config.keyring.master_key_id();
    // As if a rotation was killed right after it wrote the new key.
    let new = app.config.keyring_file.add_new_key().expect("add a key");

    let (code, out) = run(&app, &["keys", "retire", &old]);
    assert_eq!(code, Some(2), "{out}");
    assert!(
        out.contains(&format!(
            "key {old} still wraps 5 key(s) (4 report keys, 0 case and station keys, 1 second-factor secrets)"
        )),
        "{out}"
    );
    assert_eq!(keyring_ids(&app).len(), 2, "nothing removed");

    let (code, out) = run(&app, &["keys", "rotate"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains(&format!("finished the rotation to key {new}")), "{out}");
    assert_eq!(keyring_ids(&app), vec![old.clone(), new.clone()], "no third key");
    assert_eq!(TestApp::details(&app.audit("keys.rotate")[0])["resumed"], true);
    all_readable(&app, &worker.access_token, &ids).await;

    // A database that names a key the keyring lacks is reported, with exit status 1.
    app.sql(&format!("UPDATE report_keys SET master_key_id = 'feedfeedfeedfeed' WHERE report_id = '{}'", ids[0]));
    let (code, out) = run(&app, &["keys", "status"]);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("feedfeedfeedfeed  MISSING from the keyring"), "{out}");
    // …and the service refuses to start on it rather than answer that report with 500s.
    let mut serve = tipline(&app, &["serve"]).env("TIPLINE_BIND", "127.0.0.1:0").spawn().expect("serve");
    let started = Instant::now();
    let status = loop {
        if let Some(status) = serve.try_wait().expect("wait") {
            break status;
        }
        if started.elapsed() > Duration::from_secs(30) {
            serve.kill().expect("kill");
            panic!("the service started on a keyring that lacks a key of its data");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status.code(), Some(2));
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut serve.stderr.take().expect("stderr"), &mut stderr).expect("read");
    assert!(stderr.contains("master key feedfeedfeedfeed, which the keyring"), "{stderr}");
}

async fn one_rotation_at_a_time(app: TestApp) {
    anonymous_report(&app).await;
    let held = app.config.keyring_file.try_lock().expect("lock").expect("free");
    let (code, out) = run(&app, &["keys", "rotate"]);
    assert_eq!(code, Some(2), "{out}");
    assert!(out.contains("another rotation or retirement is running"), "{out}");
    drop(held);
    if let tipline::db::DbConn::Pg(pg) = &mut **app.conn() {
        // Another host's rotation holds the database's lock.
        use diesel::RunQueryDsl;
        diesel::sql_query(format!("SELECT pg_advisory_lock({KEY_ROTATION}, {KEY_ROTATION_SQL})"))
            .execute(pg)
            .expect("lock");
        let (code, out) = run(&app, &["keys", "rotate"]);
        assert_eq!(code, Some(2), "{out}");
        assert!(out.contains("another rotation or retirement is running"), "{out}");
        diesel::sql_query(format!("SELECT pg_advisory_unlock({KEY_ROTATION}, {KEY_ROTATION_SQL})"))
            .execute(pg)
            .expect("unlock");
    }
    assert_eq!(keyring_ids(&app).len(), 1, "a refused rotation makes no key");
    assert!(app.audit("keys.rotate").is_empty());
    let (code, out) = run(&app, &["keys", "rotate"]);
    assert_eq!(code, Some(0), "{out}");
}

/// A service started with another index key would match no receipt: it refuses to start.
async fn another_index_key_is_refused_at_start(app: TestApp) {
    let (code, out) = run(&app, &["keys", "status"]);
    assert_eq!(code, Some(0), "{out}");
    let (code, out) = {
        let Output { status, stdout, stderr } = tipline(&app, &["keys", "status"])
            .env("TIPLINE_INDEX_KEY", "another-index-key-another-index-key-0")
            .output()
            .expect("run");
        (status.code(), format!("{}{}", String::from_utf8_lossy(&stdout), String::from_utf8_lossy(&stderr)))
    };
    assert_eq!(code, Some(2), "{out}");
    assert!(out.contains("not the index key the database was written with"), "{out}");
}

both_backends!(
    rotation_rewraps_everything_while_the_service_runs,
    a_key_in_use_is_not_retired_and_a_rotation_resumes,
    one_rotation_at_a_time,
    another_index_key_is_refused_at_start,
);

/// `tipline keys rotate` killed with SIGKILL at several points, then run to the end: after each
/// kill every report reads back whole through the running service, and each report key is
/// wrapped under the old key or the new one; the last run finishes without making a third key.
async fn a_rotation_killed_at_any_point_leaves_every_report_readable(db: TestDb) {
    let app = TestApp::start(db, |c| c.rates.submit = None).await;
    let worker = app.caseworker().await;
    let mut ids = Vec::new();
    for _ in 0..300 {
        ids.push(anonymous_report(&app).await.0);
    }
    let old = app.config.keyring.master_key_id();
    let mut new = None;
    // Kill points: right after the first re-wrap, then at random further on (each run resumes the
    // last); printed, so that a failure can be replayed.
    let mut points: Vec<i64> = uuid::Uuid::new_v4().as_bytes()[..3].iter().map(|b| 2 + i64::from(*b) % 270).collect();
    points.push(1);
    points.sort_unstable();
    points.dedup();
    eprintln!("kill points (report keys re-wrapped): {points:?}");
    for (round, threshold) in points.into_iter().enumerate() {
        let mut child = tipline(&app, &["keys", "rotate", "--batch", "3", "--pause-ms", "2"]).spawn().expect("start");
        let started = Instant::now();
        loop {
            let ids_now = keyring_ids(&app);
            let moved = ids_now.get(1).map_or(0, |id| under(&app, "report_keys", id));
            if moved >= threshold || started.elapsed() > Duration::from_secs(60) {
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        child.kill().expect("SIGKILL");
        let status = child.wait().expect("reaped");
        assert!(status.code().is_none(), "round {round}: killed before it finished");
        let ids_now = keyring_ids(&app);
        assert_eq!(ids_now.len(), 2, "round {round}: a resumed rotation makes no new key");
        new = Some(ids_now[1].clone());
        let (on_old, on_new) = (under(&app, "report_keys", &old), under(&app, "report_keys", &ids_now[1]));
        assert_eq!(on_old + on_new, 300, "round {round}: every report key under one of the two keys");
        assert!(on_new >= threshold, "round {round}");
        all_readable(&app, &worker.access_token, &ids).await;
    }
    let new = new.expect("a new key");
    let (code, out) = run(&app, &["keys", "rotate"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains(&format!("finished the rotation to key {new}")), "{out}");
    assert_eq!(under(&app, "report_keys", &new), 300);
    all_readable(&app, &worker.access_token, &ids).await;
    let (code, out) = run(&app, &["keys", "retire", &old]);
    assert_eq!(code, Some(0), "{out}");
    all_readable(&app, &worker.access_token, &ids).await;
}

mod a_rotation_killed_at_any_point {
    #[actix_web::test]
    async fn sqlite() {
        super::a_rotation_killed_at_any_point_leaves_every_report_readable(crate::common::TestDb::sqlite()).await
    }
    #[actix_web::test]
    async fn postgres() {
        if let Some(db) = crate::common::TestDb::postgres() {
            super::a_rotation_killed_at_any_point_leaves_every_report_readable(db).await
        }
    }
}

/// Reports keep arriving while `tipline keys rotate` runs: those the service wrapped under the old
/// key before it read the new keyring are re-wrapped by a later pass, so the rotation ends with
/// nothing left under the old key, and every report reads back.
async fn reports_arriving_during_a_rotation_are_rotated_too(db: TestDb) {
    let app = TestApp::start(db, |c| c.rates.submit = None).await;
    let worker = app.caseworker().await;
    let mut ids = Vec::new();
    for _ in 0..30 {
        ids.push(anonymous_report(&app).await.0);
    }
    let old = app.config.keyring.master_key_id();
    let mut child = tipline(&app, &["keys", "rotate", "--batch", "5"]).spawn().expect("start");
    while child.try_wait().expect("wait").is_none() {
        ids.push(anonymous_report(&app).await.0);
        actix_web::rt::time::sleep(Duration::from_millis(5)).await;
    }
    let out = child.wait_with_output().expect("output");
    let printed = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "{printed}");
    assert_eq!(under(&app, "report_keys", &old), 0, "{printed}");
    let new = keyring_ids(&app)[1].clone();
    let after = app.count(&format!("report_keys WHERE master_key_id = '{new}'")) as usize;
    assert_eq!(after, ids.len());
    all_readable(&app, &worker.access_token, &ids).await;
}

mod reports_arriving_during_a_rotation {
    #[actix_web::test]
    async fn sqlite() {
        super::reports_arriving_during_a_rotation_are_rotated_too(crate::common::TestDb::sqlite()).await
    }
    #[actix_web::test]
    async fn postgres() {
        if let Some(db) = crate::common::TestDb::postgres() {
            super::reports_arriving_during_a_rotation_are_rotated_too(db).await
        }
    }
}
