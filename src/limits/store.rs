//! Queries of the token buckets: each take is a transaction of its own (see the module's comment).

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::rules::{self, Refusal};
use super::{Bucket, Level};
use crate::db::schema::rate_buckets;
use crate::db::{quick_tx, DbConn};
use crate::db_run;

/// Takes a token of `bucket` at `rate` per minute, in a short transaction of its own that does
/// not wait for the disk. On PostgreSQL the row is locked (`FOR UPDATE`) from the read to the
/// commit, so instances taking at once each see the level the other left; on SQLite the write
/// transaction holds the database's write lock. A refusal writes only when it is the first of a
/// dry spell.
pub fn take(conn: &mut DbConn, bucket: Bucket, rate: u32, now: NaiveDateTime) -> QueryResult<Result<(), Refusal>> {
    quick_tx(conn, |conn| {
        let current = level_for_update(conn, bucket, rate)?;
        match rules::take(current, rate, now) {
            Ok(level) => put(conn, bucket, &level).map(Ok),
            Err(refusal) => {
                if refusal.first {
                    put(conn, bucket, &refusal.level)?;
                }
                Ok(Err(refusal))
            }
        }
    })
}

/// [`take`] of `n` tokens at once, one after the other, in one short transaction: the answer of
/// each.
pub fn take_many(
    conn: &mut DbConn,
    bucket: Bucket,
    rate: u32,
    now: NaiveDateTime,
    n: usize,
) -> QueryResult<Vec<Result<(), Refusal>>> {
    quick_tx(conn, |conn| take_many_within(conn, bucket, rate, now, n))
}

/// [`take_many`] inside the caller's transaction, which holds the bucket's row until it ends:
/// only where writes are serialised anyway (SQLite's one writer), or the row would be hot.
pub fn take_many_within(
    conn: &mut DbConn,
    bucket: Bucket,
    rate: u32,
    now: NaiveDateTime,
    n: usize,
) -> QueryResult<Vec<Result<(), Refusal>>> {
    let current = level_for_update(conn, bucket, rate)?;
    let (changed, answers) = rules::take_many(current, rate, now, n);
    if let Some(level) = changed {
        put(conn, bucket, &level)?;
    }
    Ok(answers)
}

/// Puts back a token taken with [`take`].
pub fn give_back(conn: &mut DbConn, bucket: Bucket, rate: u32, now: NaiveDateTime) -> QueryResult<()> {
    quick_tx(conn, |conn| {
        let current = level_for_update(conn, bucket, rate)?;
        put(conn, bucket, &rules::give_back(current, rate, now))
    })
}

/// The bucket's level, locked for this transaction; a bucket's row is made (full) the first time.
fn level_for_update(conn: &mut DbConn, bucket: Bucket, rate: u32) -> QueryResult<Option<Level>> {
    if let Some(level) = locked(conn, bucket)? {
        return Ok(Some(level));
    }
    let name = bucket.as_str();
    db_run!(conn: {
        diesel::insert_into(rate_buckets::table)
            .values((
                rate_buckets::name.eq(name),
                rate_buckets::tokens.eq(f64::from(rate)),
                rate_buckets::updated_at.eq(crate::db::now()),
                rate_buckets::exhausted.eq(false),
            ))
            .on_conflict_do_nothing()
            .execute(conn)
    })?;
    locked(conn, bucket)
}

fn locked(conn: &mut DbConn, bucket: Bucket) -> QueryResult<Option<Level>> {
    let name = bucket.as_str();
    db_run!(conn: pg {
        rate_buckets::table.find(name).select(Level::as_select()).for_update().first(conn).optional()
    } sqlite {
        rate_buckets::table.find(name).select(Level::as_select()).first(conn).optional()
    })
}

fn put(conn: &mut DbConn, bucket: Bucket, level: &Level) -> QueryResult<()> {
    db_run!(conn: {
        diesel::update(rate_buckets::table.find(bucket.as_str()))
            .set((
                rate_buckets::tokens.eq(level.tokens),
                rate_buckets::updated_at.eq(level.updated_at),
                rate_buckets::exhausted.eq(level.exhausted),
            ))
            .execute(conn)
    })
    .map(|_| ())
}

/// A bucket's stored level (for tests and benchmarks).
pub fn level(conn: &mut DbConn, bucket: Bucket) -> QueryResult<Option<Level>> {
    let name = bucket.as_str();
    db_run!(conn: { rate_buckets::table.find(name).select(Level::as_select()).first(conn).optional() })
}
