//! The real binary as a process: logs, graceful shutdown, the first admin from the CLI.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use crate::common::TestDb;

const MARKER: &str = "LEAKMARKER-5d1e";

pub struct Server {
    pub child: Child,
    pub addr: String,
    logs: mpsc::Receiver<String>,
    reader: std::thread::JoinHandle<()>,
}

impl Server {
    pub fn start(db: &TestDb) -> Server {
        Server::start_with(&db.url, db.dir.path())
    }

    pub fn start_with(database_url: &str, data_dir: &std::path::Path) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_tipline"))
            .arg("serve")
            .env("DATABASE_URL", database_url)
            .env("TIPLINE_DATA_DIR", data_dir)
            .env("TIPLINE_BIND", "127.0.0.1:0")
            .env("RUST_LOG", "debug")
            // These tests load the server harder than the default rates allow a real tipline;
            // the buckets are tested on their own (`limits.rs`).
            .env("TIPLINE_RATE_SUBMIT", "off")
            .env("TIPLINE_RATE_REGISTER", "off")
            .env("TIPLINE_RATE_RECEIPT_FAILURES", "off")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start tipline");
        let stderr = child.stderr.take().unwrap();
        let (tx, logs) = mpsc::channel();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let addr = loop {
            let line = logs.recv_timeout(Duration::from_secs(30)).expect("tipline did not start");
            if let Some(rest) = line.split("listening on http://").nth(1) {
                break rest.trim().to_string();
            }
        };
        Server { child, addr, logs, reader }
    }

    /// One HTTP/1.1 request over a real socket; returns status and raw response.
    pub fn request(&self, raw: &str) -> (u16, String) {
        let mut stream = TcpStream::connect(&self.addr).expect("connect");
        stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        stream.write_all(raw.as_bytes()).unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        let status = response.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
        (status, response)
    }

    /// Sends SIGTERM and returns the exit status and every log line. The lines written last
    /// (the shutdown, and the requests just before it) may still be in the pipe when the
    /// process is reaped, so the log is read to its end before it is handed over.
    pub fn stop(mut self) -> (std::process::ExitStatus, Vec<String>) {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().expect("kill");
        let status = self.child.wait().expect("wait");
        self.reader.join().expect("log reader");
        let logs = self.logs.iter().collect();
        (status, logs)
    }
}

pub fn post_json(path: &str, body: &str, extra_headers: &str) -> String {
    format!(
        "POST {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Type: application/json\r\n{extra_headers}Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

fn logs_never_hold_client_metadata(db: TestDb) {
    let server = Server::start(&db);
    let spy_headers = format!(
        "X-Forwarded-For: 203.0.113.77, {MARKER}\r\nX-Real-IP: 203.0.113.78\r\nUser-Agent: {MARKER}-agent\r\nAuthorization: Bearer {MARKER}-token\r\n"
    );
    let (status, _) = server.request(&format!(
        "GET /api/v1/me?q={MARKER}-query HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n{spy_headers}\r\n"
    ));
    assert_eq!(status, 401);
    let body = format!(r#"{{"email":"{MARKER}@example.org","password":"{MARKER}-password"}}"#);
    let (status, response) = server.request(&post_json("/api/v1/auth/login", &body, &spy_headers));
    assert_eq!(status, 401);
    assert!(!response.contains(MARKER));
    let (status, _) = server.request(&post_json("/api/v1/auth/login", &format!("{{\"email\": {MARKER}"), &spy_headers));
    assert_eq!(status, 400);
    let report = format!(
        r#"{{"kind":"incident","tactics":["surveillance"],"narrative":"{MARKER}-narrative","contact":"{MARKER}-contact","country":"NL"}}"#
    );
    let anonymous_headers = format!("X-Forwarded-For: 203.0.113.79\r\nUser-Agent: {MARKER}-agent\r\n");
    let (status, response) = server.request(&post_json("/api/v1/reports", &report, &anonymous_headers));
    assert_eq!(status, 201, "{response}");
    let (status, _) = server.request(&format!(
        "GET /healthz?{MARKER} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n{spy_headers}\r\n"
    ));
    assert_eq!(status, 200);

    let addr = server.addr.clone();
    let (exit, logs) = server.stop();
    assert!(exit.success(), "graceful shutdown exits 0: {exit:?}");
    let all = logs.join("\n");
    // First that the log holds what it should, so that the absences below mean something.
    let request_lines: Vec<&String> = logs.iter().filter(|l| l.contains(" request ")).collect();
    assert_eq!(request_lines.len(), 5, "one line per request:\n{all}");
    assert!(request_lines[0].contains("route=/api/v1/me") && request_lines[0].contains("status=401"), "{all}");
    assert!(request_lines[1].contains("method=POST") && request_lines[1].contains("route=/api/v1/auth/login"));
    assert!(request_lines[4].contains("route=/healthz") && request_lines[4].contains("status=200"), "{all}");
    for line in &request_lines {
        assert!(line.contains("request_id=") && line.contains("latency_ms="), "{line}");
    }
    for needle in [MARKER, "203.0.113", "127.0.0.1:"] {
        // The server's own listening address may appear; a client's address may not.
        let hits: Vec<&String> = logs.iter().filter(|l| l.replace(&addr, "").contains(needle)).collect();
        assert!(hits.is_empty(), "log holds {needle}: {hits:#?}");
    }
}

fn first_admin_from_the_cli_can_sign_in(db: TestDb) {
    let mut create = Command::new(env!("CARGO_BIN_EXE_tipline"))
        .args(["admin", "create", "--email", "first@example.org", "--password-stdin"])
        .env("DATABASE_URL", &db.url)
        .env("TIPLINE_DATA_DIR", db.dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    create.stdin.take().unwrap().write_all(b"a strong admin passphrase\n").unwrap();
    let out = create.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("created admin first@example.org"), "{stdout}");
    assert!(!stdout.contains("passphrase"), "a password given on stdin is not printed: {stdout}");

    // A generated password is printed once and works.
    let out = Command::new(env!("CARGO_BIN_EXE_tipline"))
        .args(["admin", "create", "--email", "second@example.org"])
        .env("DATABASE_URL", &db.url)
        .env("TIPLINE_DATA_DIR", db.dir.path())
        .output()
        .unwrap();
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    let generated = stdout.split("store it now): ").nth(1).expect("password printed").trim().to_string();

    let server = Server::start(&db);
    for (email, password) in
        [("first@example.org", "a strong admin passphrase"), ("second@example.org", generated.as_str())]
    {
        // The first sign-in of an admin made on the command line answers an enrolment token
        // (SPEC §12.1), which opens /me but nothing else until a second factor is confirmed.
        let body = format!(r#"{{"email":"{email}","password":"{password}"}}"#);
        let (status, response) = server.request(&post_json("/api/v1/auth/login", &body, ""));
        assert_eq!(status, 200, "{response}");
        let enrolment = body_of(&response)["enrolment_token"].as_str().expect("an enrolment token").to_string();
        assert!(body_of(&response)["access_token"].is_null());
        let auth = format!("Authorization: Bearer {enrolment}\r\n");
        let (status, _) =
            server.request(&format!("GET /api/v1/me HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n{auth}\r\n"));
        assert_eq!(status, 200);
        let (status, response) = server
            .request(&format!("GET /api/v1/users HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n{auth}\r\n"));
        assert_eq!(status, 403);
        assert_eq!(body_of(&response)["type"], "urn:tipline:problem:enrolment-required");
        let token = login(&server.addr, email, password);
        let (status, _) = server.request(&get_raw("/api/v1/users", Some(&token)));
        assert_eq!(status, 200);
    }
    let (exit, _) = server.stop();
    assert!(exit.success());

    let again = Command::new(env!("CARGO_BIN_EXE_tipline"))
        .args(["admin", "create", "--email", "first@example.org"])
        .env("DATABASE_URL", &db.url)
        .env("TIPLINE_DATA_DIR", db.dir.path())
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
}

#[test]
fn help_documents_commands_and_configuration() {
    let out = Command::new(env!("CARGO_BIN_EXE_tipline")).arg("--help").output().unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    for word in [
        "serve",
        "migrate",
        "admin",
        "audit",
        "DATABASE_URL",
        "TIPLINE_BIND",
        "TIPLINE_DATA_DIR",
        "TIPLINE_JWT_SECRET",
        "TIPLINE_KEYRING",
        "TIPLINE_INDEX_KEY",
        "keys",
        "TIPLINE_ALLOW_REGISTRATION",
        "RUST_LOG",
    ] {
        assert!(help.contains(word), "--help lacks {word}");
    }
}

macro_rules! process_on_both {
    ($($name:ident),*) => {$(
        mod $name {
            #[test]
            fn sqlite() {
                super::$name(crate::common::TestDb::sqlite())
            }
            #[test]
            fn postgres() {
                if let Some(db) = crate::common::TestDb::postgres() {
                    super::$name(db)
                }
            }
        }
    )*};
}

process_on_both!(logs_never_hold_client_metadata, first_admin_from_the_cli_can_sign_in);

/// One request over a fresh connection; `None` when the server is gone mid-way.
pub fn try_request(addr: &str, raw: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect(addr).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(30))).ok()?;
    stream.write_all(raw.as_bytes()).ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let status = response.split(' ').nth(1).and_then(|s| s.parse().ok())?;
    Some((status, response))
}

pub fn get_raw(path: &str, token: Option<&str>) -> String {
    let auth = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
    format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n{auth}\r\n")
}

/// The JSON body of a raw HTTP response.
pub fn body_of(response: &str) -> serde_json::Value {
    let body = response.split("\r\n\r\n").nth(1).unwrap_or("");
    serde_json::from_str(body).unwrap_or(serde_json::Value::Null)
}

pub fn header_of<'a>(response: &'a str, name: &str) -> Option<&'a str> {
    response.split("\r\n\r\n").next()?.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        key.eq_ignore_ascii_case(name).then(|| value.trim())
    })
}

/// Creates an admin with the CLI, starts nothing; returns the email and password.
pub fn cli_admin(database_url: &str, data_dir: &std::path::Path, email: &str) -> String {
    let password = "a strong admin passphrase";
    let mut child = Command::new(env!("CARGO_BIN_EXE_tipline"))
        .args(["admin", "create", "--email", email, "--password-stdin"])
        .env("DATABASE_URL", database_url)
        .env("TIPLINE_DATA_DIR", data_dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(format!("{password}\n").as_bytes()).unwrap();
    assert!(child.wait().unwrap().success());
    password.to_string()
}

thread_local! {
    /// TOTP secrets of staff enrolled through a running server by this test (each test runs
    /// on its own thread), by email, and the last step used.
    static AUTHENTICATORS: std::cell::RefCell<std::collections::BTreeMap<String, (Vec<u8>, i64)>> =
        Default::default();
}

/// A code for the account's authenticator that the server has not seen yet (waiting for the
/// next step when the current and the next are spent); `None` for an account not enrolled here.
fn next_code(email: &str) -> Option<String> {
    loop {
        let code = AUTHENTICATORS.with_borrow_mut(|all| {
            let (secret, last) = all.get_mut(email)?;
            let now = tipline::auth::totp::step_at(chrono::Utc::now().timestamp());
            let step = (*last + 1).max(now);
            if step > now + 1 {
                return Some(None);
            }
            *last = step;
            Some(Some(tipline::auth::totp::code_at(secret, step)))
        })?;
        if code.is_some() {
            return code;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// Enrols a second factor with an enrolment token, as a staff member does at first sign-in.
fn enrol_over_http(addr: &str, email: &str, enrolment_token: &str) {
    let auth = format!("Authorization: Bearer {enrolment_token}\r\n");
    let (status, response) = try_request(addr, &post_json("/api/v1/me/totp", "{}", &auth)).expect("enrol");
    assert_eq!(status, 200, "{response}");
    let secret = body_of(&response)["secret"].as_str().and_then(tipline::auth::totp::base32_decode).expect("secret");
    let step = tipline::auth::totp::step_at(chrono::Utc::now().timestamp());
    let code = tipline::auth::totp::code_at(&secret, step);
    let body = format!(r#"{{"code":"{code}"}}"#);
    let (status, response) = try_request(addr, &post_json("/api/v1/me/totp/confirm", &body, &auth)).expect("confirm");
    assert_eq!(status, 200, "{response}");
    AUTHENTICATORS.with_borrow_mut(|all| all.insert(email.to_string(), (secret, step)));
}

/// Signs a staff member in, enrolling a second factor first when the server asks for one.
pub fn login(addr: &str, email: &str, password: &str) -> String {
    login_counted(addr, email, password).0
}

/// [`login`], and how many requests it sent (one, or four with the enrolment).
pub fn login_counted(addr: &str, email: &str, password: &str) -> (String, usize) {
    let totp = next_code(email).map(|code| format!(r#","totp":"{code}""#)).unwrap_or_default();
    let body = format!(r#"{{"email":"{email}","password":"{password}"{totp}}}"#);
    let (status, response) = try_request(addr, &post_json("/api/v1/auth/login", &body, "")).expect("login");
    assert_eq!(status, 200, "{response}");
    let answer = body_of(&response);
    if let Some(enrolment) = answer["enrolment_token"].as_str() {
        enrol_over_http(addr, email, enrolment);
        let (token, sent) = login_counted(addr, email, password);
        return (token, sent + 3);
    }
    (answer["access_token"].as_str().unwrap().to_string(), 1)
}
