//! SPEC §11: Tipline killed with SIGKILL while evidence files stream in. Every upload it
//! acknowledged reads back byte for byte after a restart, every file the database refers to
//! opens, and what the kills left behind (half-written files in `tmp/`, blobs written but never
//! recorded) is exactly what the orphan sweep removes.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use diesel::prelude::*;
use diesel::sql_types::Text;

use crate::common::TestDb;
use crate::process::{body_of, post_json, try_request, Server};

const CYCLES: usize = 6;
const UPLOADERS: usize = 3;
const UPLOADS_PER_REPORT: usize = 15;

fn random_below(n: u64) -> u64 {
    (uuid::Uuid::new_v4().as_u128() % n as u128) as u64
}

/// A report and a receipt token for it.
fn report(addr: &str) -> (String, String) {
    let body = r#"{"kind":"station","narrative":"evidence follows","country":"NL"}"#;
    let (status, response) = try_request(addr, &post_json("/api/v1/reports", body, "")).expect("submit");
    assert_eq!(status, 201, "{response}");
    let created = body_of(&response);
    let receipt = format!(r#"{{"receipt":"{}"}}"#, created["receipt"].as_str().unwrap());
    let (status, response) = try_request(addr, &post_json("/api/v1/auth/receipt", &receipt, "")).expect("receipt");
    assert_eq!(status, 200, "{response}");
    (created["id"].as_str().unwrap().to_string(), body_of(&response)["access_token"].as_str().unwrap().to_string())
}

/// Status and body of a raw exchange, as bytes; `None` when the connection broke first.
fn exchange(addr: &str, head: &str, body: &[u8]) -> Option<(u16, Vec<u8>)> {
    let mut stream = TcpStream::connect(addr).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(30))).ok()?;
    stream.write_all(head.as_bytes()).ok()?;
    for piece in body.chunks(32 * 1024) {
        stream.write_all(piece).ok()?;
    }
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    let split = response.windows(4).position(|w| w == b"\r\n\r\n")?;
    let status = std::str::from_utf8(&response[..split]).ok()?.split(' ').nth(1)?.parse().ok()?;
    Some((status, response[split + 4..].to_vec()))
}

struct Acknowledged {
    report: String,
    token: String,
    id: String,
    sha256: String,
}

fn uploader(addr: String, report: String, token: String, ledger: Arc<Mutex<Vec<Acknowledged>>>) {
    for _ in 0..UPLOADS_PER_REPORT {
        let len = 1 + random_below(1 << 20) as usize;
        let file: Vec<u8> = uuid::Uuid::new_v4().as_bytes().iter().copied().cycle().take(len).collect();
        let head = format!(
            "POST /api/v1/reports/{report}/attachments HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\
             Authorization: Bearer {token}\r\nContent-Type: application/octet-stream\r\nContent-Length: {len}\r\n\r\n"
        );
        let Some((status, body)) = exchange(&addr, &head, &file) else { return };
        if status != 201 {
            return;
        }
        let created: serde_json::Value = serde_json::from_slice(&body).expect("201 body");
        assert_eq!(created["sha256"], tipline::crypto::sha256_hex(&file));
        ledger.lock().unwrap().push(Acknowledged {
            report: report.clone(),
            token: token.clone(),
            id: created["id"].as_str().unwrap().to_string(),
            sha256: tipline::crypto::sha256_hex(&file),
        });
    }
}

#[derive(QueryableByName)]
struct Row {
    #[diesel(sql_type = Text)]
    report_id: String,
    #[diesel(sql_type = Text)]
    id: String,
}

fn killed_while_files_stream_in(db: TestDb) {
    let dir = db.dir.path().to_path_buf();
    let ledger = Arc::new(Mutex::new(Vec::new()));
    let mut tokens = std::collections::HashMap::new();
    for _ in 0..CYCLES {
        let server = Server::start_with(&db.url, &dir);
        let mut threads = Vec::new();
        for _ in 0..UPLOADERS {
            let (report, token) = report(&server.addr);
            tokens.insert(report.clone(), token.clone());
            let (addr, ledger) = (server.addr.clone(), ledger.clone());
            threads.push(std::thread::spawn(move || uploader(addr, report, token, ledger)));
        }
        std::thread::sleep(Duration::from_millis(100 + random_below(500)));
        let mut child = server.child;
        child.kill().expect("SIGKILL");
        child.wait().expect("reap");
        for thread in threads {
            thread.join().expect("uploader");
        }
    }
    let ledger = ledger.lock().unwrap();
    assert!(!ledger.is_empty(), "no upload was acknowledged before the kills");

    let server = Server::start_with(&db.url, &dir);
    // Every acknowledged upload reads back as sent.
    for ack in ledger.iter() {
        let path = format!("/api/v1/reports/{}/attachments/{}", ack.report, ack.id);
        let head = format!(
            "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nAuthorization: Bearer {}\r\n\r\n",
            ack.token
        );
        let (status, body) = exchange(&server.addr, &head, b"").expect("answer");
        assert_eq!(status, 200, "acknowledged upload {} does not read", ack.id);
        assert_eq!(tipline::crypto::sha256_hex(&body), ack.sha256, "{} reads back changed", ack.id);
    }
    // Every file the database refers to opens, acknowledged or not (a kill may land after the
    // commit and before the answer).
    let mut conn = db.connect();
    let sql = "SELECT CAST(report_id AS TEXT) AS report_id, CAST(id AS TEXT) AS id FROM attachments";
    let rows: Vec<Row> = match &mut conn {
        tipline::db::DbConn::Pg(c) => diesel::sql_query(sql).load(c),
        tipline::db::DbConn::Sqlite(c) => diesel::sql_query(sql).load(c),
    }
    .expect("attachments");
    assert!(rows.len() >= ledger.len());
    for row in &rows {
        let token = &tokens[&row.report_id];
        let head = format!(
            "GET /api/v1/reports/{}/attachments/{} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nAuthorization: Bearer {token}\r\n\r\n",
            row.report_id, row.id
        );
        assert_eq!(
            exchange(&server.addr, &head, b"").map(|(s, _)| s),
            Some(200),
            "stored file {} does not open",
            row.id
        );
    }
    let (exit, _) = server.stop();
    assert!(exit.success());

    // What the kills left (recent, so spared by the running instances' hourly sweep) is exactly
    // what a sweep removes: afterwards the store holds the recorded blobs and nothing else.
    let store = tipline::blobs::BlobStore::Local(tipline::blobs::LocalStore::open(dir.join("blobs")).unwrap());
    let removed = tipline::attachments::orphans::sweep(&mut conn, &store, Duration::ZERO).expect("sweep");
    let left = store.names_older_than(Duration::ZERO).unwrap();
    let referenced = tipline::attachments::store::referenced(&mut conn, &left).unwrap();
    eprintln!(
        "upload crash test: {CYCLES} kills, {} uploads acknowledged, {} stored, {removed} leftovers swept",
        ledger.len(),
        rows.len()
    );
    assert!(removed > 0, "no kill landed while a file was streaming in");
    assert_eq!(left.len(), referenced.len(), "after the sweep only recorded blobs are left");
    assert_eq!(std::fs::read_dir(dir.join("blobs/tmp")).unwrap().count(), 0);
}

#[test]
fn sqlite() {
    killed_while_files_stream_in(TestDb::sqlite());
}

#[test]
fn postgres() {
    if let Some(db) = TestDb::postgres() {
        killed_while_files_stream_in(db);
    }
}
