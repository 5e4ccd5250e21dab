//! Statements that a connection prepares once and reuses, where diesel would send them
//! unprepared at every call.
//!
//! diesel keeps a prepared statement per connection for most queries, but never for an
//! `UPDATE` (a changeset may skip its `None` fields, so one query type can give several texts)
//! nor for `sql_query`. PostgreSQL then parses and plans such a statement each time it is sent:
//! the TOTP step's `UPDATE` at every login, the advisory lock at every pass of the audit
//! sequencer. The fragments here have no static query id, so diesel's statement cache keys them
//! by their SQL text and bind types, which is sound for any text: the same text is the same
//! statement.

use diesel::backend::Backend;
use diesel::expression::{AppearsOnTable, Expression};
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::query_builder::{AsChangeset, AstPass, QueryFragment, QueryId};
use diesel::sql_types::{BigInt, Bool};

/// `UPDATE table SET … WHERE filter`, prepared once per connection ([`update`]).
pub struct Update<F, S, W> {
    from: F,
    set: S,
    filter: W,
}

/// An `UPDATE` of `table` setting `set` where `filter` holds; `.execute(conn)` runs it and
/// returns the rows it changed, as diesel's own `UPDATE` would.
pub fn update<T, S, W>(table: T, set: S, filter: W) -> Update<T::FromClause, S::Changeset, W>
where
    T: Table,
    S: AsChangeset<Target = T>,
    W: Expression<SqlType = Bool> + AppearsOnTable<T>,
{
    Update { from: table.from_clause(), set: set.as_changeset(), filter }
}

impl<F, S, W, DB> QueryFragment<DB> for Update<F, S, W>
where
    DB: Backend,
    F: QueryFragment<DB>,
    S: QueryFragment<DB>,
    W: QueryFragment<DB>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        out.push_sql("UPDATE ");
        self.from.walk_ast(out.reborrow())?;
        out.push_sql(" SET ");
        self.set.walk_ast(out.reborrow())?;
        out.push_sql(" WHERE ");
        self.filter.walk_ast(out.reborrow())
    }
}

impl<F, S, W> QueryId for Update<F, S, W> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<F, S, W, Conn> RunQueryDsl<Conn> for Update<F, S, W> {}

/// `SELECT pg_advisory_xact_lock(key)` (PostgreSQL), prepared once per connection.
pub struct AdvisoryXactLock(pub i64);

impl QueryFragment<Pg> for AdvisoryXactLock {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql("SELECT pg_advisory_xact_lock(");
        out.push_bind_param::<BigInt, _>(&self.0)?;
        out.push_sql(")");
        Ok(())
    }
}

impl QueryId for AdvisoryXactLock {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<Conn> RunQueryDsl<Conn> for AdvisoryXactLock {}

#[cfg(test)]
mod tests {
    use diesel::debug_query;
    use diesel::sqlite::Sqlite;

    use super::*;
    use crate::db::schema::user_totp;

    #[test]
    fn an_update_reads_as_diesel_would_write_it() {
        let query = update(
            user_totp::table,
            user_totp::last_step.eq(7),
            user_totp::last_step.lt(7).and(user_totp::confirmed_at.is_not_null()),
        );
        assert_eq!(
            debug_query::<Pg, _>(&query).to_string(),
            r#"UPDATE "user_totp" SET "last_step" = $1 WHERE (("user_totp"."last_step" < $2) AND ("user_totp"."confirmed_at" IS NOT NULL)) -- binds: [7, 7]"#
        );
        assert_eq!(
            debug_query::<Sqlite, _>(&query).to_string(),
            r#"UPDATE `user_totp` SET `last_step` = ? WHERE ((`user_totp`.`last_step` < ?) AND (`user_totp`.`confirmed_at` IS NOT NULL)) -- binds: [7, 7]"#
        );
        assert!(query.is_safe_to_cache_prepared(&Pg).unwrap());
        let diesels =
            diesel::update(user_totp::table.filter(user_totp::last_step.lt(7))).set(user_totp::last_step.eq(7));
        assert!(!diesels.is_safe_to_cache_prepared(&Pg).unwrap(), "diesel's own UPDATE is sent unprepared");
        assert!(AdvisoryXactLock(1).is_safe_to_cache_prepared(&Pg).unwrap());
    }
}
