//! Test harness: a fresh database per test (a SQLite file, or a PostgreSQL schema dropped
//! afterwards), the real application in front of it, and users by role.

use std::io::Write;
use std::rc::Rc;

use actix_web::http::header::HeaderMap;
use actix_web::http::StatusCode;
use actix_web::test::{self, TestRequest};
use actix_web::web::{self, Bytes};
use diesel::prelude::*;
use futures_util::future::LocalBoxFuture;
use serde_json::{json, Value};

use crate::spec;
use tipline::audit::Entry;
use tipline::config::{Config, Secret};
use tipline::db::schema::audit_log;
use tipline::db::{self, Backend, DatabaseUrl, DbConn, Id, Pool};
use tipline::db_run;
use tipline::state::AppState;
use tipline::users::{store, Role};

pub const PASSWORD: &str = "correct horse battery staple";
const PG_VAR: &str = "TIPLINE_TEST_DATABASE_URL";
const SKIP_PG_VAR: &str = "TIPLINE_TEST_SKIP_POSTGRES";

/// The PostgreSQL URL for tests. Without it a PostgreSQL test fails, unless skipping was asked
/// for with `TIPLINE_TEST_SKIP_POSTGRES=1` outside CI: a run that left out half the suite must
/// not look like one that passed it. A skipped test says so on the terminal itself, past the
/// harness's capture of test output (which would hide it behind the `ok` of the test).
pub fn pg_base_url() -> Option<String> {
    if let Ok(url) = std::env::var(PG_VAR) {
        if !url.is_empty() {
            return Some(url);
        }
    }
    let test = std::thread::current().name().unwrap_or("a PostgreSQL test").to_string();
    assert!(std::env::var("CI").is_err(), "{test}: {PG_VAR} must be set in CI: PostgreSQL tests may not be skipped");
    let skip = std::env::var(SKIP_PG_VAR).is_ok_and(|v| matches!(v.as_str(), "1" | "true" | "yes"));
    assert!(
        skip,
        "{test} needs PostgreSQL. Set {PG_VAR} (e.g. postgres://postgres@127.0.0.1:5432/test) to run it, \
         or {SKIP_PG_VAR}=1 to run the suite on SQLite only (README.md, \"Tests on PostgreSQL\")"
    );
    let _ = writeln!(std::io::stderr(), "SKIPPED, not passed: {test} (PostgreSQL; {SKIP_PG_VAR}=1)");
    None
}

/// A database of the test's own.
pub struct TestDb {
    pub url: String,
    pub dir: tempfile::TempDir,
    pg: Option<(String, String)>,
}

impl TestDb {
    pub fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}", dir.path().join("tipline.db").display());
        TestDb { url, dir, pg: None }
    }

    pub fn postgres() -> Option<TestDb> {
        let base = pg_base_url()?;
        let schema = format!("t_{}", uuid::Uuid::new_v4().simple());
        let mut conn = PgConnection::establish(&base)
            .unwrap_or_else(|e| panic!("{PG_VAR} is set but PostgreSQL cannot be reached: {e}"));
        diesel::sql_query(format!("CREATE SCHEMA {schema}")).execute(&mut conn).expect("create schema");
        let separator = if base.contains('?') { '&' } else { '?' };
        let url = format!("{base}{separator}options=-csearch_path%3D{schema}");
        let dir = tempfile::tempdir().expect("temp dir");
        Some(TestDb { url, dir, pg: Some((base, schema)) })
    }

    pub fn backend(&self) -> Backend {
        if self.pg.is_some() {
            Backend::Postgres
        } else {
            Backend::Sqlite
        }
    }

    pub fn config(&self) -> Config {
        // In the data folder, as a deployment keeps them, so that the binary run on this database
        // (`tipline keys rotate`, `retention sweep`, `serve`) has the same keys.
        let keyring_file = tipline::keys::KeyringFile::at(self.dir.path().join("keyring"));
        let index_file = self.dir.path().join("index_key");
        if !index_file.exists() {
            std::fs::write(&index_file, "test-index-key-test-index-key-test-0123").expect("index key");
        }
        Config {
            database_url: DatabaseUrl::parse(&self.url).expect("test url"),
            bind: "127.0.0.1:0".parse().expect("addr"),
            data_dir: self.dir.path().to_path_buf(),
            jwt_secret: Secret::new(b"test-jwt-secret-test-jwt-secret-0123".to_vec()),
            keyring: keyring_file.open_or_create(Some(b"test-data-key-test-data-key-test-0123")).expect("keyring"),
            keyring_file,
            index_key: Secret::new(std::fs::read(&index_file).expect("index key")),
            allow_registration: true,
            hsts: false,
            require_staff_2fa: true,
            db_pool_size: 8,
            audit_signer: std::sync::Arc::new(
                tipline::audit::checkpoint::NoteSigner::new("tipline.test/audit", &[5; 32]).expect("signer"),
            ),
            rates: tipline::limits::Rates::DEFAULT,
            hash_threads: None,
            hash_queue: None,
            organisation: tipline::config::Organisation {
                name: Some("Test Tipline".into()),
                contact: Some("help@example.org".into()),
            },
            blobs: std::sync::Arc::new(tipline::blobs::BlobStore::Local(tipline::blobs::LocalStore::at(
                self.dir.path().join("blobs"),
            ))),
            attachments: tipline::attachments::Limits::DEFAULT,
            retention: tipline::retention::Policy::DEFAULT,
            retention_interval: std::time::Duration::from_secs(300),
        }
    }

    pub fn connect(&self) -> DbConn {
        db::connect(&DatabaseUrl::parse(&self.url).expect("url")).expect("connect")
    }
}

impl TestDb {
    /// Everything the database holds, as bytes (see [`TestDb::raw_files`]).
    pub fn raw_database(&self) -> Vec<u8> {
        self.raw_files().into_iter().flat_map(|(_, bytes)| bytes).collect()
    }

    /// The files the database keeps on disk, each with its path, read as they are at this
    /// moment: what someone who copies the disk would get. On SQLite that is the database file
    /// with its WAL and shared-memory index (while a connection is open, recent writes live in
    /// the WAL only). On PostgreSQL it is every relation of the test's schema (tables, their
    /// TOAST tables and every index) after a `CHECKPOINT`, so that rows written a moment ago
    /// are in the files, and read as pages rather than through SQL, so that dead row versions
    /// (left by `UPDATE` and `DELETE` until a vacuum) are searched too.
    pub fn raw_files(&self) -> Vec<(String, Vec<u8>)> {
        match &self.pg {
            None => {
                let path = self.url.trim_start_matches("sqlite://").to_string();
                ["", "-wal", "-shm"]
                    .iter()
                    .filter_map(|suffix| {
                        let file = format!("{path}{suffix}");
                        std::fs::read(&file).ok().map(|bytes| (file, bytes))
                    })
                    .collect()
            }
            Some((base, schema)) => {
                #[derive(QueryableByName)]
                struct Text {
                    #[diesel(sql_type = diesel::sql_types::Text)]
                    text: String,
                }
                let mut conn = PgConnection::establish(base).expect("connect");
                diesel::sql_query("CHECKPOINT").execute(&mut conn).expect("checkpoint");
                let data_dir: Vec<Text> = diesel::sql_query("SELECT current_setting('data_directory') AS text")
                    .load(&mut conn)
                    .expect("data_directory");
                let data_dir = std::path::PathBuf::from(&data_dir[0].text);
                let relations: Vec<Text> = diesel::sql_query(format!(
                    "WITH tables AS (
                         SELECT oid FROM pg_class WHERE relnamespace = '{schema}'::regnamespace
                         UNION SELECT reltoastrelid FROM pg_class
                             WHERE relnamespace = '{schema}'::regnamespace AND reltoastrelid <> 0
                     ), relations AS (
                         SELECT oid FROM tables
                         UNION SELECT indexrelid FROM pg_index WHERE indrelid IN (SELECT oid FROM tables)
                     )
                     SELECT pg_relation_filepath(oid) AS text FROM relations
                     WHERE pg_relation_filepath(oid) IS NOT NULL"
                ))
                .load(&mut conn)
                .expect("relation files");
                assert!(!relations.is_empty(), "schema {schema} has no relation files");
                let mut files = Vec::new();
                for relation in relations {
                    // A relation past 1 GB continues in numbered segments.
                    let first = data_dir.join(&relation.text);
                    let segments = std::iter::once(first.clone())
                        .chain((1..).map(|n| std::path::PathBuf::from(format!("{}.{n}", first.display()))));
                    for (n, segment) in segments.enumerate() {
                        match std::fs::read(&segment) {
                            Ok(bytes) => files.push((segment.display().to_string(), bytes)),
                            Err(e) if n == 0 => panic!("cannot read {}: {e}", segment.display()),
                            Err(_) => break,
                        }
                    }
                }
                files
            }
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some((base, schema)) = &self.pg {
            if let Ok(mut conn) = PgConnection::establish(base) {
                let _ = diesel::sql_query(format!("DROP SCHEMA IF EXISTS {schema} CASCADE")).execute(&mut conn);
            }
        }
    }
}

pub struct Response {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Response {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|_| panic!("not JSON: {}", self.text()))
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
    #[track_caller]
    pub fn assert_status(&self, expected: u16) -> &Self {
        assert_eq!(self.status.as_u16(), expected, "body: {}", self.text());
        self
    }
    /// Asserts this status and returns the JSON body: a field found missing in the body of an
    /// error answer proves nothing.
    #[track_caller]
    pub fn assert_json(&self, expected: u16) -> Value {
        self.assert_status(expected);
        self.json()
    }
    /// Asserts a problem+json error with this status.
    #[track_caller]
    pub fn assert_problem(&self, expected: u16) -> Value {
        self.assert_status(expected);
        assert_eq!(self.header("content-type"), Some("application/problem+json"), "{}", self.text());
        let body = self.json();
        assert_eq!(body["status"], expected);
        body
    }
}

type Call = Rc<dyn Fn(TestRequest) -> LocalBoxFuture<'static, Response>>;

/// The application on `config`'s database, each response checked against the OpenAPI document.
async fn service(config: &Config) -> (Call, Pool) {
    let pool = tipline::open_database(config).expect("open database");
    let state = web::Data::new(AppState::new(config, pool.clone()));
    let service = Rc::new(test::init_service(tipline::app(state)).await);
    let call: Call = Rc::new(move |req| {
        let service = service.clone();
        Box::pin(async move {
            let req = req.to_request();
            let (method, path) = (req.method().to_string(), req.path().to_string());
            let res = test::call_service(&*service, req).await;
            let status = res.status();
            let headers = res.headers().clone();
            let body = test::read_body(res).await;
            let response = Response { status, headers, body };
            let content_type = response.header("content-type");
            if let Err(disagreement) = spec::check(&method, &path, status.as_u16(), content_type, &response.body) {
                panic!("response outside api-spec/openapi.yaml: {disagreement}");
            }
            response
        })
    });
    (call, pool)
}

/// A second instance of the service on a [`TestApp`]'s database.
pub struct Instance {
    call: Call,
}

impl Instance {
    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> Response {
        (self.call)(with_token(TestRequest::post().uri(path).set_json(body), token)).await
    }
}

pub struct TestApp {
    call: Call,
    pub pool: Pool,
    pub config: Config,
    pub db: TestDb,
    /// TOTP secrets of the accounts the harness enrolled, by login name, so a login can send
    /// a current code as an authenticator would.
    authenticators: std::cell::RefCell<std::collections::HashMap<String, (Id, Vec<u8>)>>,
}

/// A signed-in user.
#[derive(Clone, Debug)]
pub struct Client {
    pub id: Id,
    pub email: String,
    pub access_token: String,
    pub refresh_token: String,
    pub device_token: String,
}

impl TestApp {
    pub async fn sqlite() -> TestApp {
        TestApp::start(TestDb::sqlite(), |_| {}).await
    }

    pub async fn postgres() -> Option<TestApp> {
        Some(TestApp::start(TestDb::postgres()?, |_| {}).await)
    }

    pub async fn start(db: TestDb, adjust: impl FnOnce(&mut Config)) -> TestApp {
        let mut config = db.config();
        adjust(&mut config);
        let (call, pool) = service(&config).await;
        TestApp { call, pool, config, db, authenticators: Default::default() }
    }

    /// Another instance of the service on this one's database (as a second process behind a
    /// load balancer would be), with adjusted settings: its own pool, hashing threads and state.
    pub async fn another_instance(&self, adjust: impl FnOnce(&mut Config)) -> Instance {
        let mut config = self.db.config();
        adjust(&mut config);
        Instance { call: service(&config).await.0 }
    }

    pub fn backend(&self) -> Backend {
        self.db.backend()
    }

    /// A new application on the same database, with adjusted settings.
    pub async fn restart(self, adjust: impl FnOnce(&mut Config)) -> TestApp {
        let TestApp { db, .. } = self;
        TestApp::start(db, adjust).await
    }

    pub async fn send(&self, req: TestRequest) -> Response {
        (self.call)(req).await
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Response {
        self.send(with_token(TestRequest::get().uri(path), token)).await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> Response {
        self.send(with_token(TestRequest::post().uri(path).set_json(body), token)).await
    }

    pub async fn delete(&self, path: &str, token: Option<&str>, body: Value) -> Response {
        self.send(with_token(TestRequest::delete().uri(path).set_json(body), token)).await
    }

    pub async fn patch(&self, path: &str, token: Option<&str>, body: Value) -> Response {
        self.send(with_token(TestRequest::patch().uri(path).set_json(body), token)).await
    }

    /// A PATCH with `If-Match: "version"` (or without it when `version` is `None`).
    pub async fn patch_if_match(&self, path: &str, token: &str, version: Option<i64>, body: Value) -> Response {
        let mut req = with_token(TestRequest::patch().uri(path).set_json(body), Some(token));
        if let Some(v) = version {
            req = req.insert_header(("If-Match", format!("\"{v}\"")));
        }
        self.send(req).await
    }

    pub fn conn(&self) -> db::PooledConn {
        self.pool.get().expect("pool")
    }

    /// Creates an active user straight in the database (as the CLI does for the first admin)
    /// and returns its id and login name: an email for staff, a generated account name for a
    /// reporter, stored the way registration stores it (SPEC §14.1). Staff get a confirmed
    /// second factor (SPEC §12.1), kept by the harness's authenticator ([`TestApp::login`]).
    pub fn insert_user(&self, role: Role) -> (Id, String) {
        let (id, name) = self.insert_user_without_second_factor(role);
        if role != Role::Reporter {
            self.enrol_directly(id, &name);
        }
        (id, name)
    }

    /// A user with no second factor: staff signing in get an enrolment token.
    pub fn insert_user_without_second_factor(&self, role: Role) -> (Id, String) {
        let (name, login) = match role {
            Role::Reporter => {
                let account = tipline::codes::account();
                let login = tipline::auth::token::login_hash(&tipline::state::login_key(&self.config), &account);
                (account, login)
            }
            _ => {
                let email =
                    format!("{}-{}@example.org", role.as_str(), &uuid::Uuid::new_v4().simple().to_string()[..8]);
                (email.clone(), email)
            }
        };
        let hash = tipline::auth::password::hash(PASSWORD).expect("hash");
        let row = tipline::users::UserRow::new(login, format!("Test {}", role.as_str()), role, hash);
        store::insert(&mut self.conn(), &row).expect("insert user");
        (row.id, name)
    }

    /// Stores a confirmed TOTP secret for the account, sealed as the service seals it, and
    /// remembers it for [`TestApp::login`].
    pub fn enrol_directly(&self, id: Id, name: &str) {
        let secret = tipline::auth::totp::new_secret();
        let sealed =
            self.config.keyring.seal_bound("user_totp", "secret_sealed", id, &tipline::auth::totp::base32(&secret));
        let now = db::now();
        let row = tipline::auth::store::TotpRow {
            user_id: id,
            secret_sealed: sealed.sealed,
            master_key_id: sealed.master_key_id,
            confirmed_at: Some(now),
            last_step: 0,
            created_at: now,
        };
        tipline::auth::store::put_pending_totp(&mut self.conn(), &row).expect("enrol");
        self.remember_authenticator(id, name, secret.to_vec());
    }

    /// Remembers a secret enrolled through the API, for later logins.
    pub fn remember_authenticator(&self, id: Id, name: &str, secret: Vec<u8>) {
        self.authenticators.borrow_mut().insert(name.to_lowercase(), (id, secret));
    }

    /// The secret of an account the harness enrolled.
    pub fn authenticator(&self, name: &str) -> Option<(Id, Vec<u8>)> {
        self.authenticators.borrow().get(&name.to_lowercase()).cloned()
    }

    /// A code the service will accept now for the account: the first step after the last one
    /// used (read from the database) that is within the ±1 skew, waiting for the next step
    /// when both the current and the next one are spent.
    pub async fn next_code(&self, id: Id, secret: &[u8]) -> String {
        loop {
            let last = tipline::auth::store::totp_of(&mut self.conn(), id).expect("totp").map_or(0, |t| t.last_step);
            let now = tipline::auth::totp::step_at(chrono::Utc::now().timestamp());
            let step = (last + 1).max(now);
            if step <= now + 1 {
                return tipline::auth::totp::code_at(secret, step);
            }
            actix_web::rt::time::sleep(std::time::Duration::from_millis(500)).await;
        }
    }

    /// Logs in by a login name: an account name (`TA-…`) as `account`, anything else as
    /// `email`; with a current TOTP code when the harness enrolled the account.
    pub async fn login(&self, name: &str, password: &str) -> Response {
        self.login_with(name, password, json!({})).await
    }

    /// [`TestApp::login`] with more fields in the body (`device_token`, `recovery_code`, …).
    pub async fn login_with(&self, name: &str, password: &str, extra: Value) -> Response {
        let field = if name.starts_with("TA-") { "account" } else { "email" };
        let mut body = json!({field: name, "password": password});
        if let Some((id, secret)) = self.authenticator(name) {
            if extra.get("recovery_code").is_none() && extra.get("totp").is_none() {
                body["totp"] = json!(self.next_code(id, &secret).await);
            }
        }
        if let (Some(body), Value::Object(extra)) = (body.as_object_mut(), extra) {
            body.extend(extra);
        }
        self.post("/api/v1/auth/login", None, body).await
    }

    pub async fn client(&self, role: Role) -> Client {
        let (id, email) = self.insert_user(role);
        let res = self.login(&email, PASSWORD).await;
        res.assert_status(200);
        let body = res.json();
        Client {
            id,
            email,
            access_token: body["access_token"].as_str().expect("access token").to_string(),
            refresh_token: body["refresh_token"].as_str().expect("refresh token").to_string(),
            device_token: body["device_token"].as_str().expect("device token").to_string(),
        }
    }

    pub async fn admin(&self) -> Client {
        self.client(Role::Admin).await
    }
    pub async fn caseworker(&self) -> Client {
        self.client(Role::Caseworker).await
    }
    pub async fn reporter(&self) -> Client {
        self.client(Role::Reporter).await
    }

    /// Audit entries with this action, oldest first, read straight from the database.
    pub fn audit(&self, action: &str) -> Vec<Entry> {
        let conn: &mut tipline::db::DbConn = &mut self.conn();
        tipline::audit::sequence_all(conn).expect("sequence the audit trail");
        db_run!(conn: {
            audit_log::table
                .filter(audit_log::action.eq(action))
                .order(audit_log::seq.asc())
                .select(Entry::as_select())
                .load(conn)
        })
        .expect("read audit")
    }

    /// The only entry with this action; fails when there is none or more than one.
    #[track_caller]
    pub fn audit_one(&self, action: &str) -> Entry {
        let mut entries = self.audit(action);
        assert_eq!(entries.len(), 1, "expected one {action} entry, found {entries:?}");
        entries.remove(0)
    }

    pub fn details(entry: &Entry) -> Value {
        serde_json::from_str(&entry.details).expect("details are JSON")
    }
}

impl TestDb {
    /// A backup as an operator would take it: a copy of the SQLite file and its WAL, or
    /// `pg_dump` of the test's schema (its output must be complete: it fails the test if not).
    pub fn dump(&self) -> Vec<u8> {
        match (&self.pg, self.backend()) {
            (Some((base, schema)), Backend::Postgres) => {
                let out = std::process::Command::new("pg_dump")
                    .args(["--schema", schema, "--data-only", "--inserts", base])
                    .output()
                    .expect("pg_dump runs");
                assert!(out.status.success(), "pg_dump: {}", String::from_utf8_lossy(&out.stderr));
                out.stdout
            }
            _ => self.raw_database(),
        }
    }
}

impl TestApp {
    /// A backup of the database (see [`TestDb::dump`]).
    pub fn dump(&self) -> Vec<u8> {
        self.db.dump()
    }

    /// Everything the database holds, as bytes (see [`TestDb::raw_database`]).
    pub fn raw_database(&self) -> Vec<u8> {
        self.db.raw_database()
    }

    /// Runs SQL straight on the database (for tests that go behind the service's back).
    pub fn sql(&self, sql: &str) {
        use diesel::connection::SimpleConnection;
        self.db.connect().batch_execute(sql).expect(sql);
    }

    pub fn count(&self, table: &str) -> i64 {
        #[derive(QueryableByName)]
        struct Count {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        let mut conn = self.db.connect();
        let query = format!("SELECT COUNT(*) AS n FROM {table}");
        let rows: Vec<Count> = match &mut conn {
            DbConn::Pg(c) => diesel::sql_query(query).load(c),
            DbConn::Sqlite(c) => diesel::sql_query(query).load(c),
        }
        .expect("count");
        rows[0].n
    }
}

pub fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle.as_bytes())
}

fn with_token(req: TestRequest, token: Option<&str>) -> TestRequest {
    match token {
        Some(token) => req.insert_header(("Authorization", format!("Bearer {token}"))),
        None => req,
    }
}

/// Runs each listed `async fn name(app: TestApp)` twice: on SQLite, and on PostgreSQL (see
/// [`pg_base_url`] for when that variant is skipped instead).
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[actix_web::test]
            async fn sqlite() {
                super::$name($crate::common::TestApp::sqlite().await).await
            }
            #[actix_web::test]
            async fn postgres() {
                if let Some(app) = $crate::common::TestApp::postgres().await {
                    super::$name(app).await
                }
            }
        }
    )*};
}
