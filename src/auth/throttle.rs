//! Per-account login throttling (SPEC §3), kept in the database so every instance sees it.
//!
//! After [`MAX_FAILURES`] failures within [`WINDOW`], the account is locked for [`LOCKOUT`].
//! Attempts during a lockout do not extend it, so an attacker cannot lock a victim out for
//! longer than they keep guessing; a success resets the count. The key is a keyed hash of the
//! normalised email, so unknown emails are throttled exactly like real ones (no enumeration)
//! and the table holds no addresses.

use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;

use crate::db::schema::login_throttle;
use crate::db::DbConn;
use crate::db_run;

pub const MAX_FAILURES: i32 = 5;
pub const WINDOW: Duration = Duration::minutes(15);
pub const LOCKOUT: Duration = Duration::minutes(15);

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = login_throttle)]
pub struct State {
    pub key_hash: String,
    pub failures: i32,
    pub window_started_at: NaiveDateTime,
    pub locked_until: Option<NaiveDateTime>,
}

/// Seconds until the lock lifts, if the key is locked now.
pub fn locked_for(state: Option<&State>, now: NaiveDateTime) -> Option<u64> {
    let until = state?.locked_until?;
    (until > now).then(|| (until - now).num_seconds().max(1) as u64)
}

/// The state after one more failure.
pub fn after_failure(state: Option<State>, key_hash: &str, now: NaiveDateTime) -> State {
    let fresh = State { key_hash: key_hash.to_string(), failures: 1, window_started_at: now, locked_until: None };
    let Some(mut state) = state else { return fresh };
    let lock_expired = state.locked_until.is_some_and(|until| until <= now);
    if lock_expired || now - state.window_started_at > WINDOW {
        return fresh;
    }
    state.failures += 1;
    if state.failures >= MAX_FAILURES && state.locked_until.is_none() {
        state.locked_until = Some(now + LOCKOUT);
    }
    state
}

/// Checks the lock and counts this attempt as a failure in one step, for a check quick enough
/// to run inside the same write transaction (the receipt lookup): a success then calls
/// [`clear`]. `Err` carries the seconds until the lock lifts. Call inside a write transaction.
///
/// A login cannot hash a password inside a write transaction; it reads the lock first, hashes,
/// and then, in one write transaction, checks the lock again and counts a failure
/// ([`after_failure`]) or clears the count (see `auth::handlers::login`).
pub fn reserve(conn: &mut DbConn, key_hash: &str, now: NaiveDateTime) -> QueryResult<Result<(), u64>> {
    let current = get_for_update(conn, key_hash)?;
    if let Some(retry_after) = locked_for(current.as_ref(), now) {
        return Ok(Err(retry_after));
    }
    put(conn, &after_failure(current, key_hash, now))?;
    Ok(Ok(()))
}

/// The state, read to be changed in this write transaction: on PostgreSQL an advisory lock per
/// key makes concurrent attempts on one key wait for each other, so none counts from a stale
/// state (a row lock would not do: the first failure has no row to lock yet). On SQLite the
/// write transaction already holds the database's only write lock.
pub fn get_for_update(conn: &mut DbConn, key_hash: &str) -> QueryResult<Option<State>> {
    crate::db::lock(conn, lock_key(key_hash))?;
    get(conn, key_hash)
}

/// The advisory lock key of a throttle key: its first 60 bits (the key is a hex HMAC).
fn lock_key(key_hash: &str) -> i64 {
    key_hash.get(..15).and_then(|hex| i64::from_str_radix(hex, 16).ok()).unwrap_or(0)
}

pub fn get(conn: &mut DbConn, key_hash: &str) -> QueryResult<Option<State>> {
    db_run!(conn: {
        login_throttle::table.find(key_hash).select(State::as_select()).first(conn).optional()
    })
}

pub fn put(conn: &mut DbConn, state: &State) -> QueryResult<()> {
    db_run!(conn: {
        diesel::insert_into(login_throttle::table)
            .values(state)
            .on_conflict(login_throttle::key_hash)
            .do_update()
            .set((
                login_throttle::failures.eq(state.failures),
                login_throttle::window_started_at.eq(state.window_started_at),
                login_throttle::locked_until.eq(state.locked_until),
            ))
            .execute(conn)
    })
    .map(|_| ())
}

pub fn clear(conn: &mut DbConn, key_hash: &str) -> QueryResult<()> {
    db_run!(conn: { diesel::delete(login_throttle::table.find(key_hash)).execute(conn) }).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(minutes: i64) -> NaiveDateTime {
        chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap().naive_utc() + Duration::minutes(minutes)
    }

    fn fail_n(n: usize, at: NaiveDateTime) -> Option<State> {
        let mut s = None;
        for _ in 0..n {
            s = Some(after_failure(s, "k", at));
        }
        s
    }

    #[test]
    fn locks_after_five_failures_in_the_window() {
        let s = fail_n(4, t(0));
        assert_eq!(locked_for(s.as_ref(), t(1)), None);
        let s = Some(after_failure(s, "k", t(1)));
        assert_eq!(locked_for(s.as_ref(), t(1)), Some(15 * 60));
        assert_eq!(locked_for(s.as_ref(), t(16)), None, "the lock lifts by itself");
    }

    #[test]
    fn failures_outside_the_window_start_over() {
        let s = fail_n(4, t(0));
        let s = after_failure(s, "k", t(16));
        assert_eq!(s.failures, 1);
        assert_eq!(s.locked_until, None);
    }

    #[test]
    fn attempts_during_a_lock_do_not_extend_it() {
        let s = fail_n(5, t(0));
        let until = s.as_ref().unwrap().locked_until;
        let s = after_failure(s, "k", t(10));
        assert_eq!(s.locked_until, until);
    }
}
