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
    let writer = GroupCommit::spawn(app.pool.clone(), None, 1);
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

both_backends!(concurrent_submissions_are_each_stored_once, one_failing_submission_does_not_fail_the_others);
