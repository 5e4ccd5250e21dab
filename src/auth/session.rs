//! Sessions and refresh-token rotation (SPEC §3).

use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;

use super::token::{self, REFRESH_TTL_DAYS};
use crate::db::schema::{refresh_tokens, sessions, users};
use crate::db::{DbConn, Id};
use crate::db_run;
use crate::users::UserRow;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = sessions)]
pub struct SessionRow {
    pub id: Id,
    pub user_id: Id,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub revoked_at: Option<NaiveDateTime>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = refresh_tokens)]
pub struct RefreshRow {
    pub token_hash: String,
    pub session_id: Id,
    pub created_at: NaiveDateTime,
    pub used_at: Option<NaiveDateTime>,
}

/// Starts a session; returns its id and the first refresh token (shown once).
pub fn create(conn: &mut DbConn, user_id: Id) -> QueryResult<(Id, String)> {
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

pub fn revoke(conn: &mut DbConn, session_id: Id) -> QueryResult<()> {
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
        revoke(conn, session.id)?;
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
