//! Queries on `users`. Functions take `&mut DbConn` and compose inside a caller's transaction.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::{Role, UserRow};
use crate::db::keyset::{self, Order};
use crate::db::schema::{sessions, users};
use crate::db::{DbConn, Id};
use crate::db_run;

pub fn insert(conn: &mut DbConn, row: &UserRow) -> QueryResult<()> {
    db_run!(conn: { diesel::insert_into(users::table).values(row).execute(conn) }).map(|_| ())
}

pub fn find(conn: &mut DbConn, id: Id) -> QueryResult<Option<UserRow>> {
    db_run!(conn: { users::table.find(id).select(UserRow::as_select()).first(conn).optional() })
}

/// The account that signs in by one of `logins` (an email, or a reporter's login hash).
pub fn find_by_login(conn: &mut DbConn, logins: &[String]) -> QueryResult<Option<UserRow>> {
    db_run!(conn: {
        users::table.filter(users::login.eq_any(logins)).select(UserRow::as_select()).first(conn).optional()
    })
}

pub fn login_taken(conn: &mut DbConn, login: &str) -> QueryResult<bool> {
    find_by_login(conn, &[login.to_string()]).map(|u| u.is_some())
}

#[derive(Debug, Default)]
pub struct ListFilter {
    pub role: Option<Role>,
    pub active: Option<bool>,
    /// Keyset position: the last `(created_at, id)` of the previous page.
    pub after: Option<(NaiveDateTime, Id)>,
    pub limit: i64,
}

/// Users oldest first; one more than `limit` is fetched to know whether a next page exists.
pub fn list(conn: &mut DbConn, filter: &ListFilter) -> QueryResult<Vec<UserRow>> {
    db_run!(conn: {
        let mut query = users::table.select(UserRow::as_select()).into_boxed();
        if let Some(role) = filter.role {
            query = query.filter(users::role.eq(role));
        }
        if let Some(active) = filter.active {
            query = query.filter(users::active.eq(active));
        }
        if let Some((at, id)) = filter.after {
            query = query.filter(keyset::after("users.created_at, users.id", vec![at.into(), id.into()], Order::Ascending));
        }
        query.order((users::created_at.asc(), users::id.asc())).limit(filter.limit + 1).load(conn)
    })
}

pub fn update(conn: &mut DbConn, row: &UserRow) -> QueryResult<()> {
    db_run!(conn: {
        diesel::update(users::table.find(row.id))
            .set((
                users::display_name.eq(&row.display_name),
                users::role.eq(&row.role),
                users::active.eq(row.active),
                users::password_hash.eq(&row.password_hash),
                users::updated_at.eq(row.updated_at),
            ))
            .execute(conn)
    })
    .map(|_| ())
}

pub fn set_password_hash(conn: &mut DbConn, id: Id, hash: &str) -> QueryResult<()> {
    let now = crate::db::now();
    db_run!(conn: {
        diesel::update(users::table.find(id))
            .set((users::password_hash.eq(hash), users::updated_at.eq(now)))
            .execute(conn)
    })
    .map(|_| ())
}

pub fn count_active_admins(conn: &mut DbConn) -> QueryResult<i64> {
    db_run!(conn: {
        users::table
            .filter(users::role.eq(Role::Admin))
            .filter(users::active.eq(true))
            .count()
            .get_result(conn)
    })
}

/// Ends every live session of a user; returns how many were ended.
pub fn revoke_sessions(conn: &mut DbConn, user_id: Id) -> QueryResult<usize> {
    let now = crate::db::now();
    db_run!(conn: {
        diesel::update(
            sessions::table
                .filter(sessions::user_id.eq(user_id))
                .filter(sessions::revoked_at.is_null())
                .filter(sessions::expires_at.gt(now)),
        )
            .set(sessions::revoked_at.eq(now))
            .execute(conn)
    })
}

/// Whether `id` may be assigned work: an active caseworker.
pub fn is_active_caseworker(conn: &mut DbConn, id: Id) -> QueryResult<bool> {
    db_run!(conn: {
        diesel::select(diesel::dsl::exists(
            users::table.filter(users::id.eq(id)).filter(users::role.eq(Role::Caseworker)).filter(users::active.eq(true)),
        ))
        .get_result(conn)
    })
}

/// Reporter accounts whose login is still a plain email (from before SPEC §14.1).
pub fn reporters_with_plain_login(conn: &mut DbConn) -> QueryResult<Vec<(Id, String)>> {
    db_run!(conn: {
        users::table
            .filter(users::role.eq(Role::Reporter))
            .filter(users::login.not_like("hmac:%"))
            .select((users::id, users::login))
            .load(conn)
    })
}

pub fn set_login(conn: &mut DbConn, id: Id, login: &str) -> QueryResult<()> {
    db_run!(conn: { diesel::update(users::table.find(id)).set(users::login.eq(login)).execute(conn) }).map(|_| ())
}
