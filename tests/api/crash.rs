//! Crash safety: Tipline killed with SIGKILL at random moments under concurrent submissions and
//! concurrent triage loses nothing it acknowledged, keeps no triage change it refused with 412,
//! never announces one version of a report to two writers, and its audit chain still verifies.
//! Acknowledged reports still decrypt after the last restart. Each kill is shown to have cut
//! requests off in flight, so the test is not one of clean stops between requests.

use std::collections::{HashMap, HashSet};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Integer, Text};

use crate::common::TestDb;
use crate::process::{body_of, cli_admin, get_raw, header_of, login, post_json, try_request, Server};

const CYCLES: usize = 20;
const TRIAGERS: usize = 3;
/// The reports the triagers contend for, and the country only they come from.
const HOT_REPORTS: usize = 2;
const HOT_COUNTRY: &str = "DE";
/// Acknowledged reports read back over HTTP at the end.
const READ_BACK: usize = 30;

fn random_below(n: u64) -> u64 {
    (uuid::Uuid::new_v4().as_u128() % n as u128) as u64
}

/// What became of one request.
enum Outcome {
    Answered(u16, String),
    /// Sent in full, then the connection ended without an answer: the kill landed while the
    /// request was in flight.
    CutOff,
    /// No connection, or it broke while sending: the server was already gone.
    NotSent,
}

fn attempt(addr: &str, raw: &str) -> Outcome {
    let Ok(mut stream) = TcpStream::connect(addr) else { return Outcome::NotSent };
    if stream.set_read_timeout(Some(Duration::from_secs(30))).is_err() || stream.write_all(raw.as_bytes()).is_err() {
        return Outcome::NotSent;
    }
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    let response = String::from_utf8_lossy(&response).into_owned();
    match response.split(' ').nth(1).and_then(|s| s.parse().ok()) {
        Some(status) if response.contains("\r\n\r\n") => Outcome::Answered(status, response),
        _ => Outcome::CutOff,
    }
}

struct Accepted {
    id: String,
    reference: String,
    narrative: String,
}

#[derive(Default)]
struct Ledger {
    accepted: Vec<Accepted>,
    /// Report id → every version a 200 triage answer announced for it.
    announced: HashMap<String, HashSet<i64>>,
    /// Tags sent in triage changes answered 412.
    refused_tags: Vec<String>,
    /// Requests sent in full and never answered.
    cut_off: usize,
}

fn submitter(addr: String, stop: Arc<AtomicBool>, counter: Arc<AtomicUsize>, ledger: Arc<Mutex<Ledger>>) {
    while !stop.load(Ordering::Relaxed) {
        let n = counter.fetch_add(1, Ordering::Relaxed);
        let narrative = format!("crash test {n} 家人");
        let body = format!(
            r#"{{"kind":"incident","tactics":["surveillance"],"narrative":"{narrative}","country":"NL","city":"c{n}"}}"#
        );
        match attempt(&addr, &post_json("/api/v1/reports", &body, "")) {
            Outcome::Answered(201, response) => {
                let created = body_of(&response);
                let (id, reference) = (created["id"].as_str(), created["reference"].as_str());
                let (Some(id), Some(reference)) = (id, reference) else { panic!("201 without id: {response}") };
                let accepted = Accepted { id: id.to_string(), reference: reference.to_string(), narrative };
                ledger.lock().unwrap().accepted.push(accepted);
            }
            Outcome::Answered(status, response) => panic!("submission answered {status}: {response}"),
            Outcome::CutOff => {
                ledger.lock().unwrap().cut_off += 1;
                return;
            }
            Outcome::NotSent => return,
        }
    }
}

/// Changes the tags of the few contended reports (the only ones from `HOT_COUNTRY`), each time
/// with the version the queue showed. The triagers work on the same rows at once, so their
/// changes meet on one version all the time: one must win and the others get 412.
fn triager(addr: String, token: String, stop: Arc<AtomicBool>, ledger: Arc<Mutex<Ledger>>) {
    let queue = format!("/api/v1/reports?country={HOT_COUNTRY}&limit={HOT_REPORTS}");
    while !stop.load(Ordering::Relaxed) {
        let page = match attempt(&addr, &get_raw(&queue, Some(&token))) {
            Outcome::Answered(200, page) => page,
            Outcome::Answered(status, response) => panic!("queue answered {status}: {response}"),
            Outcome::CutOff => {
                ledger.lock().unwrap().cut_off += 1;
                return;
            }
            Outcome::NotSent => return,
        };
        let items = body_of(&page)["items"].as_array().cloned().unwrap_or_default();
        assert_eq!(items.len(), HOT_REPORTS, "{page}");
        let item = &items[random_below(HOT_REPORTS as u64) as usize];
        let (id, version) = (item["id"].as_str().unwrap().to_string(), item["version"].as_i64().unwrap());
        let tag = format!("t{}", uuid::Uuid::new_v4().simple());
        let body = format!(r#"{{"tags":["{tag}"]}}"#);
        let request = format!(
            "PATCH /api/v1/reports/{id} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nAuthorization: Bearer {token}\r\n\
             If-Match: \"{version}\"\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        match attempt(&addr, &request) {
            Outcome::Answered(200, response) => {
                let etag = header_of(&response, "etag").unwrap_or_else(|| panic!("200 without ETag: {response}"));
                let announced: i64 = etag.trim_matches('"').parse().unwrap_or_else(|_| panic!("ETag {etag}"));
                assert_eq!(announced, version + 1, "a change from version {version} of {id} announced {etag}");
                let mut ledger = ledger.lock().unwrap();
                let fresh = ledger.announced.entry(id.clone()).or_default().insert(announced);
                assert!(fresh, "version {announced} of {id} was announced to two writers: one change was lost");
            }
            Outcome::Answered(412, _) => ledger.lock().unwrap().refused_tags.push(tag),
            Outcome::Answered(status, response) => panic!("triage answered {status}: {response}"),
            Outcome::CutOff => {
                ledger.lock().unwrap().cut_off += 1;
                return;
            }
            Outcome::NotSent => return,
        }
    }
}

#[derive(QueryableByName)]
struct Found {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[derive(QueryableByName)]
struct Version {
    #[diesel(sql_type = Integer)]
    version: i32,
}

fn count(db: &TestDb, sql: &str, bind: &str) -> i64 {
    let mut conn = db.connect();
    let rows: Vec<Found> = match &mut conn {
        tipline::db::DbConn::Pg(c) => diesel::sql_query(sql.replace('?', "$1")).bind::<Text, _>(bind).load(c),
        tipline::db::DbConn::Sqlite(c) => diesel::sql_query(sql).bind::<Text, _>(bind).load(c),
    }
    .expect("count");
    rows[0].n
}

fn killed_at_random_moments(db: TestDb) {
    let dir = db.dir.path().to_path_buf();
    let password = cli_admin(&db.url, &dir, "crash-admin@example.org");
    let server = Server::start_with(&db.url, &dir);
    let admin = login(&server.addr, "crash-admin@example.org", &password);
    let auth = format!("Authorization: Bearer {admin}\r\n");
    let mut workers = Vec::new();
    for n in 0..TRIAGERS {
        let email = format!("crash-worker-{n}@example.org");
        let create = format!(
            r#"{{"email":"{email}","password":"a strong worker passphrase","role":"caseworker","display_name":"W"}}"#
        );
        assert_eq!(try_request(&server.addr, &post_json("/api/v1/users", &create, &auth)).unwrap().0, 201);
        workers.push(login(&server.addr, &email, "a strong worker passphrase"));
    }
    for _ in 0..HOT_REPORTS {
        let body = format!(r#"{{"kind":"station","narrative":"contended","country":"{HOT_COUNTRY}"}}"#);
        assert_eq!(try_request(&server.addr, &post_json("/api/v1/reports", &body, "")).unwrap().0, 201);
    }
    server.stop();

    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let counter = Arc::new(AtomicUsize::new(0));
    let mut cut_off_per_cycle = Vec::new();
    for _ in 0..CYCLES {
        let server = Server::start_with(&db.url, &dir);
        let stop = Arc::new(AtomicBool::new(false));
        let mut threads = Vec::new();
        for _ in 0..3 {
            let (addr, stop, counter, ledger) = (server.addr.clone(), stop.clone(), counter.clone(), ledger.clone());
            threads.push(std::thread::spawn(move || submitter(addr, stop, counter, ledger)));
        }
        for token in &workers {
            let (addr, stop, ledger, token) = (server.addr.clone(), stop.clone(), ledger.clone(), token.clone());
            threads.push(std::thread::spawn(move || triager(addr, token, stop, ledger)));
        }
        std::thread::sleep(Duration::from_millis(50 + random_below(400)));
        let before = ledger.lock().unwrap().cut_off;
        let mut child = server.child;
        child.kill().expect("SIGKILL");
        child.wait().expect("reap");
        stop.store(true, Ordering::Relaxed);
        for thread in threads {
            thread.join().expect("load thread");
        }
        cut_off_per_cycle.push(ledger.lock().unwrap().cut_off - before);
    }

    let ledger = ledger.lock().unwrap();
    let changes: usize = ledger.announced.values().map(HashSet::len).sum();
    eprintln!(
        "crash test: {CYCLES} kills, {} submissions acknowledged, {changes} triage changes acknowledged on {} reports, \
         {} refused with 412, requests cut off per kill: {cut_off_per_cycle:?}",
        ledger.accepted.len(),
        ledger.announced.len(),
        ledger.refused_tags.len(),
    );
    assert!(ledger.accepted.len() >= CYCLES, "the load ran: {} accepted", ledger.accepted.len());
    assert!(changes > 0, "triage ran");
    assert!(
        ledger.refused_tags.len() >= CYCLES,
        "the triagers met on one version: {} refusals",
        ledger.refused_tags.len()
    );
    assert!(ledger.cut_off > 0, "no kill landed while a request was in flight: {cut_off_per_cycle:?}");

    for accepted in &ledger.accepted {
        let reference = &accepted.reference;
        let n = count(&db, "SELECT COUNT(*) AS n FROM reports WHERE reference = ?", reference);
        assert_eq!(n, 1, "{reference} was acknowledged but lost");
    }
    for (id, announced) in &ledger.announced {
        let acknowledged = announced.iter().max().copied().unwrap_or(0);
        let mut conn = db.connect();
        let sql = format!("SELECT version FROM reports WHERE id = '{id}'");
        let rows: Vec<Version> = match &mut conn {
            tipline::db::DbConn::Pg(c) => diesel::sql_query(sql).load(c),
            tipline::db::DbConn::Sqlite(c) => diesel::sql_query(sql).load(c),
        }
        .unwrap();
        assert!(i64::from(rows[0].version) >= acknowledged, "triage of {id} to version {acknowledged} was lost");
    }
    // A 412 is decided inside the transaction, after the version claim: nothing of it stays.
    for tag in &ledger.refused_tags {
        assert_eq!(count(&db, "SELECT COUNT(*) AS n FROM report_tags WHERE tag = ?", tag), 0, "refused {tag} stored");
    }
    // Every stored report has its audit entry and its key: each was committed whole.
    let reports = count(&db, "SELECT COUNT(*) AS n FROM reports WHERE kind <> ?", "none");
    // Submissions committed whose answer the kill cut off: kills that landed mid-request.
    let unanswered = reports - (ledger.accepted.len() + HOT_REPORTS) as i64;
    eprintln!("crash test: {unanswered} reports committed without an answer");
    assert!(unanswered >= 0, "more reports answered than stored");
    // Events committed but not yet sequenced when the last server was killed are sequenced by
    // the next pass; run one here, as a reader of the trail does.
    tipline::audit::sequence_all(&mut db.connect()).expect("sequence the audit trail");
    assert_eq!(count(&db, "SELECT COUNT(*) AS n FROM audit_pending WHERE action = ?", "report.create"), 0);
    assert_eq!(count(&db, "SELECT COUNT(*) AS n FROM audit_log WHERE action = ?", "report.create"), reports);
    assert_eq!(count(&db, "SELECT COUNT(*) AS n FROM report_keys WHERE key_id <> ?", ""), reports);

    // After the last restart, acknowledged reports decrypt to what was sent.
    let server = Server::start_with(&db.url, &dir);
    let token = login(&server.addr, "crash-worker-0@example.org", "a strong worker passphrase");
    let step = (ledger.accepted.len() / READ_BACK).max(1);
    for accepted in ledger.accepted.iter().step_by(step) {
        let (status, response) =
            try_request(&server.addr, &get_raw(&format!("/api/v1/reports/{}", accepted.id), Some(&token)))
                .expect("answer");
        assert_eq!(status, 200, "{response}");
        let view = body_of(&response);
        assert_eq!(view["reference"], accepted.reference.as_str());
        assert_eq!(view["narrative"], accepted.narrative.as_str(), "{} does not read back", accepted.reference);
    }
    let (exit, _) = server.stop();
    assert!(exit.success());

    let verify = Command::new(env!("CARGO_BIN_EXE_tipline"))
        .args(["audit", "verify"])
        .env("DATABASE_URL", &db.url)
        .env("TIPLINE_DATA_DIR", &dir)
        .output()
        .unwrap();
    assert!(verify.status.success(), "{}", String::from_utf8_lossy(&verify.stdout));
}

#[test]
fn sqlite() {
    killed_at_random_moments(TestDb::sqlite());
}

#[test]
fn postgres() {
    if let Some(db) = TestDb::postgres() {
        killed_at_random_moments(db);
    }
}
