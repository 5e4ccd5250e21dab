//! Storage on both backends: migrations, schema parity, SQLite settings, startup errors.

use std::collections::BTreeSet;

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use diesel_migrations::MigrationHarness;

use crate::both_backends;
use crate::common::{TestApp, TestDb};
use tipline::db::{self, DbConn};

async fn migrations_go_up_down_and_up_again(app: TestApp) {
    let mut conn = app.db.connect();
    let source = db::migrations_for(&conn);
    assert!(db::is_migrated(&mut conn).unwrap());
    conn.revert_last_migration(db::migrations_for(&conn)).expect("down one");
    assert!(!db::is_migrated(&mut conn).unwrap(), "one migration pending");
    app.get("/readyz", None).await.assert_problem(503);
    conn.revert_all_migrations(source).expect("down");
    assert!(table_columns(&mut conn).is_empty(), "down leaves no tables behind");
    assert!(!db::is_migrated(&mut conn).unwrap());
    assert!(db::migrate(&mut conn).expect("up again") > 0);
    assert!(db::is_migrated(&mut conn).unwrap());
    app.get("/readyz", None).await.assert_status(200);
}

#[derive(QueryableByName)]
struct Column {
    #[diesel(sql_type = Text)]
    table_name: String,
    #[diesel(sql_type = Text)]
    column_name: String,
}

/// `table.column` for every table of ours, from the backend's own catalogue.
fn table_columns(conn: &mut DbConn) -> BTreeSet<String> {
    let rows: Vec<Column> = match conn {
        DbConn::Pg(c) => diesel::sql_query(
            "SELECT table_name::text AS table_name, column_name::text AS column_name \
             FROM information_schema.columns WHERE table_schema = current_schema()",
        )
        .load(c),
        DbConn::Sqlite(c) => diesel::sql_query(
            "SELECT m.name AS table_name, p.name AS column_name \
             FROM sqlite_master m JOIN pragma_table_info(m.name) p WHERE m.type = 'table'",
        )
        .load(c),
    }
    .expect("catalogue");
    rows.into_iter()
        .filter(|c| !c.table_name.starts_with("__diesel") && !c.table_name.starts_with("sqlite_"))
        .map(|c| format!("{}.{}", c.table_name, c.column_name))
        .collect()
}

#[test]
fn both_backends_have_the_same_tables_and_columns() {
    let sqlite = TestDb::sqlite();
    let Some(pg) = TestDb::postgres() else { return };
    let mut sqlite_conn = sqlite.connect();
    let mut pg_conn = pg.connect();
    db::migrate(&mut sqlite_conn).unwrap();
    db::migrate(&mut pg_conn).unwrap();
    let (a, b) = (table_columns(&mut sqlite_conn), table_columns(&mut pg_conn));
    assert!(a.contains("audit_log.hash"), "{a:?}");
    assert_eq!(a, b);
}

#[derive(QueryableByName)]
struct Pragma {
    #[diesel(sql_type = BigInt)]
    value: i64,
}

#[test]
fn sqlite_connections_are_durable_and_checked() {
    let db = TestDb::sqlite();
    let DbConn::Sqlite(mut conn) = db.connect() else { panic!("sqlite") };
    let mode: Vec<Column> =
        diesel::sql_query("SELECT 'x' AS table_name, journal_mode AS column_name FROM pragma_journal_mode")
            .load(&mut conn)
            .unwrap();
    assert_eq!(mode[0].column_name, "wal");
    for (pragma, column, expected) in [
        ("synchronous", "synchronous", 2),
        ("foreign_keys", "foreign_keys", 1),
        ("busy_timeout", "timeout", 30_000),
        // Temporary data (statement journals, sorts) in memory, never in /var/tmp.
        ("temp_store", "temp_store", 2),
    ] {
        let rows: Vec<Pragma> =
            diesel::sql_query(format!("SELECT {column} AS value FROM pragma_{pragma}")).load(&mut conn).unwrap();
        assert_eq!(rows[0].value, expected, "{pragma}");
    }
    #[derive(QueryableByName)]
    struct Autocheckpoint {
        #[diesel(sql_type = BigInt)]
        wal_autocheckpoint: i64,
    }
    let pages: Autocheckpoint = diesel::sql_query("PRAGMA wal_autocheckpoint").get_result(&mut conn).unwrap();
    assert_eq!(pages.wal_autocheckpoint, 10_000);
    // The bundled SQLite plans a statement whatever is bound to it (.cargo/config.toml), so a
    // cached `LIMIT ?` query is not compiled again each time it runs.
    let qpsg: Vec<Pragma> =
        diesel::sql_query("SELECT count(*) AS value FROM pragma_compile_options WHERE compile_options = 'ENABLE_QPSG'")
            .load(&mut conn)
            .unwrap();
    assert_eq!(qpsg[0].value, 1, "SQLite built without SQLITE_ENABLE_QPSG");
}

/// The connections fold SQLite's WAL into the database file only past 10 000 pages; the audit
/// sequencer does it after each pass (`db::checkpoint_wal`), beside the submissions' writer. So
/// once a submission is sequenced, the database file alone (copied without its WAL) holds it.
#[test]
fn the_sequencer_folds_the_wal_into_the_database_file() {
    use crate::process::{post_json, Server};
    let db = TestDb::sqlite();
    let server = Server::start(&db);
    let body = r#"{"kind":"incident","tactics":["surveillance"],"narrative":"folded in","country":"NL"}"#;
    let (status, response) = server.request(&post_json("/api/v1/reports", body, ""));
    assert_eq!(status, 201, "{response}");
    let file = db.dir.path().join("tipline.db");
    let copy = db.dir.path().join("copy.db");
    let count = |conn: &mut diesel::SqliteConnection, sql: &str| -> i64 {
        diesel::sql_query(sql).get_result::<Pragma>(conn).map(|row| row.value).unwrap_or(0)
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let in_the_file = loop {
        std::fs::copy(&file, &copy).unwrap();
        let mut alone = diesel::SqliteConnection::establish(copy.to_str().unwrap()).unwrap();
        let reports = count(&mut alone, "SELECT count(*) AS value FROM reports");
        let sequenced = count(&mut alone, "SELECT count(*) AS value FROM audit_log WHERE action = 'report.create'");
        drop(alone);
        let _ = std::fs::remove_file(db.dir.path().join("copy.db-wal"));
        if (reports, sequenced) == (1, 1) || std::time::Instant::now() > deadline {
            break (reports, sequenced);
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    let (exit, _) = server.stop();
    assert!(exit.success());
    assert_eq!(in_the_file, (1, 1), "the report and its sequenced audit entry are in the database file");
}

fn run_tipline(args: &[&str], database_url: &str) -> std::process::Output {
    let dir = tempfile::tempdir().unwrap();
    std::process::Command::new(env!("CARGO_BIN_EXE_tipline"))
        .args(args)
        .env("DATABASE_URL", database_url)
        .env("TIPLINE_DATA_DIR", dir.path())
        .output()
        .expect("run tipline")
}

#[test]
fn startup_errors_name_the_problem() {
    let out = run_tipline(&["migrate"], "mysql://localhost/tipline");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("DATABASE_URL") && stderr.contains("sqlite://") && stderr.contains("postgres://"),
        "{stderr}"
    );

    // Nothing listens on port 1: the driver's own words reach the operator.
    let out = run_tipline(&["migrate"], "postgres://tipline@127.0.0.1:1/tipline");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("cannot connect") && stderr.contains("refused"), "{stderr}");

    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tipline"))
        .arg("migrate")
        .env("TIPLINE_DATA_DIR", dir.path())
        .env("TIPLINE_JWT_SECRET", "too-short")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("TIPLINE_JWT_SECRET"));
}

#[test]
fn migrate_command_applies_and_is_idempotent() {
    let db = TestDb::sqlite();
    let first = run_tipline(&["migrate"], &db.url);
    assert!(first.status.success(), "{}", String::from_utf8_lossy(&first.stderr));
    let applied: usize = String::from_utf8_lossy(&first.stdout).split(' ').next().unwrap().parse().unwrap();
    assert!(applied >= 1);
    let second = run_tipline(&["migrate"], &db.url);
    assert!(String::from_utf8_lossy(&second.stdout).starts_with("0 migration(s) applied"));
}

both_backends!(migrations_go_up_down_and_up_again);

#[derive(QueryableByName, Debug)]
struct Prepared {
    #[diesel(sql_type = Text)]
    statement: String,
}

/// A login's INSERTs are prepared once per connection and then reused: rows with a column that
/// may be NULL bind NULL rather than writing `DEFAULT` (`treat_none_as_default_value = false`),
/// so their SQL never varies and diesel keeps them in its statement cache. Written with
/// `DEFAULT`, they were sent as unnamed statements, parsed and planned by PostgreSQL at every
/// login, and never listed in `pg_prepared_statements`.
#[actix_web::test]
async fn inserts_of_rows_with_nullable_columns_are_prepared_once() {
    use tipline::audit::{Action, Context};
    use tipline::users::Role;
    let Some(app) = TestApp::postgres().await else { return };
    let (user, _) = app.insert_user(Role::Caseworker);
    let mut conn = app.db.connect();
    for _ in 0..3 {
        tipline::auth::store::create_session(&mut conn, user).unwrap();
        tipline::audit::store::record(&mut conn, Context::system().entry(Action::AuthLogin)).unwrap();
    }
    let DbConn::Pg(pg) = &mut conn else { panic!("postgres") };
    let prepared: Vec<Prepared> =
        diesel::sql_query("SELECT statement FROM pg_prepared_statements WHERE statement LIKE 'INSERT INTO %'")
            .load(pg)
            .unwrap();
    for table in ["sessions", "refresh_tokens", "audit_pending"] {
        let count = prepared.iter().filter(|p| p.statement.starts_with(&format!("INSERT INTO \"{table}\""))).count();
        assert_eq!(count, 1, "INSERT INTO {table} prepared {count} times");
    }
}

/// Every login takes its TOTP step with an UPDATE, the audit sequencer's passes take an advisory
/// lock, and `/readyz` asks for the newest migration applied: diesel would send the first two
/// unprepared each time (it caches no UPDATE and no `sql_query`, which the third was), and
/// PostgreSQL would parse and plan them anew. Written with `db::prepared` (and the migrations
/// table declared), each text is prepared once per connection and reused, and the step is still
/// taken only once.
#[actix_web::test]
async fn the_totp_step_the_advisory_lock_and_the_readiness_check_are_prepared_once() {
    use tipline::auth::store::{accept_step, put_pending_totp, TotpRow};
    use tipline::users::Role;
    let Some(app) = TestApp::postgres().await else { return };
    let (user, _) = app.insert_user_without_second_factor(Role::Caseworker);
    let mut conn = app.db.connect();
    let now = tipline::db::now();
    let pending = TotpRow {
        user_id: user,
        secret_sealed: "sealed".into(),
        confirmed_at: None,
        last_step: 0,
        created_at: now,
        master_key_id: String::new(),
    };
    put_pending_totp(&mut conn, &pending).unwrap();
    assert!(accept_step(&mut conn, &pending, 1, Some(now)).unwrap(), "confirmed at step 1");
    assert!(!accept_step(&mut conn, &pending, 2, Some(now)).unwrap(), "confirmed once");
    let confirmed = TotpRow { confirmed_at: Some(now), ..pending };
    for step in 2..5 {
        assert!(accept_step(&mut conn, &confirmed, step, None).unwrap(), "step {step}");
    }
    assert!(!accept_step(&mut conn, &confirmed, 4, None).unwrap(), "a step is taken once");
    for _ in 0..3 {
        tipline::db::write_tx(&mut conn, |c| tipline::db::lock(c, 0x5449_504c_7e58)).unwrap();
        assert!(tipline::db::is_migrated(&mut conn).unwrap(), "the readiness check");
    }
    let DbConn::Pg(pg) = &mut conn else { panic!("postgres") };
    let prepared: Vec<Prepared> = diesel::sql_query("SELECT statement FROM pg_prepared_statements").load(pg).unwrap();
    let count = |start: &str| prepared.iter().filter(|p| p.statement.starts_with(start)).count();
    assert_eq!(count("UPDATE \"user_totp\" SET \"last_step\" = $1 WHERE"), 1, "the step: {prepared:?}");
    assert_eq!(
        count("UPDATE \"user_totp\" SET \"last_step\" = $1, \"confirmed_at\" = $2 WHERE"),
        1,
        "the confirmation"
    );
    assert_eq!(count("SELECT pg_advisory_xact_lock($1)"), 1, "the lock");
    assert_eq!(count("SELECT max(\"__diesel_schema_migrations\".\"version\")"), 1, "the readiness check");
    let last_step: Vec<Prepared> =
        diesel::sql_query("SELECT last_step::text AS statement FROM user_totp").load(pg).unwrap();
    assert_eq!(last_step.iter().map(|r| r.statement.as_str()).collect::<Vec<_>>(), ["4"]);
}

/// `db::write_tx_locked` sends `BEGIN` and the advisory lock in one round trip. When the lock is
/// not granted (here: a lock timeout while another connection holds it), the transaction that
/// `BEGIN` opened is rolled back, so the connection goes back to the pool usable rather than
/// inside an aborted transaction that every later request on it would fail in.
#[actix_web::test]
async fn a_lock_not_granted_at_begin_leaves_no_transaction_open() {
    let Some(app) = TestApp::postgres().await else { return };
    let (mut holder, mut waiter) = (app.db.connect(), app.db.connect());
    let key = 0x5449_504c_7e57;
    tipline::db::write_tx_locked(&mut holder, key, |_| {
        let DbConn::Pg(pg) = &mut waiter else { panic!("postgres") };
        diesel::sql_query("SET lock_timeout = '50ms'").execute(pg).unwrap();
        let refused = tipline::db::write_tx_locked(&mut waiter, key, |_| Ok::<_, diesel::result::Error>(()));
        assert!(refused.is_err(), "the lock is held by the other connection");
        Ok::<_, diesel::result::Error>(())
    })
    .unwrap();
    let DbConn::Pg(pg) = &mut waiter else { panic!("postgres") };
    let row: Prepared = diesel::sql_query("SELECT 'usable'::text AS statement").get_result(pg).unwrap();
    assert_eq!(row.statement, "usable");
    let done = tipline::db::write_tx_locked(&mut waiter, key, |_| Ok::<_, diesel::result::Error>("locked"));
    assert_eq!(done.unwrap(), "locked", "the lock is free again and the connection takes it");
}
