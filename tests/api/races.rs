//! SPEC §5: two caseworkers never silently overwrite each other. Several clients PATCH the
//! same resource at once with the same `If-Match`; exactly one wins each round, the others get
//! 412, and the audit trail holds one change per round. On PostgreSQL (read committed) this
//! is what a version read first and compared later would fail: every client would read the
//! same version, and all of them would be answered 200.

use futures_util::future::join_all;
use serde_json::{json, Value};

use crate::both_backends;
use crate::common::{Client, Response, TestApp};

const ROUNDS: i64 = 20;
const CLIENTS: usize = 4;

/// One round: every client sends its body at once, all with `If-Match: version`. Returns the
/// new version, after checking that exactly one client won.
async fn round(app: &TestApp, path: &str, clients: &[Client], version: i64, body: impl Fn(usize) -> Value) -> i64 {
    let requests =
        clients.iter().enumerate().map(|(i, c)| app.patch_if_match(path, &c.access_token, Some(version), body(i)));
    let responses: Vec<Response> = join_all(requests).await;
    let statuses: Vec<u16> = responses.iter().map(|r| r.status.as_u16()).collect();
    let winners: Vec<&Response> = responses.iter().filter(|r| r.status.as_u16() == 200).collect();
    assert_eq!(winners.len(), 1, "round at version {version}: statuses {statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 412).count(), clients.len() - 1, "{statuses:?}");
    for loser in responses.iter().filter(|r| r.status.as_u16() == 412) {
        loser.assert_problem(412);
    }
    let etag = winners[0].header("etag").expect("the winner gets the new ETag");
    assert_eq!(etag, format!("\"{}\"", version + 1));
    version + 1
}

async fn caseworkers(app: &TestApp) -> Vec<Client> {
    let mut clients = Vec::new();
    for _ in 0..CLIENTS {
        clients.push(app.caseworker().await);
    }
    clients
}

async fn report_triage_has_one_winner_per_round(app: TestApp) {
    let clients = caseworkers(&app).await;
    let created =
        app.post("/api/v1/reports", None, json!({"kind": "station", "narrative": "x", "country": "NL"})).await;
    created.assert_status(201);
    let id = created.json()["id"].as_str().unwrap().to_string();
    let path = format!("/api/v1/reports/{id}");
    let mut version = 1;
    for r in 0..ROUNDS {
        version = round(&app, &path, &clients, version, |i| json!({"tags": [format!("round {r} client {i}")]})).await;
    }
    let entries = app.audit("report.triage");
    assert_eq!(entries.len() as i64, ROUNDS, "one change per round");
    for (r, entry) in entries.iter().enumerate() {
        let changes = &TestApp::details(entry)["changes"];
        assert_eq!(changes.as_array().unwrap().len(), 1);
        let new = changes[0]["new"][0].as_str().unwrap();
        assert!(new.starts_with(&format!("round {r} client")), "{new}");
    }
    let staff = app.get(&path, Some(&clients[0].access_token)).await;
    staff.assert_status(200);
    assert_eq!(staff.json()["version"], 1 + ROUNDS);
    let last = entries.last().map(|e| TestApp::details(e)["changes"][0]["new"].clone()).unwrap();
    assert_eq!(staff.json()["tags"], last, "the stored tags are the last winner's");
}

async fn case_edits_have_one_winner_per_round(app: TestApp) {
    let clients = caseworkers(&app).await;
    let created = app.post("/api/v1/cases", Some(&clients[0].access_token), json!({"title": "T"})).await;
    created.assert_status(201);
    let path = format!("/api/v1/cases/{}", created.json()["id"].as_str().unwrap());
    let mut version = 1;
    for r in 0..ROUNDS {
        version = round(&app, &path, &clients, version, |i| json!({"title": format!("round {r} client {i}")})).await;
    }
    let entries = app.audit("case.update");
    assert_eq!(entries.len() as i64, ROUNDS, "one change per round");
    let case = app.get(&path, Some(&clients[0].access_token)).await;
    case.assert_status(200);
    assert_eq!(case.json()["version"], 1 + ROUNDS);
    let last = entries.last().map(|e| TestApp::details(e)["changes"][0]["new"].clone()).unwrap();
    assert_eq!(case.json()["title"], last, "the stored title is the last winner's");
}

async fn station_edits_have_one_winner_per_round(app: TestApp) {
    let clients = caseworkers(&app).await;
    let created =
        app.post("/api/v1/stations", Some(&clients[0].access_token), json!({"name": "Site", "country": "DE"})).await;
    created.assert_status(201);
    let path = format!("/api/v1/stations/{}", created.json()["id"].as_str().unwrap());
    let mut version = 1;
    for r in 0..ROUNDS {
        version = round(&app, &path, &clients, version, |i| json!({"city": format!("round {r} client {i}")})).await;
    }
    assert_eq!(app.audit("station.update").len() as i64, ROUNDS, "one change per round");
    let station = app.get(&path, Some(&clients[0].access_token)).await;
    station.assert_status(200);
    assert_eq!(station.json()["version"], 1 + ROUNDS);
    assert!(station.json()["city"].as_str().unwrap().starts_with(&format!("round {} client", ROUNDS - 1)));
}

/// Changes without `If-Match` (reports put into a case) still move the case's version one
/// step each, never two writers to the same number.
async fn concurrent_case_changes_each_bump_the_version(app: TestApp) {
    let clients = caseworkers(&app).await;
    let created = app.post("/api/v1/cases", Some(&clients[0].access_token), json!({"title": "T"})).await;
    let case_id = created.assert_json(201)["id"].as_str().unwrap().to_string();
    let mut reports = Vec::new();
    for _ in 0..CLIENTS {
        let r = app.post("/api/v1/reports", None, json!({"kind": "station", "narrative": "x", "country": "NL"})).await;
        reports.push(r.assert_json(201)["id"].as_str().unwrap().to_string());
    }
    let path = format!("/api/v1/cases/{case_id}/reports");
    let adds =
        clients.iter().zip(&reports).map(|(c, r)| app.post(&path, Some(&c.access_token), json!({"report_id": r})));
    let responses = join_all(adds).await;
    for res in &responses {
        res.assert_status(200);
    }
    let mut etags: Vec<&str> = responses.iter().map(|r| r.header("etag").expect("ETag")).collect();
    etags.sort();
    etags.dedup();
    assert_eq!(etags.len(), CLIENTS, "every change announced its own version");
    let case = app.get(&format!("/api/v1/cases/{case_id}"), Some(&clients[0].access_token)).await;
    case.assert_status(200);
    assert_eq!(case.json()["version"], 1 + CLIENTS as i64);
    assert_eq!(case.json()["reports"].as_array().unwrap().len(), CLIENTS);
    assert_eq!(app.audit("case.add_report").len(), CLIENTS);
}

both_backends!(
    report_triage_has_one_winner_per_round,
    case_edits_have_one_winner_per_round,
    station_edits_have_one_winner_per_round,
    concurrent_case_changes_each_bump_the_version,
);
