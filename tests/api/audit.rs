//! SPEC §8: the hash-chained, append-only audit trail.

use diesel::connection::SimpleConnection;
use serde_json::json;

use crate::both_backends;
use crate::common::TestApp;
use tipline::audit::{self, Action, Actor, NewEntry};
use tipline::db::{self, Backend};

async fn list_filters_and_pages_newest_first(app: TestApp) {
    let admin = app.admin().await;
    let reporter = app.caseworker().await;
    for _ in 0..3 {
        app.login(&reporter.email, "not the right password").await.assert_problem(401);
    }
    let all = app.get("/api/v1/audit", Some(&admin.access_token)).await.assert_json(200);
    let seqs: Vec<i64> = all["items"].as_array().unwrap().iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    assert!(seqs.windows(2).all(|w| w[0] > w[1]), "newest first: {seqs:?}");
    let first = &all["items"][0];
    assert_eq!(first["action"], "auth.login_failed");
    assert!(first["hash"].as_str().unwrap().len() == 64);
    assert!(first["details"].is_object());

    let failed =
        app.get("/api/v1/audit?action=auth.login_failed&limit=2", Some(&admin.access_token)).await.assert_json(200);
    assert_eq!(failed["items"].as_array().unwrap().len(), 2);
    let cursor = failed["next_cursor"].as_str().expect("a next page").to_string();
    let rest = app
        .get(&format!("/api/v1/audit?action=auth.login_failed&limit=2&cursor={cursor}"), Some(&admin.access_token))
        .await
        .json();
    assert_eq!(rest["items"].as_array().unwrap().len(), 1);
    assert!(rest["next_cursor"].is_null());

    let by_actor =
        app.get(&format!("/api/v1/audit?actor_id={}", admin.id), Some(&admin.access_token)).await.assert_json(200);
    assert!(by_actor["items"].as_array().unwrap().iter().all(|e| e["actor_id"] == json!(admin.id)));
    assert_eq!(by_actor["items"].as_array().unwrap().len(), 1, "the admin's login");
    let by_target =
        app.get(&format!("/api/v1/audit?target_id={}", reporter.id), Some(&admin.access_token)).await.assert_json(200);
    assert_eq!(by_target["items"].as_array().unwrap().len(), 4, "the caseworker's login and three failures");
    let future = app.get("/api/v1/audit?from=2999-01-01T00:00:00Z", Some(&admin.access_token)).await.assert_json(200);
    assert!(future["items"].as_array().unwrap().is_empty());
    let past = app.get("/api/v1/audit?to=2000-01-01T00:00:00Z", Some(&admin.access_token)).await.assert_json(200);
    assert!(past["items"].as_array().unwrap().is_empty());

    let bad = app.get("/api/v1/audit?actor_id=nope&from=yesterday&limit=500", Some(&admin.access_token)).await;
    assert_eq!(bad.assert_problem(422)["errors"].as_array().unwrap().len(), 3);
}

async fn verify_reports_an_intact_chain_and_is_audited(app: TestApp) {
    let admin = app.admin().await;
    app.reporter().await;
    let res = app.get("/api/v1/audit/verify", Some(&admin.access_token)).await;
    res.assert_status(200);
    let body = res.json();
    assert_eq!(body["ok"], true);
    assert_eq!(body["entries"], 2, "two logins");
    assert!(body["first_bad_seq"].is_null());
    assert_eq!(body["head_hash"].as_str().unwrap().len(), 64);
    let entry = app.audit_one("audit.verify");
    assert_eq!(entry.actor_id, Some(admin.id));
    assert_eq!(TestApp::details(&entry)["ok"], true);
}

fn record_one(conn: &mut db::DbConn, n: usize) {
    db::write_tx(conn, |conn| {
        audit::record(conn, NewEntry::new(Actor::system(), Action::StationsImport).details(json!({"n": n}))).map(|_| ())
    })
    .expect("append");
}

async fn the_trail_rejects_update_delete_and_truncate(app: TestApp) {
    let mut conn = app.db.connect();
    record_one(&mut conn, 1);
    let attempts = ["UPDATE audit_log SET action = 'x'", "DELETE FROM audit_log"];
    for sql in attempts {
        let err = conn.batch_execute(sql).expect_err(sql);
        assert!(err.to_string().contains("append-only"), "{sql}: {err}");
    }
    if app.backend() == Backend::Postgres {
        let err = conn.batch_execute("TRUNCATE audit_log").expect_err("truncate");
        assert!(err.to_string().contains("append-only"), "{err}");
    }
    assert!(audit::verify(&mut conn).unwrap().ok);
    assert_eq!(app.audit("stations.import").len(), 1);
}

async fn fifty_concurrent_writers_leave_a_gap_free_chain(app: TestApp) {
    let threads: Vec<_> = (0..50)
        .map(|n| {
            let pool = app.pool.clone();
            std::thread::spawn(move || {
                let mut conn = pool.get().expect("connection");
                record_one(&mut conn, n);
            })
        })
        .collect();
    for thread in threads {
        thread.join().expect("writer thread");
    }
    let entries = app.audit("stations.import");
    let seqs: Vec<i64> = entries.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (1..=50).collect::<Vec<i64>>());
    let result = audit::verify(&mut app.db.connect()).unwrap();
    assert!(result.ok, "{result:?}");
    assert_eq!(result.entries, 50);
}

async fn an_entry_altered_behind_the_triggers_is_found(app: TestApp) {
    let admin = app.admin().await;
    let mut conn = app.db.connect();
    for n in 0..4 {
        record_one(&mut conn, n);
    }
    let target = app.audit("stations.import")[1].seq;
    let tamper = match app.backend() {
        Backend::Postgres => format!(
            "ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_update; \
             UPDATE audit_log SET details = '{{\"n\":99}}' WHERE seq = {target}; \
             ALTER TABLE audit_log ENABLE TRIGGER audit_log_no_update;"
        ),
        Backend::Sqlite => format!(
            "DROP TRIGGER audit_log_no_update; UPDATE audit_log SET details = '{{\"n\":99}}' WHERE seq = {target};"
        ),
    };
    conn.batch_execute(&tamper).expect("tamper");

    let body = app.get("/api/v1/audit/verify", Some(&admin.access_token)).await.assert_json(200);
    assert_eq!(body["ok"], false);
    assert_eq!(body["first_bad_seq"], target);

    // The command line says the same and exits 1.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tipline"))
        .args(["audit", "verify"])
        .env("DATABASE_URL", &app.db.url)
        .env("TIPLINE_DATA_DIR", app.db.dir.path())
        .env_remove("TIPLINE_JWT_SECRET")
        .env_remove("TIPLINE_DATA_KEY")
        .output()
        .expect("run tipline");
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains(&format!("seq {target}")), "{stdout}");
}

async fn cli_verify_exits_zero_on_an_intact_chain(app: TestApp) {
    app.admin().await;
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tipline"))
        .args(["audit", "verify"])
        .env("DATABASE_URL", &app.db.url)
        .env("TIPLINE_DATA_DIR", app.db.dir.path())
        .output()
        .expect("run tipline");
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("intact: 1 entries"));
    let entry = app.audit_one("audit.verify");
    assert_eq!(entry.actor_role.as_deref(), Some("system"));
}

both_backends!(
    list_filters_and_pages_newest_first,
    verify_reports_an_intact_chain_and_is_audited,
    the_trail_rejects_update_delete_and_truncate,
    fifty_concurrent_writers_leave_a_gap_free_chain,
    an_entry_altered_behind_the_triggers_is_found,
    cli_verify_exits_zero_on_an_intact_chain,
);
