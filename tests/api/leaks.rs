//! Leak canaries: marker strings sent as content, passwords, malformed JSON, headers and query
//! strings are searched for in every response, the whole log and the raw database files (the
//! SQLite file with its WAL, or the PostgreSQL schema's relation files with their dead row
//! versions), both while the server runs and after it stopped. Each may appear only where it
//! must: report content only in the answers that show it to those allowed to read it. Every
//! search for an absence follows a check that the same bytes hold what they must (the request
//! lines in the log, clear metadata in the files), so an empty or truncated capture fails.

use std::cell::Cell;

use tipline::db::Backend;

use crate::common::{contains, TestDb};
use crate::process::{body_of, cli_admin, login_counted, post_json, try_request, Server};

const NARRATIVE: &str = "CANARY-NARRATIVE-41d2";
const CONTACT: &str = "CANARY-CONTACT-9e07";
const MESSAGE: &str = "CANARY-MESSAGE-2b6a";
const PASSWORD: &str = "CANARY-PASSWORD-c3f8";
const JSON_VALUE: &str = "CANARY-JSON-7a11";
const HEADER: &str = "CANARY-HEADER-5d90";
const QUERY: &str = "CANARY-QUERY-e4c2";
const IP: &str = "198.51.100.123";
/// Clear metadata that exists only in row versions an UPDATE or a DELETE left behind.
const STATION_BEFORE: &str = "LEAKTEST-STATION-BEFORE-0c5e";
const STATION_AFTER: &str = "LEAKTEST-STATION-AFTER-0c5e";
const LINK_NOTE: &str = "LEAKTEST-LINK-NOTE-a3d1";

fn canaries_stay_where_they_belong(db: TestDb) {
    let admin_password = cli_admin(&db.url, db.dir.path(), "leak-admin@example.org");
    let server = Server::start(&db);
    let addr = server.addr.clone();
    let spy = format!(
        "X-Forwarded-For: {IP}, {HEADER}\r\nUser-Agent: {HEADER}-agent\r\nX-Real-IP: {IP}\r\nCookie: id={HEADER}\r\n"
    );
    // Responses that may show content, and those that may not.
    let mut may_show_content = Vec::new();
    let mut must_not = Vec::new();
    let sent = Cell::new(0);
    let send = |raw: String| -> (u16, String) {
        sent.set(sent.get() + 1);
        try_request(&addr, &raw).expect("answer")
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
    let reference = created["reference"].as_str().unwrap().to_string();

    // The reporter website (SPEC §16): the same canaries through the form, a validation error
    // (which shows the person what they typed), the receipt page and the follow-up page.
    let (status, form) =
        send(format!("GET /zh-Hans/report?q={QUERY} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n{spy}\r\n"));
    assert_eq!(status, 200);
    must_not.push(form.clone());
    let form_token =
        form.split("name=\"form_token\" value=\"").nth(1).and_then(|r| r.split('"').next()).unwrap().to_string();
    let encode = |pairs: &[(&str, &str)]| {
        let mut out = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in pairs {
            out.append_pair(k, v);
        }
        out.finish()
    };
    let post_page = |path: &str, body: String| {
        format!(
            "POST {path}?q={QUERY} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Type: application/x-www-form-urlencoded\r\n{spy}Content-Length: {}\r\n\r\n{body}",
            body.len()
        )
    };
    let page_narrative = format!("{NARRATIVE} 他们在网上威胁我");
    let mut fields = vec![
        ("form_token", form_token.as_str()),
        ("kind", "incident"),
        ("tactics", "online_harassment"),
        ("narrative", page_narrative.as_str()),
        ("contact", CONTACT),
        ("country", "ZZ"),
    ];
    let (status, response) = send(post_page("/zh-Hans/report", encode(&fields)));
    assert_eq!(status, 422, "{response}");
    assert!(response.contains(NARRATIVE), "the form keeps what was typed");
    may_show_content.push(response);
    fields[5] = ("country", "NL");
    let (status, response) = send(post_page("/zh-Hans/report", encode(&fields)));
    assert_eq!(status, 200, "{response}");
    let page_receipt =
        response.split("id=\"receipt\" class=\"big\">").nth(1).and_then(|r| r.split('<').next()).unwrap().to_string();
    must_not.push(response);
    let (status, response) = send(post_page(
        "/zh-Hans/follow-up",
        encode(&[("form_token", &form_token), ("receipt", &page_receipt), ("body", MESSAGE)]),
    ));
    assert_eq!(status, 200, "{response}");
    assert!(response.contains(NARRATIVE) && response.contains(MESSAGE), "the holder reads their report");
    may_show_content.push(response);

    // Staff work rewrites and deletes rows: the canary report's row (its content sealed) is
    // updated three times, a station renamed, a case's station link with a note deleted.
    let (admin, requests) = login_counted(&addr, "leak-admin@example.org", &admin_password);
    sent.set(sent.get() + requests);
    let (status, response) = send(post_json(
        "/api/v1/users",
        r#"{"email":"leak-worker@example.org","password":"a strong worker passphrase","role":"caseworker","display_name":"W"}"#,
        &format!("Authorization: Bearer {admin}\r\n"),
    ));
    assert_eq!(status, 201, "{response}");
    let (worker, requests) = login_counted(&addr, "leak-worker@example.org", "a strong worker passphrase");
    sent.set(sent.get() + requests);
    let staff = format!("{spy}Authorization: Bearer {worker}\r\n");
    let (status, response) =
        send(with_method("PATCH", &format!("/api/v1/reports/{id}"), r#"{"tags":["leak-check"]}"#, &staff, Some(1)));
    assert_eq!(status, 200, "{response}");
    must_not.push(response);
    let station = format!(r#"{{"name":"{STATION_BEFORE}","country":"NL"}}"#);
    let (status, response) = send(post_json("/api/v1/stations", &station, &staff));
    assert_eq!(status, 201, "{response}");
    let station_id = body_of(&response)["id"].as_str().unwrap().to_string();
    let rename = format!(r#"{{"name":"{STATION_AFTER}"}}"#);
    let (status, response) =
        send(with_method("PATCH", &format!("/api/v1/stations/{station_id}"), &rename, &staff, Some(1)));
    assert_eq!(status, 200, "{response}");
    let (status, response) = send(post_json("/api/v1/cases", r#"{"title":"Leak check"}"#, &staff));
    assert_eq!(status, 201, "{response}");
    let case_id = body_of(&response)["id"].as_str().unwrap().to_string();
    let link =
        format!(r#"{{"station_id":"{station_id}","relation":"mentioned","confidence":"low","note":"{LINK_NOTE}"}}"#);
    let (status, response) = send(post_json(&format!("/api/v1/cases/{case_id}/stations"), &link, &staff));
    assert_eq!(status, 201, "{response}");
    let (status, response) =
        send(with_method("DELETE", &format!("/api/v1/cases/{case_id}/stations/{station_id}"), "", &staff, None));
    assert_eq!(status, 204, "{response}");
    let (status, response) =
        send(post_json(&format!("/api/v1/cases/{case_id}/reports"), &format!(r#"{{"report_id":"{id}"}}"#), &staff));
    assert_eq!(status, 200, "{response}");
    must_not.push(response);
    let (status, response) =
        send(with_method("DELETE", &format!("/api/v1/cases/{case_id}/reports/{id}"), "", &staff, None));
    assert_eq!(status, 204, "{response}");

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

    // The disk as it is while the server runs (on SQLite, recent writes are in the WAL only),
    // and after a clean stop (the WAL folded into the file and deleted).
    let running = db.raw_files();
    let (exit, logs) = server.stop();
    assert!(exit.success());
    let stopped = db.raw_files();

    // The whole log: one line per request, the last one (it carries the header canary)
    // included, and the shutdown after it.
    let all = logs.join("\n");
    let request_lines: Vec<&String> = logs.iter().filter(|l| l.contains(" request ")).collect();
    assert_eq!(request_lines.len(), sent.get(), "one log line per request:\n{all}");
    let last = request_lines.last().unwrap();
    assert!(last.contains("route=/api/v1/me") && last.contains("status=401"), "{all}");
    assert!(logs.last().is_some_and(|l| l.contains("stopped")), "the log ends with the shutdown:\n{all}");

    // The files: clear metadata is found, in live rows and in the row versions left behind.
    let backend = db.backend();
    for (moment, files) in [("while running", &running), ("after stopping", &stopped)] {
        let raw: Vec<u8> = files.iter().flat_map(|(_, bytes)| bytes.iter().copied()).collect();
        // The reporter's display name is stored in the clear; the account name only as a keyed hash.
        for known in [reference.as_str(), "Canary", STATION_AFTER] {
            assert!(contains(&raw, known), "{moment}: the database files lack {known}, stored in the clear");
        }
        assert!(!contains(&raw, &account[3..]), "{moment}: the database files hold the account name");
        // A link's note is sealed (SPEC §14.4): not even its deleted row version shows it.
        assert!(!contains(&raw, LINK_NOTE), "{moment}: the database files hold a link note in the clear");
        if backend == Backend::Postgres {
            assert!(contains(&raw, STATION_BEFORE), "{moment}: the dead row version holding the old name was not read");
        }
    }
    if backend == Backend::Sqlite {
        let wal = running.iter().find(|(path, _)| path.ends_with("-wal")).expect("a WAL while the server runs");
        assert!(contains(&wal.1, &reference), "the running snapshot holds the WAL's recent writes");
        assert!(contains(&wal.1, STATION_BEFORE), "the WAL holds the page as it was before the rename");
        assert!(!stopped.iter().any(|(path, _)| path.ends_with("-wal")), "a clean stop folds the WAL in");
    }

    let everything = [NARRATIVE, CONTACT, MESSAGE, PASSWORD, JSON_VALUE, HEADER, QUERY, IP];
    for marker in everything {
        assert!(!all.contains(marker), "the logs hold {marker}");
        for (path, bytes) in running.iter().chain(&stopped) {
            assert!(!contains(bytes, marker), "{path} holds {marker}");
        }
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

/// A request with a JSON body (or none) and, for a versioned write, `If-Match`.
fn with_method(method: &str, path: &str, body: &str, headers: &str, version: Option<i64>) -> String {
    let if_match = version.map(|v| format!("If-Match: \"{v}\"\r\n")).unwrap_or_default();
    let content_type = if body.is_empty() { "" } else { "Content-Type: application/json\r\n" };
    format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n{content_type}{headers}{if_match}Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
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
