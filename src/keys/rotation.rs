//! Rotating and retiring master keys over the database (SPEC §13).
//!
//! A rotation appends a new key to the keyring file, then re-wraps every data key (reports', cases'
//! and stations') and re-seals every second-factor secret under it, in batches of one transaction
//! each, while the service runs. Each row changes by one conditional UPDATE (still wrapped as it
//! was read), so a row shredded or changed meanwhile is left alone, and a rotation killed at any
//! point leaves each row wrapped under the old key or the new one, both still in the keyring.
//! Running it again finishes the job before it would make another key. Retiring removes a key
//! from the file only when nothing is wrapped under it.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use diesel::dsl;
use diesel::prelude::*;
use serde::Serialize;
use serde_json::json;

use super::{KeyringError, KeyringFile};
use crate::audit::{self, Action, Context};
use crate::crypto::envelope::{Keyring, WrappedKey};
use crate::db::locks::{KEY_ROTATION, KEY_ROTATION_SQL};
use crate::db::schema::{data_keys, report_keys, user_totp};
use crate::db::{write_tx, DbConn, Id};
use crate::db_run;
use crate::error::AppError;

/// What is wrapped or sealed under one master key.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Uses {
    pub report_keys: i64,
    /// Keys of cases and stations.
    pub data_keys: i64,
    pub totp_secrets: i64,
}

impl Uses {
    pub fn total(&self) -> i64 {
        self.report_keys + self.data_keys + self.totp_secrets
    }

    fn add(&mut self, other: &Uses) {
        self.report_keys += other.report_keys;
        self.data_keys += other.data_keys;
        self.totp_secrets += other.totp_secrets;
    }
}

/// An empty master key id: a second-factor secret sealed before ids were stored beside them
/// (it opens under one of the keys, found by trying each).
pub const UNNAMED: &str = "";

/// What each master key wraps, by id, counted in one read of each table.
pub fn uses(conn: &mut DbConn) -> Result<BTreeMap<String, Uses>, AppError> {
    type Counts = Vec<(String, i64)>;
    let (reports, data, totp): (Counts, Counts, Counts) = db_run!(conn: {
        (
            report_keys::table
                .group_by(report_keys::master_key_id)
                .select((report_keys::master_key_id, dsl::count_star()))
                .load(conn)?,
            data_keys::table
                .group_by(data_keys::master_key_id)
                .select((data_keys::master_key_id, dsl::count_star()))
                .load(conn)?,
            user_totp::table
                .group_by(user_totp::master_key_id)
                .select((user_totp::master_key_id, dsl::count_star()))
                .load(conn)?,
        )
    });
    let mut by_key: BTreeMap<String, Uses> = BTreeMap::new();
    for (id, n) in reports {
        by_key.entry(id).or_default().report_keys += n;
    }
    for (id, n) in data {
        by_key.entry(id).or_default().data_keys += n;
    }
    for (id, n) in totp {
        by_key.entry(id).or_default().totp_secrets += n;
    }
    Ok(by_key)
}

/// What is wrapped under any key but `current`.
fn pending(by_key: &BTreeMap<String, Uses>, current: &str) -> Uses {
    let mut sum = Uses::default();
    for (_, uses) in by_key.iter().filter(|(id, _)| id.as_str() != current) {
        sum.add(uses);
    }
    sum
}

#[derive(Debug, thiserror::Error)]
pub enum RotationError {
    #[error("another rotation or retirement is running on this keyring")]
    Busy,
    #[error("key {0} is not in the keyring")]
    UnknownKey(String),
    #[error("key {0} is the current key; rotate first, then retire it")]
    Current(String),
    #[error(
        "key {id} still wraps {} key(s) ({} report keys, {} case and station keys, {} second-factor secrets); run `tipline keys rotate` first",
        .uses.total(), .uses.report_keys, .uses.data_keys, .uses.totp_secrets
    )]
    InUse { id: String, uses: Uses },
    #[error(transparent)]
    Keyring(#[from] KeyringError),
    #[error(transparent)]
    App(#[from] AppError),
}

impl From<diesel::result::Error> for RotationError {
    fn from(e: diesel::result::Error) -> Self {
        RotationError::App(e.into())
    }
}

/// How a rotation goes about it.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Rows per transaction.
    pub batch: i64,
    /// Rest between batches, to leave the database to the service.
    pub pause: Duration,
}

impl Options {
    pub const DEFAULT: Options = Options { batch: 500, pause: Duration::ZERO };
}

/// What a rotation did.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    /// The key everything is now wrapped under.
    pub key: String,
    /// It finished an earlier rotation instead of making a new key.
    pub resumed: bool,
    pub rewrapped: Uses,
    /// Rows whose key did not open under the key they name (listed in the log); left as they were.
    pub unreadable: i64,
    /// What is still wrapped under other keys: the unreadable rows, and any an instance that
    /// does not read this keyring file wrapped meanwhile.
    pub left: Uses,
}

/// Passes over the tables after the first: rows an instance wrapped under the earlier key
/// before it read the new keyring are picked up by the next pass.
const MAX_PASSES: usize = 5;

/// How old the keyring file must be before a rotation may end: instances read it again at least
/// every [`REFRESH_EVERY`](crate::crypto::envelope::REFRESH_EVERY) before they wrap, and a key
/// wrapped just before may take a moment to commit.
const SETTLE: Duration = Duration::from_secs(5);

/// Runs `work` holding the rotation locks: the keyring file's lock, and on PostgreSQL a session
/// advisory lock, so one rotation or retirement runs at a time across hosts sharing a database.
fn exclusive<T>(
    conn: &mut DbConn,
    file: &KeyringFile,
    work: impl FnOnce(&mut DbConn) -> Result<T, RotationError>,
) -> Result<T, RotationError> {
    let _file_lock = file.try_lock()?.ok_or(RotationError::Busy)?;
    #[derive(QueryableByName)]
    struct Locked {
        #[diesel(sql_type = diesel::sql_types::Bool)]
        locked: bool,
    }
    if let DbConn::Pg(pg) = conn {
        let got: Locked = diesel::sql_query(format!("SELECT pg_try_advisory_lock($1, {KEY_ROTATION_SQL}) AS locked"))
            .bind::<diesel::sql_types::Integer, _>(KEY_ROTATION)
            .get_result(pg)?;
        if !got.locked {
            return Err(RotationError::Busy);
        }
    }
    let result = work(conn);
    if let DbConn::Pg(pg) = conn {
        diesel::sql_query(format!("SELECT pg_advisory_unlock($1, {KEY_ROTATION_SQL})"))
            .bind::<diesel::sql_types::Integer, _>(KEY_ROTATION)
            .execute(pg)?;
    }
    result
}

/// `tipline keys rotate`: finishes an unfinished rotation, or makes a new current key, then
/// re-wraps everything under the current key; audited as `keys.rotate` when it starts and when it
/// ends. `progress` hears the running totals after each batch.
pub fn rotate(
    conn: &mut DbConn,
    file: &KeyringFile,
    options: Options,
    mut progress: impl FnMut(&Uses),
) -> Result<Outcome, RotationError> {
    exclusive(conn, file, |conn| {
        let keyring = file.open()?;
        let before = uses(conn)?;
        // Anything under an earlier key means a rotation did not finish (secrets sealed before ids
        // were stored say nothing of that; every pass re-seals them).
        let named = || before.keys().filter(|id| id.as_str() != UNNAMED);
        let resumed = named().any(|id| *id != keyring.master_key_id());
        let key = if resumed { keyring.master_key_id() } else { file.add_new_key()? };
        let from: Vec<&String> = named().filter(|id| **id != key).collect();
        let keyring = file.open()?;
        write_tx(conn, |conn| {
            let details = json!({"phase": "started", "key": key, "resumed": resumed, "from": from});
            audit::record(conn, Context::system().entry(Action::KeysRotate).details(details))
        })?;
        let mut rewrapped = Uses::default();
        let mut unreadable;
        let mut passes = 0;
        let left = loop {
            unreadable = 0;
            pass(conn, &keyring, options, &mut rewrapped, &mut unreadable, &mut progress)?;
            let left = pending(&uses(conn)?, &key);
            passes += 1;
            // Until every instance has read the new keyring, one may still wrap under the old key.
            let waiting = SETTLE.saturating_sub(file.age().unwrap_or(SETTLE));
            if (left.total() <= unreadable && waiting.is_zero()) || passes >= MAX_PASSES {
                break left;
            }
            std::thread::sleep(waiting.max(Duration::from_secs(1)));
        };
        let outcome = Outcome { key, resumed, rewrapped, unreadable, left };
        write_tx(conn, |conn| {
            let details = json!({
                "phase": "finished", "key": outcome.key, "rewrapped": outcome.rewrapped,
                "unreadable": outcome.unreadable, "left": outcome.left.total(),
            });
            audit::record(conn, Context::system().entry(Action::KeysRotate).details(details))
        })?;
        Ok(outcome)
    })
}

/// One batch of one table, after the row given.
type BatchFn<'a> = dyn Fn(&mut DbConn, Option<Id>) -> Result<Batch, AppError> + 'a;

/// One pass over the three tables.
fn pass(
    conn: &mut DbConn,
    keyring: &Keyring,
    options: Options,
    rewrapped: &mut Uses,
    unreadable: &mut i64,
    progress: &mut impl FnMut(&Uses),
) -> Result<(), RotationError> {
    let mut run = |conn: &mut DbConn, batch: &BatchFn, count: &mut dyn FnMut(&mut Uses, i64)| {
        let mut after = None;
        loop {
            let done = write_tx(conn, |conn| batch(conn, after))?;
            count(rewrapped, done.rewrapped);
            *unreadable += done.unreadable;
            progress(rewrapped);
            match done.last {
                Some(last) => after = Some(last),
                None => return Ok::<_, RotationError>(()),
            }
            if !options.pause.is_zero() {
                std::thread::sleep(options.pause);
            }
        }
    };
    run(conn, &|c, after| report_keys_batch(c, keyring, after, options.batch), &mut |u, n| u.report_keys += n)?;
    for table in ["cases", "stations"] {
        run(conn, &|c, after| data_keys_batch(c, keyring, table, after, options.batch), &mut |u, n| u.data_keys += n)?;
    }
    run(conn, &|c, after| totp_batch(c, keyring, after, options.batch), &mut |u, n| u.totp_secrets += n)?;
    Ok(())
}

/// One batch: rows changed, rows that did not open, and the last row read (`None` at the end).
struct Batch {
    rewrapped: i64,
    unreadable: i64,
    last: Option<Id>,
}

impl Batch {
    fn new(read: usize, limit: i64, last: Option<Id>) -> Batch {
        Batch { rewrapped: 0, unreadable: 0, last: if read as i64 == limit { last } else { None } }
    }

    fn unreadable(&mut self, what: &str, id: Id) {
        tracing::error!(%id, "{what} does not open under the master key it names; left as it is");
        self.unreadable += 1;
    }
}

fn report_keys_batch(conn: &mut DbConn, keyring: &Keyring, after: Option<Id>, limit: i64) -> Result<Batch, AppError> {
    let current = keyring.master_key_id();
    let rows: Vec<(Id, String, String, String)> = db_run!(conn: {
        let mut query = report_keys::table
            .select((report_keys::report_id, report_keys::key_id, report_keys::wrapped, report_keys::master_key_id))
            .filter(report_keys::master_key_id.ne(&current))
            .order(report_keys::report_id)
            .limit(limit)
            .into_boxed();
        if let Some(after) = after {
            query = query.filter(report_keys::report_id.gt(after));
        }
        query.load(conn)?
    });
    let mut batch = Batch::new(rows.len(), limit, rows.last().map(|r| r.0));
    for (id, key_id, wrapped, master_key_id) in rows {
        let stored = WrappedKey { key_id, wrapped, master_key_id };
        let Ok(Some(new)) = keyring.rewrap_for("reports", id, &stored) else {
            batch.unreadable("a report key", id);
            continue;
        };
        let row = report_keys::table
            .filter(report_keys::report_id.eq(id))
            .filter(report_keys::master_key_id.eq(&stored.master_key_id))
            .filter(report_keys::wrapped.eq(&stored.wrapped));
        let changes = (report_keys::wrapped.eq(&new.wrapped), report_keys::master_key_id.eq(&new.master_key_id));
        batch.rewrapped += db_run!(conn: { diesel::update(row).set(changes).execute(conn)? }) as i64;
    }
    Ok(batch)
}

fn data_keys_batch(
    conn: &mut DbConn,
    keyring: &Keyring,
    table: &str,
    after: Option<Id>,
    limit: i64,
) -> Result<Batch, AppError> {
    let current = keyring.master_key_id();
    let rows: Vec<(Id, String, String, String)> = db_run!(conn: {
        let mut query = data_keys::table
            .select((data_keys::owner_id, data_keys::key_id, data_keys::wrapped, data_keys::master_key_id))
            .filter(data_keys::owner_table.eq(table))
            .filter(data_keys::master_key_id.ne(&current))
            .order(data_keys::owner_id)
            .limit(limit)
            .into_boxed();
        if let Some(after) = after {
            query = query.filter(data_keys::owner_id.gt(after));
        }
        query.load(conn)?
    });
    let mut batch = Batch::new(rows.len(), limit, rows.last().map(|r| r.0));
    for (id, key_id, wrapped, master_key_id) in rows {
        let stored = WrappedKey { key_id, wrapped, master_key_id };
        let Ok(Some(new)) = keyring.rewrap_for(table, id, &stored) else {
            batch.unreadable("a case or station key", id);
            continue;
        };
        let row = data_keys::table
            .filter(data_keys::owner_table.eq(table))
            .filter(data_keys::owner_id.eq(id))
            .filter(data_keys::master_key_id.eq(&stored.master_key_id))
            .filter(data_keys::wrapped.eq(&stored.wrapped));
        let changes = (data_keys::wrapped.eq(&new.wrapped), data_keys::master_key_id.eq(&new.master_key_id));
        batch.rewrapped += db_run!(conn: { diesel::update(row).set(changes).execute(conn)? }) as i64;
    }
    Ok(batch)
}

fn totp_batch(conn: &mut DbConn, keyring: &Keyring, after: Option<Id>, limit: i64) -> Result<Batch, AppError> {
    let current = keyring.master_key_id();
    let rows: Vec<(Id, String, String)> = db_run!(conn: {
        let mut query = user_totp::table
            .select((user_totp::user_id, user_totp::secret_sealed, user_totp::master_key_id))
            .filter(user_totp::master_key_id.ne(&current))
            .order(user_totp::user_id)
            .limit(limit)
            .into_boxed();
        if let Some(after) = after {
            query = query.filter(user_totp::user_id.gt(after));
        }
        query.load(conn)?
    });
    let mut batch = Batch::new(rows.len(), limit, rows.last().map(|r| r.0));
    for (id, sealed, master_key_id) in rows {
        let Ok(Some(new)) = keyring.reseal_bound("user_totp", "secret_sealed", id, &master_key_id, &sealed) else {
            batch.unreadable("a second-factor secret", id);
            continue;
        };
        let row = user_totp::table
            .filter(user_totp::user_id.eq(id))
            .filter(user_totp::master_key_id.eq(&master_key_id))
            .filter(user_totp::secret_sealed.eq(&sealed));
        let changes = (user_totp::secret_sealed.eq(&new.sealed), user_totp::master_key_id.eq(&new.master_key_id));
        batch.rewrapped += db_run!(conn: { diesel::update(row).set(changes).execute(conn)? }) as i64;
    }
    Ok(batch)
}

/// `tipline keys retire ID`: removes a key that wraps nothing from the keyring file; refused for
/// the current key, and for a key still in use (with the count). Audited as `keys.retire`.
pub fn retire(conn: &mut DbConn, file: &KeyringFile, id: &str) -> Result<(), RotationError> {
    exclusive(conn, file, |conn| {
        let entries = file.read()?;
        if !entries.iter().any(|e| e.id == id) {
            return Err(RotationError::UnknownKey(id.to_string()));
        }
        if entries.last().is_some_and(|e| e.id == id) {
            return Err(RotationError::Current(id.to_string()));
        }
        write_tx(conn, |conn| {
            let by_key = uses(conn)?;
            let mut in_use = by_key.get(id).copied().unwrap_or_default();
            // Secrets sealed before ids were stored may be sealed under this key.
            in_use.add(&by_key.get(UNNAMED).copied().unwrap_or_default());
            if in_use.total() > 0 {
                return Err(RotationError::InUse { id: id.to_string(), uses: in_use });
            }
            audit::record(conn, Context::system().entry(Action::KeysRetire).details(json!({"key": id})))?;
            // Removed inside the transaction: if this fails, the entry is not recorded either.
            file.remove_key(id)?;
            Ok(())
        })
    })
}

/// A master key the database names that `keyring` lacks, if any: one query per table, each
/// stopping at the first such row.
pub fn missing_key(conn: &mut DbConn, keyring: &Keyring) -> Result<Option<String>, AppError> {
    let known: Vec<String> = keyring.keys().ids().map(str::to_string).chain([UNNAMED.to_string()]).collect();
    let found: Option<String> = db_run!(conn: {
        let reports = report_keys::table
            .select(report_keys::master_key_id)
            .filter(report_keys::master_key_id.ne_all(&known))
            .first::<String>(conn)
            .optional()?;
        let data = data_keys::table
            .select(data_keys::master_key_id)
            .filter(data_keys::master_key_id.ne_all(&known))
            .first::<String>(conn)
            .optional()?;
        let totp = user_totp::table
            .select(user_totp::master_key_id)
            .filter(user_totp::master_key_id.ne_all(&known))
            .first::<String>(conn)
            .optional()?;
        reports.or(data).or(totp)
    });
    Ok(found)
}

/// One line of `tipline keys status`.
#[derive(Debug, Clone, Serialize)]
pub struct KeyStatus {
    pub id: String,
    pub current: bool,
    /// Whether the keyring file holds it: data wrapped under a key it lacks cannot be read.
    pub in_keyring: bool,
    pub uses: Uses,
}

/// Every key of the keyring with what it wraps, then any key named in the database that the
/// keyring lacks.
pub fn status(conn: &mut DbConn, file: &KeyringFile) -> Result<Vec<KeyStatus>, RotationError> {
    let entries = file.read()?;
    let mut by_key = uses(conn)?;
    let current = entries.last().map(|e| e.id.clone()).unwrap_or_default();
    let mut lines: Vec<KeyStatus> = entries
        .iter()
        .map(|e| KeyStatus {
            id: e.id.clone(),
            current: e.id == current,
            in_keyring: true,
            uses: by_key.remove(&e.id).unwrap_or_default(),
        })
        .collect();
    lines.extend(by_key.into_iter().map(|(id, uses)| KeyStatus { id, current: false, in_keyring: false, uses }));
    Ok(lines)
}

/// Prints a rotation's progress at most every `every`.
pub fn every(every: Duration, mut print: impl FnMut(&Uses)) -> impl FnMut(&Uses) {
    let mut last = Instant::now();
    move |uses| {
        if last.elapsed() >= every {
            last = Instant::now();
            print(uses);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pending_counts_every_key_but_the_current() {
        let mut by_key = BTreeMap::new();
        by_key.insert("new".to_string(), Uses { report_keys: 5, data_keys: 1, totp_secrets: 1 });
        by_key.insert("old".to_string(), Uses { report_keys: 2, data_keys: 0, totp_secrets: 0 });
        by_key.insert(UNNAMED.to_string(), Uses { report_keys: 0, data_keys: 0, totp_secrets: 3 });
        assert_eq!(pending(&by_key, "new"), Uses { report_keys: 2, data_keys: 0, totp_secrets: 3 });
        assert_eq!(pending(&by_key, "new").total(), 5);
    }

    #[test]
    fn a_short_batch_is_the_last() {
        let id = Id::new();
        assert_eq!(Batch::new(10, 10, Some(id)).last, Some(id));
        assert_eq!(Batch::new(3, 10, Some(id)).last, None);
    }
}
