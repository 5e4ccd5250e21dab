//! Queries of sign-in: sessions and their refresh tokens (rotated on every use, reuse revokes
//! the session), and the login throttle's table.

use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;

use super::token::{self, REFRESH_TTL_DAYS};
use super::{RefreshRow, SessionRow, ThrottleRow as State};
use crate::db::schema::{device_tokens, login_throttle, recovery_codes, refresh_tokens, sessions, user_totp, users};
use crate::db::{prepared, DbConn, Id};
use crate::db_run;
use crate::users::UserRow;

/// Starts a session; returns its id and the first refresh token (shown once).
pub fn create_session(conn: &mut DbConn, user_id: Id) -> QueryResult<(Id, String)> {
    let now = crate::db::now();
    let session = SessionRow {
        id: Id::new(),
        user_id,
        created_at: now,
        expires_at: now + Duration::days(REFRESH_TTL_DAYS),
        revoked_at: None,
    };
    db_run!(conn: { diesel::insert_into(sessions::table).values(&session).execute(conn) })?;
    let token = add_refresh_token(conn, session.id, now)?;
    Ok((session.id, token))
}

fn add_refresh_token(conn: &mut DbConn, session_id: Id, now: NaiveDateTime) -> QueryResult<String> {
    let (token, token_hash) = token::new_refresh_token();
    let row = RefreshRow { token_hash, session_id, created_at: now, used_at: None };
    db_run!(conn: { diesel::insert_into(refresh_tokens::table).values(&row).execute(conn) })?;
    Ok(token)
}

/// The user of a live session: not revoked, not expired, user active.
pub fn live_user(conn: &mut DbConn, session_id: Id, user_id: Id) -> QueryResult<Option<UserRow>> {
    let now = crate::db::now();
    db_run!(conn: {
        sessions::table
            .inner_join(users::table)
            .filter(sessions::id.eq(session_id))
            .filter(sessions::user_id.eq(user_id))
            .filter(sessions::revoked_at.is_null())
            .filter(sessions::expires_at.gt(now))
            .filter(users::active.eq(true))
            .select(UserRow::as_select())
            .first(conn)
            .optional()
    })
}

pub fn revoke_session(conn: &mut DbConn, session_id: Id) -> QueryResult<()> {
    let now = crate::db::now();
    db_run!(conn: {
        diesel::update(sessions::table.find(session_id).filter(sessions::revoked_at.is_null()))
            .set(sessions::revoked_at.eq(now))
            .execute(conn)
    })
    .map(|_| ())
}

pub enum Rotation {
    /// The token was current: here is the next one.
    Rotated {
        user: UserRow,
        session_id: Id,
        refresh_token: String,
    },
    /// The token had already been rotated: the session has been revoked.
    Reused {
        user_id: Id,
        session_id: Id,
    },
    Invalid,
}

/// Exchanges a refresh token for the next one. Call inside a write transaction.
pub fn rotate(conn: &mut DbConn, presented: &str) -> QueryResult<Rotation> {
    let now = crate::db::now();
    let hash = token::refresh_token_hash(presented);
    let found: Option<(RefreshRow, SessionRow)> = db_run!(conn: {
        refresh_tokens::table
            .inner_join(sessions::table)
            .filter(refresh_tokens::token_hash.eq(&hash))
            .select((RefreshRow::as_select(), SessionRow::as_select()))
            .first(conn)
            .optional()
    })?;
    let Some((refresh, session)) = found else {
        return Ok(Rotation::Invalid);
    };
    if refresh.used_at.is_some() {
        let was_live = session.revoked_at.is_none();
        revoke_session(conn, session.id)?;
        return Ok(if was_live {
            Rotation::Reused { user_id: session.user_id, session_id: session.id }
        } else {
            Rotation::Invalid
        });
    }
    let Some(user) = live_user(conn, session.id, session.user_id)? else {
        return Ok(Rotation::Invalid);
    };
    let marked = db_run!(conn: {
        diesel::update(refresh_tokens::table.find(&hash).filter(refresh_tokens::used_at.is_null()))
            .set(refresh_tokens::used_at.eq(now))
            .execute(conn)
    })?;
    if marked != 1 {
        return Ok(Rotation::Invalid);
    }
    db_run!(conn: {
        diesel::update(sessions::table.find(session.id))
            .set(sessions::expires_at.eq(now + Duration::days(REFRESH_TTL_DAYS)))
            .execute(conn)
    })?;
    let refresh_token = add_refresh_token(conn, session.id, now)?;
    Ok(Rotation::Rotated { user, session_id: session.id, refresh_token })
}

/// The advisory lock key of a throttle key: its first 60 bits (the key is a hex HMAC). A login's
/// write transaction holds it from its start ([`crate::db::write_tx_locked`]), so concurrent
/// attempts on one key wait for each other and none counts from a stale state (a row lock would
/// not do: the first failure has no row to lock yet). On SQLite the write transaction already
/// holds the database's only write lock.
pub fn lock_key(key_hash: &str) -> i64 {
    key_hash.get(..15).and_then(|hex| i64::from_str_radix(hex, 16).ok()).unwrap_or(0)
}

pub fn throttle(conn: &mut DbConn, key_hash: &str) -> QueryResult<Option<State>> {
    db_run!(conn: {
        login_throttle::table.find(key_hash).select(State::as_select()).first(conn).optional()
    })
}

pub fn put_throttle(conn: &mut DbConn, state: &State) -> QueryResult<()> {
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

/// Clears a key's failures; whether there were any.
pub fn clear_throttle(conn: &mut DbConn, key_hash: &str) -> QueryResult<bool> {
    db_run!(conn: { diesel::delete(login_throttle::table.find(key_hash)).execute(conn) }).map(|n| n > 0)
}

/// A user's TOTP secret (sealed) and whether it is confirmed.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = user_totp, treat_none_as_default_value = false)]
pub struct TotpRow {
    pub user_id: Id,
    pub secret_sealed: String,
    pub confirmed_at: Option<NaiveDateTime>,
    pub last_step: i64,
    pub created_at: NaiveDateTime,
    /// The master key the secret is sealed under (empty: sealed before this was stored).
    pub master_key_id: String,
}

pub fn totp_of(conn: &mut DbConn, user_id: Id) -> QueryResult<Option<TotpRow>> {
    db_run!(conn: { user_totp::table.find(user_id).select(TotpRow::as_select()).first(conn).optional() })
}

/// What a login reads before it hashes ([`find_for_login`]).
pub struct ForLogin {
    pub user: UserRow,
    /// The account's TOTP row, confirmed or not. It may change while the password is hashed;
    /// [`accept_step`] only takes a step for the very secret that was read.
    pub totp: Option<TotpRow>,
    /// The throttle row of the key the login asked for, if it has one.
    pub throttle: Option<State>,
}

/// The account that signs in by one of `logins`, with its TOTP row and the throttle row of
/// `throttle_key`: a login reads all three in one statement before it hashes. `None` when no
/// account signs in by those names (the caller then reads the throttle row on its own).
pub fn find_for_login(conn: &mut DbConn, logins: &[String], throttle_key: &str) -> QueryResult<Option<ForLogin>> {
    let found = db_run!(conn: {
        users::table
            .left_join(user_totp::table)
            .left_join(login_throttle::table.on(login_throttle::key_hash.eq(throttle_key)))
            .filter(users::login.eq_any(logins))
            .select((UserRow::as_select(), Option::<TotpRow>::as_select(), Option::<State>::as_select()))
            .first::<(UserRow, Option<TotpRow>, Option<State>)>(conn)
            .optional()
    })?;
    Ok(found.map(|(user, totp, throttle)| ForLogin { user, totp, throttle }))
}

/// Whether the user has a confirmed second factor.
pub fn has_second_factor(conn: &mut DbConn, user_id: Id) -> QueryResult<bool> {
    Ok(totp_of(conn, user_id)?.is_some_and(|t| t.confirmed_at.is_some()))
}

/// Stores a pending secret, replacing an earlier pending one (never a confirmed one: the
/// caller checks, and the condition here holds that line too).
pub fn put_pending_totp(conn: &mut DbConn, row: &TotpRow) -> QueryResult<()> {
    db_run!(conn: {
        diesel::delete(user_totp::table.find(row.user_id).filter(user_totp::confirmed_at.is_null())).execute(conn)
    })?;
    db_run!(conn: { diesel::insert_into(user_totp::table).values(row).execute(conn) }).map(|_| ())
}

/// Moves the last accepted step of `totp`'s secret forward to `step`, and confirms it when
/// `confirm` is set (a pending secret); one conditional UPDATE, so of two requests with one code
/// exactly one wins, and none wins once the secret was replaced or removed since `totp` was read.
pub fn accept_step(conn: &mut DbConn, totp: &TotpRow, step: i64, confirm: Option<NaiveDateTime>) -> QueryResult<bool> {
    // `db::prepared::update`: prepared once per connection, since every login sends it.
    let row = user_totp::user_id
        .eq(totp.user_id)
        .and(user_totp::secret_sealed.eq(&totp.secret_sealed))
        .and(user_totp::last_step.lt(step));
    let n = match confirm {
        Some(now) => db_run!(conn: {
            prepared::update(
                user_totp::table,
                (user_totp::last_step.eq(step), user_totp::confirmed_at.eq(now)),
                row.and(user_totp::confirmed_at.is_null()),
            )
            .execute(conn)
        })?,
        None => db_run!(conn: {
            prepared::update(user_totp::table, user_totp::last_step.eq(step), row.and(user_totp::confirmed_at.is_not_null()))
                .execute(conn)
        })?,
    };
    Ok(n == 1)
}

/// Removes a user's second factor and recovery codes; whether there was one.
pub fn remove_second_factor(conn: &mut DbConn, user_id: Id) -> QueryResult<bool> {
    db_run!(conn: { diesel::delete(recovery_codes::table.filter(recovery_codes::user_id.eq(user_id))).execute(conn) })?;
    db_run!(conn: { diesel::delete(user_totp::table.find(user_id)).execute(conn) }).map(|n| n > 0)
}

/// Replaces a user's recovery codes with these hashes.
pub fn replace_recovery_codes(conn: &mut DbConn, user_id: Id, hashes: &[String]) -> QueryResult<()> {
    let now = crate::db::now();
    db_run!(conn: { diesel::delete(recovery_codes::table.filter(recovery_codes::user_id.eq(user_id))).execute(conn) })?;
    for hash in hashes {
        db_run!(conn: {
            diesel::insert_into(recovery_codes::table)
                .values((
                    recovery_codes::code_hash.eq(hash),
                    recovery_codes::user_id.eq(user_id),
                    recovery_codes::created_at.eq(now),
                ))
                .execute(conn)
        })?;
    }
    Ok(())
}

/// Uses a recovery code: one conditional UPDATE, so a code works once however many try it.
pub fn use_recovery_code(conn: &mut DbConn, user_id: Id, hash: &str) -> QueryResult<bool> {
    let now = crate::db::now();
    db_run!(conn: {
        diesel::update(
            recovery_codes::table
                .find(hash)
                .filter(recovery_codes::user_id.eq(user_id))
                .filter(recovery_codes::used_at.is_null()),
        )
        .set(recovery_codes::used_at.eq(now))
        .execute(conn)
    })
    .map(|n| n == 1)
}

/// How many unused recovery codes a user has left.
pub fn recovery_codes_left(conn: &mut DbConn, user_id: Id) -> QueryResult<i64> {
    db_run!(conn: {
        recovery_codes::table
            .filter(recovery_codes::user_id.eq(user_id))
            .filter(recovery_codes::used_at.is_null())
            .count()
            .get_result(conn)
    })
}

/// A new device token for the user (SPEC §12.2); only its hash is stored.
pub fn add_device_token(conn: &mut DbConn, user_id: Id) -> QueryResult<String> {
    let now = crate::db::now();
    let (token, hash) = token::new_refresh_token();
    db_run!(conn: {
        diesel::insert_into(device_tokens::table)
            .values((
                device_tokens::token_hash.eq(&hash),
                device_tokens::user_id.eq(user_id),
                device_tokens::created_at.eq(now),
                device_tokens::expires_at.eq(now + Duration::days(token::DEVICE_TTL_DAYS)),
            ))
            .execute(conn)
    })?;
    Ok(token)
}

/// Whether a presented device token is a live one of this user.
pub fn is_device_of(conn: &mut DbConn, user_id: Id, presented: &str) -> QueryResult<bool> {
    let now = crate::db::now();
    let hash = token::refresh_token_hash(presented);
    db_run!(conn: {
        device_tokens::table
            .find(&hash)
            .filter(device_tokens::user_id.eq(user_id))
            .filter(device_tokens::expires_at.gt(now))
            .count()
            .get_result::<i64>(conn)
    })
    .map(|n| n == 1)
}

/// Removes the rows that say nothing any more at `now` (`rules::expired`: window over, no lock
/// holding), so guesses at random names do not grow the table; how many.
pub fn sweep_throttle(conn: &mut DbConn, now: NaiveDateTime) -> QueryResult<usize> {
    let window_over = now - super::rules::WINDOW;
    db_run!(conn: {
        diesel::delete(
            login_throttle::table
                .filter(login_throttle::window_started_at.lt(window_over))
                .filter(login_throttle::locked_until.is_null().or(login_throttle::locked_until.le(now))),
        )
        .execute(conn)
    })
}
