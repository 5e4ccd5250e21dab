//! Leak canaries: marker strings sent as content, passwords, malformed JSON, headers and query
//! strings are searched for in every response, the logs, the audit trail and the raw database
//! (the SQLite file with its WAL, or every PostgreSQL row). Each may appear only where it must:
//! report content only in the answers that show it to those allowed to read it.

use crate::common::{contains, TestDb};
use crate::process::{body_of, post_json, try_request, Server};

const NARRATIVE: &str = "CANARY-NARRATIVE-41d2";
const CONTACT: &str = "CANARY-CONTACT-9e07";
const MESSAGE: &str = "CANARY-MESSAGE-2b6a";
const PASSWORD: &str = "CANARY-PASSWORD-c3f8";
const JSON_VALUE: &str = "CANARY-JSON-7a11";
const HEADER: &str = "CANARY-HEADER-5d90";
const QUERY: &str = "CANARY-QUERY-e4c2";
const IP: &str = "198.51.100.123";

fn canaries_stay_where_they_belong(db: TestDb) {
    let server = Server::start(&db);
    let addr = server.addr.clone();
    let spy = format!(
        "X-Forwarded-For: {IP}, {HEADER}\r\nUser-Agent: {HEADER}-agent\r\nX-Real-IP: {IP}\r\nCookie: id={HEADER}\r\n"
    );
    // Responses that may show content, and those that may not.
    let mut may_show_content = Vec::new();
    let mut must_not = Vec::new();
    let send = |raw: String| -> (u16, String) {
        let (status, response) = try_request(&addr, &raw).expect("answer");
        (status, response)
    };

    let register = format!(r#"{{"password":"{PASSWORD} long enough","display_name":"Canary"}}"#);
    let (status, response) = send(post_json("/api/v1/auth/register", &register, &spy));
    assert_eq!(status, 201, "{response}");
    // The account name is shown to its owner once, and to nobody else after.
    let account = body_of(&response)["account"].as_str().expect("account name").to_string();
    may_show_content.push(response);
    let wrong = format!(r#"{{"account":"{account}","password":"{PASSWORD} but wrong"}}"#);
    let (status, response) = send(post_json("/api/v1/auth/login", &wrong, &spy));
    assert_eq!(status, 401);
    must_not.push(response);
    let right = format!(r#"{{"account":"{account}","password":"{PASSWORD} long enough"}}"#);
    let (status, response) = send(post_json("/api/v1/auth/login", &right, &spy));
    assert_eq!(status, 200);
    let token = body_of(&response)["access_token"].as_str().unwrap().to_string();
    must_not.push(response);

    let report = format!(
        r#"{{"kind":"incident","tactics":["threat_to_family"],"narrative":"{NARRATIVE} 他们威胁我","contact":"{CONTACT}","country":"NL"}}"#
    );
    let (status, response) = send(post_json(&format!("/api/v1/reports?src={QUERY}"), &report, &spy));
    assert_eq!(status, 201, "{response}");
    let created = body_of(&response);
    must_not.push(response);
    let (status, response) = send(post_json(
        "/api/v1/auth/receipt",
        &format!(r#"{{"receipt":"{}"}}"#, created["receipt"].as_str().unwrap()),
        &spy,
    ));
    assert_eq!(status, 200);
    let receipt_token = body_of(&response)["access_token"].as_str().unwrap().to_string();
    must_not.push(response);
    let id = created["id"].as_str().unwrap();
    let auth = format!("{spy}Authorization: Bearer {receipt_token}\r\n");
    let (status, response) =
        send(post_json(&format!("/api/v1/reports/{id}/messages"), &format!(r#"{{"body":"{MESSAGE}"}}"#), &auth));
    assert_eq!(status, 201);
    may_show_content.push(response);
    let (status, response) = send(format!(
        "GET /api/v1/reports/{id}?q={QUERY} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n{auth}\r\n"
    ));
    assert_eq!(status, 200);
    assert!(response.contains(NARRATIVE) && response.contains(CONTACT), "the owner reads their report");
    may_show_content.push(response);

    // Malformed and invalid input carrying markers.
    for (raw, expected) in [
        (format!(r#"{{"kind":"incident","narrative":"{JSON_VALUE}"#), 400),
        (format!(r#"{{"kind":{JSON_VALUE},"narrative":"x"}}"#), 400),
        (
            format!(r#"{{"kind":"{JSON_VALUE}","narrative":"{NARRATIVE}","country":"{JSON_VALUE}","{JSON_VALUE}":1}}"#),
            422,
        ),
        (format!(r#"{{"kind":"station","narrative":"{NARRATIVE}\u0000","country":"NL"}}"#), 422),
    ] {
        let (status, response) = send(post_json("/api/v1/reports", &raw, &spy));
        assert_eq!(status, expected, "{response}");
        must_not.push(response);
    }
    let (status, response) = send(format!(
        "GET /api/v1/audit?action={QUERY}&from={QUERY} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nAuthorization: Bearer {token}\r\n{spy}\r\n"
    ));
    assert_eq!(status, 403);
    must_not.push(response);
    let (status, response) =
        send(format!("GET /{QUERY}?{QUERY}={QUERY} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n{spy}\r\n"));
    assert_eq!(status, 404);
    must_not.push(response);
    let (status, response) = send(format!(
        "GET /api/v1/me HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nAuthorization: Bearer {HEADER}.{HEADER}.{HEADER}\r\n\r\n"
    ));
    assert_eq!(status, 401);
    must_not.push(response);

    let (exit, logs) = server.stop();
    assert!(exit.success());
    let logs = logs.join("\n");
    let raw = db.raw_database();
    let everything = [NARRATIVE, CONTACT, MESSAGE, PASSWORD, JSON_VALUE, HEADER, QUERY, IP];
    for marker in everything {
        assert!(!logs.contains(marker), "the logs hold {marker}");
        assert!(!contains(&raw, marker), "the database (or its audit trail) holds {marker}");
        for response in &must_not {
            assert!(!response.contains(marker), "a response echoes {marker}: {response}");
        }
    }
    for response in &may_show_content {
        for marker in [PASSWORD, JSON_VALUE, HEADER, QUERY, IP] {
            assert!(!response.contains(marker), "a response echoes {marker}: {response}");
        }
    }
}

#[test]
fn sqlite() {
    canaries_stay_where_they_belong(TestDb::sqlite());
}

#[test]
fn postgres() {
    if let Some(db) = TestDb::postgres() {
        canaries_stay_where_they_belong(db);
    }
}
