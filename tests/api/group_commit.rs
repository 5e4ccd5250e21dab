//! Submissions written many to a transaction (`reports::group_commit`): each is stored once, with
//! its own reference and audit entry, and one that fails does not fail those written with it.

use serde_json::{json, Value};

use crate::both_backends;
use crate::common::TestApp;
use tipline::audit::{Action, Context};
use tipline::db::Id;
use tipline::http::RequestId;
use tipline::reports::group_commit::GroupCommit;

fn incident(n: usize) -> Value {
    json!({"kind": "incident", "tactics": ["surveillance", "threat_to_family"], "narrative": format!("GROUP-{n}"), "country": "nl"})
}

async fn submit(app: &TestApp, n: usize) -> Value {
    app.post("/api/v1/reports", None, incident(n)).await.assert_json(201)
}

async fn concurrent_submissions_are_each_stored_once(app: TestApp) {
    let mut created = Vec::new();
    for round in 0..5 {
        let n = round * 8;
        let (a, b, c, d, e, f, g, h) = tokio::join!(
            submit(&app, n),
            submit(&app, n + 1),
            submit(&app, n + 2),
            submit(&app, n + 3),
            submit(&app, n + 4),
            submit(&app, n + 5),
            submit(&app, n + 6),
            submit(&app, n + 7)
        );
        created.extend([a, b, c, d, e, f, g, h]);
    }
    let mut ids: Vec<&str> = created.iter().map(|c| c["id"].as_str().unwrap()).collect();
    let mut references: Vec<&str> = created.iter().map(|c| c["reference"].as_str().unwrap()).collect();
    ids.sort_unstable();
    ids.dedup();
    references.sort_unstable();
    references.dedup();
    assert_eq!((ids.len(), references.len()), (40, 40));
    assert_eq!(app.count("reports"), 40);
    assert_eq!(app.count("report_keys"), 40);
    assert_eq!(app.count("report_tactics"), 80);
    let entries = app.audit("report.create");
    assert_eq!(entries.len(), 40, "one entry each");
    let mut targets: Vec<&str> = entries.iter().map(|e| e.target_id.as_deref().unwrap()).collect();
    targets.sort_unstable();
    assert_eq!(targets, ids, "each entry names its own report");
    let worker = app.caseworker().await;
    for (n, c) in created.iter().enumerate() {
        let report =
            app.get(&format!("/api/v1/reports/{}", c["id"].as_str().unwrap()), Some(&worker.access_token)).await;
        assert_eq!(report.assert_json(200)["narrative"], format!("GROUP-{n}"));
    }
}

/// A submission that cannot be stored (here: the id of a stored report) fails alone: the others
/// of its batch are written again one at a time and stored.
async fn one_failing_submission_does_not_fail_the_others(app: TestApp) {
    let stored = submit(&app, 0).await;
    let id: Id = stored["id"].as_str().unwrap().parse().unwrap();
    let (row, key) = {
        let conn = &mut *app.conn();
        let row = tipline::reports::store::find(conn, id).unwrap().unwrap();
        let key = tipline::reports::store::key(conn, id).unwrap().unwrap();
        (row, key)
    };
    // With the bucket on: on SQLite the failed batch's draw is undone with it and drawn again.
    let writer = GroupCommit::spawn(app.pool.clone(), Some(1000), 1);
    let request = RequestId("group-commit-test".into());
    let entry = Context::system().entry(Action::ReportCreate);
    for _ in 0..10 {
        let mut fresh = row.clone();
        fresh.id = Id::new();
        fresh.receipt_hash = None;
        let mut fresh_key = key.clone();
        fresh_key.report_id = fresh.id;
        let (again, other) = tokio::join!(
            writer.store(row.clone(), key.clone(), Vec::new(), entry.clone(), &request),
            writer.store(fresh.clone(), fresh_key, Vec::new(), entry.clone(), &request)
        );
        assert!(again.is_err(), "the same id twice is refused");
        let other = other.expect("the other submission is stored");
        assert_eq!(other.id, fresh.id);
        assert_ne!(other.reference, row.reference, "a reference of its own");
        assert_eq!(app.count(&format!("reports WHERE id = '{}'", fresh.id)), 1);
    }
    assert_eq!(app.count("reports"), 11);
    assert_eq!(app.audit("report.create").len(), 11, "no entry for the refused one");
}

/// A batch larger than the bucket holds: as many are stored as there were tokens, the others get
/// 429, and the first refusal is audited once.
async fn a_batch_beyond_the_bucket_is_refused_in_part(app: TestApp) {
    let stored = submit(&app, 0).await;
    let id: Id = stored["id"].as_str().unwrap().parse().unwrap();
    let (row, key) = {
        let conn = &mut *app.conn();
        (
            tipline::reports::store::find(conn, id).unwrap().unwrap(),
            tipline::reports::store::key(conn, id).unwrap().unwrap(),
        )
    };
    let writer = GroupCommit::spawn(app.pool.clone(), Some(3), 1);
    let request = RequestId("group-commit-bucket".into());
    let entry = Context::system().entry(Action::ReportCreate);
    let jobs = (0..8).map(|_| {
        let mut fresh = row.clone();
        fresh.id = Id::new();
        fresh.receipt_hash = None;
        let mut fresh_key = key.clone();
        fresh_key.report_id = fresh.id;
        let (writer, entry, request) = (writer.clone(), entry.clone(), request.clone());
        async move { writer.store(fresh, fresh_key, Vec::new(), entry, &request).await }
    });
    let answers = futures_util::future::join_all(jobs).await;
    let stored = answers.iter().filter(|a| a.is_ok()).count();
    let refused = answers
        .iter()
        .filter(|a| matches!(a, Err(tipline::error::AppError::TooManyRequests { retry_after_secs }) if *retry_after_secs > 0))
        .count();
    assert_eq!((stored, refused), (3, 5), "a bucket of 3 tokens");
    assert_eq!(app.count("reports"), 4);
    assert_eq!(app.audit("report.create").len(), 4);
    let limited = app.audit("rate.limited");
    assert_eq!(limited.len(), 1, "the first refusal of the dry spell");
    assert_eq!(TestApp::details(&limited[0])["bucket"], "submit");
}

both_backends!(
    concurrent_submissions_are_each_stored_once,
    one_failing_submission_does_not_fail_the_others,
    a_batch_beyond_the_bucket_is_refused_in_part
);
