//! Storage: one connection type for SQLite and PostgreSQL, the pool, migrations and transactions.

pub mod keyset;
pub mod prepared;
pub mod schema;
pub mod types;
pub mod versioned;

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use diesel::connection::{AnsiTransactionManager, SimpleConnection, TransactionManager};
use diesel::prelude::*;
use diesel::r2d2::{self, ManageConnection};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use crate::error::AppError;

pub use types::{DbUuid, Id};

pub const PG_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");
pub const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");

/// SQLite waits this long for the write lock before giving up with "database is locked".
const SQLITE_BUSY_TIMEOUT_MS: u32 = 30_000;
/// How much of the database file SQLite reads through a memory map rather than `read` calls.
/// Every connection's page cache is emptied whenever another connection has written (the
/// submissions' writer, the audit sequencer and the request handlers each write on their own),
/// and with the map the pages are read again without a copy. Writes still go through `write`.
const SQLITE_MMAP_BYTES: u64 = 256 << 20;
/// WAL pages after which a committing connection folds the WAL into the database itself. By
/// default SQLite does it every 1 000 pages, in whichever connection commits past that: under
/// load, the submissions' writer, which then copies and syncs the database file while every
/// submission waits behind it. The audit sequencer folds the WAL in after each of its passes
/// instead ([`checkpoint_wal`], beside the writer, not in its way); this larger threshold is only
/// the safety net for when no sequencer runs (the command line).
const SQLITE_AUTOCHECKPOINT_PAGES: u32 = 10_000;

#[derive(diesel::MultiConnection)]
pub enum DbConn {
    Pg(PgConnection),
    Sqlite(SqliteConnection),
}

/// Runs a block once per real backend, so every query is type-checked against both.
/// `db_run!(conn: { … })` uses one body; `db_run!(conn: pg { … } sqlite { … })` two.
#[macro_export]
macro_rules! db_run {
    ($c:ident: $body:block) => {
        match $c {
            $crate::db::DbConn::Pg($c) => $body,
            $crate::db::DbConn::Sqlite($c) => $body,
        }
    };
    ($c:ident: pg $pg:block sqlite $sq:block) => {
        match $c {
            $crate::db::DbConn::Pg($c) => $pg,
            $crate::db::DbConn::Sqlite($c) => $sq,
        }
    };
}

/// Runs the INSERT `$insert` over the rows `$rows` in chunks of fixed sizes (256, 64, 16, and
/// every size from 8 down to 1 rows), each handed to it as an array; evaluates to the rows
/// inserted (`QueryResult<usize>`).
///
/// diesel prepares an INSERT of a slice anew at every call, since its SQL depends on the length,
/// and PostgreSQL then parses and plans it every time: about 16 µs a row of thirty columns
/// (measured with `pgbench -M extended` against `-M prepared`), more than the insert itself. An
/// INSERT of an array has one SQL text per size, prepared once per connection and then kept in
/// its statement cache, provided its rows bind NULL for `None` rather than write `DEFAULT`: every
/// `Insertable` row says `treat_none_as_default_value = false`, since with `DEFAULT` the text
/// would vary with the values and diesel would prepare it anew each time. Every size up to 8 has
/// its own, so that the few rows of a typical batch (the submissions' writers take what is
/// waiting) go in one statement, one round trip, rather than two or three (7 rows were 4 + 2 + 1).
#[macro_export]
macro_rules! insert_in_fixed_chunks {
    ($rows:expr, |$chunk:ident| $insert:expr) => {{
        let mut rest: &[_] = &$rows[..];
        (|| -> diesel::QueryResult<usize> {
            let mut inserted = 0;
            while !rest.is_empty() {
                inserted += $crate::insert_in_fixed_chunks!(@first rest, $chunk, $insert, 256, 64, 16, 8, 7, 6, 5, 4, 3, 2, 1);
            }
            Ok(inserted)
        })()
    }};
    (@first $rest:ident, $chunk:ident, $insert:expr, $($n:literal),+) => {
        $(
            if let Some(($chunk, tail)) = $rest.split_first_chunk::<$n>() {
                $rest = tail;
                $insert?
            } else
        )+
        { 0 }
    };
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

/// Where the data lives, parsed from `DATABASE_URL`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatabaseUrl {
    pub backend: Backend,
    /// What the driver is given: the PostgreSQL URL, or the SQLite file path.
    pub target: String,
}

impl DatabaseUrl {
    pub fn parse(url: &str) -> Result<Self, String> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(DatabaseUrl { backend: Backend::Postgres, target: url.to_string() });
        }
        if let Some(path) = url.strip_prefix("sqlite://") {
            if path.is_empty() {
                return Err("DATABASE_URL: sqlite:// needs a file path, e.g. sqlite://data/tipline.db".into());
            }
            return Ok(DatabaseUrl { backend: Backend::Sqlite, target: path.to_string() });
        }
        Err("DATABASE_URL: unsupported scheme; accepted are sqlite://PATH and postgres:// (or postgresql://)".into())
    }
}

/// Opens one connection, configured for this service. Errors carry the driver's own text
/// (for PostgreSQL: "connection refused", "password authentication failed", …).
pub fn connect(url: &DatabaseUrl) -> ConnectionResult<DbConn> {
    match url.backend {
        Backend::Postgres => Ok(DbConn::Pg(PgConnection::establish(&url.target)?)),
        Backend::Sqlite => {
            let mut conn = SqliteConnection::establish(&url.target)?;
            // `temp_store = MEMORY`: SQLite keeps its temporary data in memory. Without it, a
            // statement that changes many rows inside a transaction (the submissions' writer inserts
            // a batch with one statement per table) keeps the original of every page it changes in
            // a statement journal, so that a failure part-way undoes that statement alone, and past
            // 64 KiB SQLite spills that journal into a file in /var/tmp: created, unlinked and
            // closed again for every batch, which cost the writer a file creation and deletion per
            // commit, and it left images of database pages in freed blocks of a disk that the
            // database's own shredding (SPEC §13) never reaches. In memory a batch's statement
            // journal is a few hundred KiB at most, and sorts are bounded by the pages the API reads.
            conn.batch_execute(&format!(
                "PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}; PRAGMA journal_mode = WAL; \
                 PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; PRAGMA secure_delete = ON; \
                 PRAGMA temp_store = MEMORY; PRAGMA mmap_size = {SQLITE_MMAP_BYTES}; \
                 PRAGMA wal_autocheckpoint = {SQLITE_AUTOCHECKPOINT_PAGES};"
            ))
            .map_err(ConnectionError::CouldntSetupConfiguration)?;
            Ok(DbConn::Sqlite(conn))
        }
    }
}

/// On SQLite, copies what the WAL holds into the database file as far as no reader still needs
/// it (a passive checkpoint: it takes no lock that writers or readers wait for). Nothing on
/// PostgreSQL, which checkpoints on its own.
pub fn checkpoint_wal(conn: &mut DbConn) -> QueryResult<()> {
    match conn {
        DbConn::Pg(_) => Ok(()),
        DbConn::Sqlite(conn) => conn.batch_execute("PRAGMA wal_checkpoint(PASSIVE)"),
    }
}

pub fn migrations_for(conn: &DbConn) -> EmbeddedMigrations {
    match conn {
        DbConn::Pg(_) => PG_MIGRATIONS,
        DbConn::Sqlite(_) => SQLITE_MIGRATIONS,
    }
}

pub fn migrate(conn: &mut DbConn) -> diesel::migration::Result<usize> {
    let source = migrations_for(conn);
    conn.run_pending_migrations(source).map(|done| done.len())
}

// diesel's own table of applied migrations, declared here so that the readiness check below
// is a query diesel prepares once per connection (an `sql_query` it would send unprepared, and
// PostgreSQL would parse and plan at every `/readyz`).
diesel::table! {
    __diesel_schema_migrations (version) {
        version -> Text,
        run_on -> Timestamp,
    }
}

/// Whether every embedded migration has been applied: the newest version recorded in diesel's
/// migrations table is this binary's newest (diesel applies them in order). One light query,
/// because `/readyz` asks often; a database without that table is an error.
pub fn is_migrated(conn: &mut DbConn) -> diesel::migration::Result<bool> {
    use __diesel_schema_migrations::dsl::{__diesel_schema_migrations as applied_migrations, version};
    let newest_applied = applied_migrations.select(diesel::dsl::max(version));
    let (applied, embedded) = db_run!(conn: pg {
        (newest_applied.get_result::<Option<String>>(conn)?, newest::<diesel::pg::Pg>(&PG_MIGRATIONS)?)
    } sqlite {
        (newest_applied.get_result::<Option<String>>(conn)?, newest::<diesel::sqlite::Sqlite>(&SQLITE_MIGRATIONS)?)
    });
    Ok(applied.is_some() && applied == embedded)
}

/// The newest version among a backend's embedded migrations.
fn newest<B: diesel::backend::Backend>(source: &EmbeddedMigrations) -> diesel::migration::Result<Option<String>> {
    let migrations = diesel::migration::MigrationSource::<B>::migrations(source)?;
    Ok(migrations.iter().map(|m| m.name().version().to_string()).max())
}

pub struct Manager {
    url: DatabaseUrl,
}

/// A connection of the pool, and when it last showed that it works.
pub struct PoolConn {
    conn: DbConn,
    checked_at: Instant,
}

impl std::ops::Deref for PoolConn {
    type Target = DbConn;
    fn deref(&self) -> &DbConn {
        &self.conn
    }
}

impl std::ops::DerefMut for PoolConn {
    fn deref_mut(&mut self) -> &mut DbConn {
        &mut self.conn
    }
}

/// The pool asks a connection whether the database still answers (`SELECT 1`) before handing
/// it out, unless it answered less than this long ago.
///
/// Asking at every checkout cost a round trip per request: on PostgreSQL, two of a login's
/// fourteen statements. Now a connection in steady use is asked about twice a second. The
/// price: a connection that the database drops within this window is handed out untested until
/// the window ends, and the requests that get it meanwhile answer 503 (`outage_or`). After a
/// restart, idle connections are all asked first, and the dead ones are replaced. The window
/// runs from the last answer, not from the last use, so a dead connection cannot stay trusted
/// by being used (and failing) again and again.
const TRUSTED_AFTER_CHECK: Duration = Duration::from_millis(500);

impl ManageConnection for Manager {
    type Connection = PoolConn;
    type Error = r2d2::Error;

    fn connect(&self) -> Result<PoolConn, r2d2::Error> {
        let conn = connect(&self.url).map_err(r2d2::Error::ConnectionError)?;
        Ok(PoolConn { conn, checked_at: Instant::now() })
    }

    fn is_valid(&self, conn: &mut PoolConn) -> Result<(), r2d2::Error> {
        if conn.checked_at.elapsed() < TRUSTED_AFTER_CHECK {
            return Ok(());
        }
        conn.conn.batch_execute("SELECT 1").map_err(r2d2::Error::QueryError)?;
        conn.checked_at = Instant::now();
        Ok(())
    }

    fn has_broken(&self, conn: &mut PoolConn) -> bool {
        match &mut conn.conn {
            DbConn::Pg(c) => r2d2::R2D2Connection::is_broken(c),
            DbConn::Sqlite(c) => r2d2::R2D2Connection::is_broken(c),
        }
    }
}

pub type Pool = r2d2::Pool<Manager>;
pub type PooledConn = r2d2::PooledConnection<Manager>;

/// Builds the pool without connecting: the caller has already opened (and migrated) one
/// connection, so startup errors come from the driver, not from r2d2's timeout.
pub fn pool(url: &DatabaseUrl, size: u32) -> Pool {
    r2d2::Pool::builder()
        .max_size(size)
        .min_idle(Some(0))
        // Fail fast while the database is away: a request gets 503 after at most this long.
        .connection_timeout(Duration::from_secs(2))
        // A connection the database dropped (restart, failover) is replaced, not handed out,
        // unless it answered a moment ago (`TRUSTED_AFTER_CHECK`).
        .test_on_check_out(true)
        .build_unchecked(Manager { url: url.clone() })
}

/// The writers of this process take turns here before SQLite's write lock. A writer that finds
/// that lock taken sleeps in SQLite's busy handler (1, 2, 5, … up to 100 ms) before it looks
/// again, so under contention most of its wait would be sleep after the lock was already free;
/// queued here, it starts the moment the previous writer commits. The busy timeout still covers
/// writers in other processes (the CLI). One gate for the process: a process serves one database.
static SQLITE_WRITER: Mutex<()> = Mutex::new(());

/// A write transaction. On SQLite it starts with `BEGIN IMMEDIATE`, taking the write lock up
/// front: a deferred transaction that reads and then writes fails at once with "database is
/// locked" when another writer got there first, whatever the busy timeout.
pub fn write_tx<T, E, F>(conn: &mut DbConn, f: F) -> Result<T, E>
where
    F: FnOnce(&mut DbConn) -> Result<T, E>,
    E: From<diesel::result::Error>,
{
    transaction(conn, "BEGIN", f)
}

/// [`write_tx`] holding the advisory lock `key` ([`lock`]) from its start. On PostgreSQL the
/// lock is taken in the same round trip as `BEGIN`: one round trip less for a login, whose
/// write transaction locks its throttle key first.
pub fn write_tx_locked<T, E, F>(conn: &mut DbConn, key: i64, f: F) -> Result<T, E>
where
    F: FnOnce(&mut DbConn) -> Result<T, E>,
    E: From<diesel::result::Error>,
{
    // An integer formatted into the text: nothing of a client's reaches this SQL.
    transaction(conn, &format!("BEGIN; SELECT pg_advisory_xact_lock({key})"), f)
}

/// [`write_tx`], beginning on PostgreSQL with `pg_begin`: `BEGIN` and perhaps settings of the
/// transaction, sent together in one round trip.
fn transaction<T, E, F>(conn: &mut DbConn, pg_begin: &str, f: F) -> Result<T, E>
where
    F: FnOnce(&mut DbConn) -> Result<T, E>,
    E: From<diesel::result::Error>,
{
    type Tm = <DbConn as Connection>::TransactionManager;
    let _turn = match conn {
        DbConn::Sqlite(c) => {
            let turn = SQLITE_WRITER.lock().unwrap_or_else(PoisonError::into_inner);
            AnsiTransactionManager::begin_transaction_sql(c, "BEGIN IMMEDIATE")?;
            Some(turn)
        }
        DbConn::Pg(c) => {
            if let Err(err) = AnsiTransactionManager::begin_transaction_sql(c, pg_begin) {
                // A text of several statements can fail after its BEGIN (a lock not granted),
                // leaving a transaction open that diesel does not know of; the connection must
                // not go back to the pool inside it.
                let _ = c.batch_execute("ROLLBACK");
                return Err(err.into());
            }
            None
        }
    };
    match f(conn) {
        Ok(value) => {
            Tm::commit_transaction(conn)?;
            Ok(value)
        }
        Err(err) => match Tm::rollback_transaction(conn) {
            Ok(()) | Err(diesel::result::Error::BrokenTransactionManager) => Err(err),
            Err(rollback) => Err(rollback.into()),
        },
    }
}

/// A short write transaction whose commit need not reach the disk before it returns: for
/// writes that are harmless to lose in a crash (a rate bucket's level), so that they never wait
/// for an fsync while holding a row. PostgreSQL: `SET LOCAL synchronous_commit = off` (the commit
/// is written by the WAL writer within a moment). SQLite in WAL mode: `synchronous = NORMAL` for
/// this one transaction (the commit is synced with the next checkpoint, or the next
/// `synchronous = FULL` commit; the database stays consistent either way), then back to `FULL`.
pub fn quick_tx<T, E, F>(conn: &mut DbConn, f: F) -> Result<T, E>
where
    F: FnOnce(&mut DbConn) -> Result<T, E>,
    E: From<diesel::result::Error>,
{
    match conn {
        DbConn::Pg(_) => transaction(conn, "BEGIN; SET LOCAL synchronous_commit = off", f),
        DbConn::Sqlite(sqlite) => {
            sqlite.batch_execute("PRAGMA synchronous = NORMAL")?;
            let result = write_tx(conn, f);
            if let DbConn::Sqlite(sqlite) = conn {
                sqlite.batch_execute("PRAGMA synchronous = FULL")?;
            }
            result
        }
    }
}

/// Serialises a critical section across instances: a transaction-scoped advisory lock on
/// PostgreSQL. On SQLite, [`write_tx`] already holds the database's single write lock.
pub fn lock(conn: &mut DbConn, key: i64) -> QueryResult<()> {
    if let DbConn::Pg(pg) = conn {
        prepared::AdvisoryXactLock(key).execute(pg)?;
    }
    Ok(())
}

/// Advisory lock keys. Login throttling also locks per key, with values taken from the key
/// itself (`auth::store::lock_key`); a collision with these would only serialise more.
pub mod locks {
    /// Sequencing audit events into the log and the tree (one sequencer at a time).
    pub const AUDIT_SEQUENCER: i64 = 0x5449_504c_0001;
    /// Changing an account's role or active flag (the last-admin rule).
    pub const ADMIN_ROLES: i64 = 0x5449_504c_0002;
    /// Rotating or retiring master keys (one at a time; held for the whole run). Taken in the
    /// two-key form with the hash of the schema ([`KEY_ROTATION_SQL`]): the keys belong to the data
    /// of one schema, and schemas sharing a database (as the test suite's do) rotate apart.
    pub const KEY_ROTATION: i32 = 0x5449_0003;
    /// The second key of [`KEY_ROTATION`]'s lock, as SQL.
    pub const KEY_ROTATION_SQL: &str = "hashtext(current_schema())";
}

/// Runs database work on the blocking pool, inside the caller's tracing span.
pub async fn run<T, F>(pool: &Pool, f: F) -> Result<T, AppError>
where
    F: FnOnce(&mut DbConn) -> Result<T, AppError> + Send + 'static,
    T: Send + 'static,
{
    let pool = pool.clone();
    let span = tracing::Span::current();
    actix_web::web::block(move || {
        let _entered = span.enter();
        let mut conn = pool.get().map_err(|_| AppError::Unavailable)?;
        f(&mut conn).map_err(|e| outage_or(&mut conn, e))
    })
    .await
    .map_err(|_| AppError::internal("blocking task failed"))?
}

/// `err`, or 503 when it came from a database that went away (a query failed and the
/// connection no longer answers): an outage, not a bug.
pub fn outage_or(conn: &mut DbConn, err: AppError) -> AppError {
    if matches!(err, AppError::Internal(_)) && conn.batch_execute("SELECT 1").is_err() {
        tracing::warn!("database connection lost");
        return AppError::Unavailable;
    }
    err
}

/// The current time as stored: UTC, truncated to microseconds (what PostgreSQL keeps), so a
/// value read back equals the value written on both backends.
pub fn now() -> chrono::NaiveDateTime {
    use chrono::SubsecRound;
    chrono::Utc::now().naive_utc().trunc_subsecs(6)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every row goes in exactly once and in order, whatever the count, and a batch of up to 8
    /// rows takes a single statement.
    #[test]
    fn fixed_chunks_take_every_row_once_and_few_statements() {
        for n in 0..=600usize {
            let rows: Vec<usize> = (0..n).collect();
            let mut seen = Vec::new();
            let mut statements = 0;
            let inserted = crate::insert_in_fixed_chunks!(rows, |chunk| {
                statements += 1;
                seen.extend_from_slice(chunk);
                QueryResult::Ok(chunk.len())
            })
            .unwrap();
            assert_eq!(inserted, n);
            assert_eq!(seen, rows);
            if (1..=8).contains(&n) {
                assert_eq!(statements, 1, "{n} rows");
            }
            // 256s, then at most three 64s, three 16s, one 8 and one of 1 to 7.
            assert!(statements <= n / 256 + 3 + 3 + 1 + 1, "{n} rows in {statements} statements");
        }
    }

    #[test]
    fn database_url_schemes() {
        assert_eq!(DatabaseUrl::parse("sqlite://data/t.db").unwrap().target, "data/t.db");
        assert_eq!(DatabaseUrl::parse("postgres://u@h/db").unwrap().backend, Backend::Postgres);
        assert_eq!(DatabaseUrl::parse("postgresql://u@h/db").unwrap().backend, Backend::Postgres);
        let err = DatabaseUrl::parse("mysql://x").unwrap_err();
        assert!(err.contains("sqlite://") && err.contains("postgres://"), "{err}");
        assert!(DatabaseUrl::parse("sqlite://").is_err());
    }
}
