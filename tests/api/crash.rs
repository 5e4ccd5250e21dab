//! Crash safety: Tipline killed with SIGKILL at random moments under concurrent submissions and
//! triage writes loses nothing it acknowledged, keeps nothing it refused, and its audit chain
//! still verifies.

use std::collections::HashMap;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Integer, Text};

use crate::common::TestDb;
use crate::process::{body_of, cli_admin, get_raw, header_of, login, post_json, try_request, Server};

const CYCLES: usize = 20;

fn random_below(n: u64) -> u64 {
    (uuid::Uuid::new_v4().as_u128() % n as u128) as u64
}

#[derive(Default)]
struct Ledger {
    /// References of submissions answered 201.
    accepted: Vec<String>,
    /// Cities of submissions answered 422.
    refused: Vec<String>,
    /// Report id → highest version a 200 triage answer announced.
    triaged: HashMap<String, i32>,
}

fn submitter(addr: String, stop: Arc<AtomicBool>, counter: Arc<AtomicUsize>, ledger: Arc<Mutex<Ledger>>) {
    while !stop.load(Ordering::Relaxed) {
        let n = counter.fetch_add(1, Ordering::Relaxed);
        let bad = n % 5 == 0;
        let (city, country) = if bad { (format!("bad-{n}"), "XX") } else { (format!("ok-{n}"), "NL") };
        let body = format!(
            r#"{{"kind":"incident","tactics":["surveillance"],"narrative":"crash test {n}","country":"{country}","city":"{city}"}}"#
        );
        match try_request(&addr, &post_json("/api/v1/reports", &body, "")) {
            Some((201, response)) => {
                let reference = body_of(&response)["reference"].as_str().unwrap_or_default().to_string();
                ledger.lock().unwrap().accepted.push(reference);
            }
            Some((422, _)) => ledger.lock().unwrap().refused.push(city),
            Some((status, response)) => panic!("unexpected {status}: {response}"),
            None => return,
        }
    }
}

fn triager(addr: String, token: String, stop: Arc<AtomicBool>, ledger: Arc<Mutex<Ledger>>) {
    while !stop.load(Ordering::Relaxed) {
        let Some((200, page)) = try_request(&addr, &get_raw("/api/v1/reports?limit=20", Some(&token))) else { return };
        let items = body_of(&page)["items"].as_array().cloned().unwrap_or_default();
        let Some(item) = items.get(random_below(items.len().max(1) as u64) as usize) else { continue };
        let (id, version) = (item["id"].as_str().unwrap().to_string(), item["version"].as_i64().unwrap());
        let body = format!(r#"{{"tags":["t{}"]}}"#, random_below(1_000_000));
        let request = format!(
            "PATCH /api/v1/reports/{id} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nAuthorization: Bearer {token}\r\n\
             If-Match: \"{version}\"\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        match try_request(&addr, &request) {
            Some((200, response)) => {
                let etag =
                    header_of(&response, "etag").unwrap_or("\"0\"").trim_matches('"').parse::<i32>().unwrap_or(0);
                let mut ledger = ledger.lock().unwrap();
                let entry = ledger.triaged.entry(id).or_insert(0);
                *entry = (*entry).max(etag);
            }
            Some((412, _)) => {}
            Some((status, response)) => panic!("unexpected {status}: {response}"),
            None => return,
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

fn count(db: &TestDb, sql: String, bind: &str) -> i64 {
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
    let create = r#"{"email":"crash-worker@example.org","password":"a strong worker passphrase","role":"caseworker","display_name":"W"}"#;
    let auth = format!("Authorization: Bearer {admin}\r\n");
    assert_eq!(try_request(&server.addr, &post_json("/api/v1/users", create, &auth)).unwrap().0, 201);
    let worker = login(&server.addr, "crash-worker@example.org", "a strong worker passphrase");
    server.stop();

    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let counter = Arc::new(AtomicUsize::new(0));
    for _ in 0..CYCLES {
        let server = Server::start_with(&db.url, &dir);
        let stop = Arc::new(AtomicBool::new(false));
        let mut threads = Vec::new();
        for _ in 0..3 {
            let (addr, stop, counter, ledger) = (server.addr.clone(), stop.clone(), counter.clone(), ledger.clone());
            threads.push(std::thread::spawn(move || submitter(addr, stop, counter, ledger)));
        }
        let (addr, stop2, ledger2, token) = (server.addr.clone(), stop.clone(), ledger.clone(), worker.clone());
        threads.push(std::thread::spawn(move || triager(addr, token, stop2, ledger2)));
        std::thread::sleep(Duration::from_millis(50 + random_below(400)));
        let mut child = server.child;
        child.kill().expect("SIGKILL");
        child.wait().expect("reap");
        stop.store(true, Ordering::Relaxed);
        for thread in threads {
            thread.join().expect("load thread");
        }
    }

    let ledger = ledger.lock().unwrap();
    eprintln!(
        "crash test: {CYCLES} kills, {} submissions acknowledged, {} refused, {} reports triaged",
        ledger.accepted.len(),
        ledger.refused.len(),
        ledger.triaged.len()
    );
    assert!(!ledger.triaged.is_empty(), "triage ran");
    assert!(ledger.accepted.len() >= CYCLES, "the load ran: {} accepted", ledger.accepted.len());
    for reference in &ledger.accepted {
        assert_eq!(
            count(&db, "SELECT COUNT(*) AS n FROM reports WHERE reference = ?".into(), reference),
            1,
            "{reference} was acknowledged but lost"
        );
    }
    for city in &ledger.refused {
        assert_eq!(
            count(&db, "SELECT COUNT(*) AS n FROM reports WHERE city = ?".into(), city),
            0,
            "{city} was refused but stored"
        );
    }
    assert_eq!(count(&db, "SELECT COUNT(*) AS n FROM reports WHERE city LIKE ?".into(), "bad-%"), 0);
    for (id, acknowledged) in &ledger.triaged {
        let mut conn = db.connect();
        let sql = format!("SELECT version FROM reports WHERE id = '{id}'");
        let rows: Vec<Version> = match &mut conn {
            tipline::db::DbConn::Pg(c) => diesel::sql_query(sql).load(c),
            tipline::db::DbConn::Sqlite(c) => diesel::sql_query(sql).load(c),
        }
        .unwrap();
        assert!(rows[0].version >= *acknowledged, "triage of {id} to version {acknowledged} was lost");
    }
    // Every stored report has its audit entry and its key: each was committed whole.
    let reports = count(&db, "SELECT COUNT(*) AS n FROM reports WHERE kind <> ?".into(), "none");
    assert_eq!(count(&db, "SELECT COUNT(*) AS n FROM audit_log WHERE action = ?".into(), "report.create"), reports);
    assert_eq!(count(&db, "SELECT COUNT(*) AS n FROM report_keys WHERE key_id <> ?".into(), ""), reports);
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
