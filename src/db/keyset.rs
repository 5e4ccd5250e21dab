//! Keyset pagination: the condition "after the last row of the previous page", written as a
//! row-value comparison `(a, b) < (x, y)`. PostgreSQL reads that as a range of the index on
//! `(a, b)` and starts from the cursor; the equivalent `a < x OR (a = x AND b < y)` is not an
//! index range and scans up to it. SQLite understands row values too (since 3.15).

use chrono::NaiveDateTime;
use diesel::backend::Backend;
use diesel::expression::{is_aggregate, AppearsOnTable, Expression, SelectableExpression, ValidGrouping};
use diesel::query_builder::{AstPass, QueryFragment, QueryId};
use diesel::serialize::ToSql;
use diesel::sql_types::{BigInt, Bool, HasSqlType, Integer, Text, Timestamp};
use diesel::QueryResult;

use super::{DbUuid, Id};

/// One value of a sort key.
#[derive(Debug, Clone, PartialEq)]
pub enum Key {
    Int(i32),
    BigInt(i64),
    At(NaiveDateTime),
    Id(Id),
    Text(String),
}

impl From<i32> for Key {
    fn from(v: i32) -> Self {
        Key::Int(v)
    }
}

impl From<i64> for Key {
    fn from(v: i64) -> Self {
        Key::BigInt(v)
    }
}

impl From<NaiveDateTime> for Key {
    fn from(v: NaiveDateTime) -> Self {
        Key::At(v)
    }
}

impl From<Id> for Key {
    fn from(v: Id) -> Self {
        Key::Id(v)
    }
}

impl From<String> for Key {
    fn from(v: String) -> Self {
        Key::Text(v)
    }
}

/// The direction a list is sorted in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    Ascending,
    Descending,
}

/// `(columns) > (values)` for an ascending list, `<` for a descending one.
#[derive(Debug, Clone)]
pub struct After {
    columns: &'static str,
    values: Vec<Key>,
    order: Order,
}

/// The rows after `values` in a list sorted by `columns` (qualified SQL column names, comma
/// separated, in sort order, e.g. `"reports.created_at, reports.id"`; always our own constants).
pub fn after(columns: &'static str, values: Vec<Key>, order: Order) -> After {
    After { columns, values, order }
}

impl Expression for After {
    type SqlType = Bool;
}

impl<QS> AppearsOnTable<QS> for After {}

impl<QS> SelectableExpression<QS> for After {}

impl<GB> ValidGrouping<GB> for After {
    type IsAggregate = is_aggregate::Never;
}

impl QueryId for After {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<DB> QueryFragment<DB> for After
where
    DB: Backend
        + HasSqlType<Integer>
        + HasSqlType<BigInt>
        + HasSqlType<Timestamp>
        + HasSqlType<DbUuid>
        + HasSqlType<Text>,
    i32: ToSql<Integer, DB>,
    i64: ToSql<BigInt, DB>,
    NaiveDateTime: ToSql<Timestamp, DB>,
    Id: ToSql<DbUuid, DB>,
    String: ToSql<Text, DB>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        out.push_sql("(");
        out.push_sql(self.columns);
        out.push_sql(match self.order {
            Order::Ascending => ") > (",
            Order::Descending => ") < (",
        });
        for (i, value) in self.values.iter().enumerate() {
            if i > 0 {
                out.push_sql(", ");
            }
            match value {
                Key::Int(v) => out.push_bind_param::<Integer, _>(v)?,
                Key::BigInt(v) => out.push_bind_param::<BigInt, _>(v)?,
                Key::At(v) => out.push_bind_param::<Timestamp, _>(v)?,
                Key::Id(v) => out.push_bind_param::<DbUuid, _>(v)?,
                Key::Text(v) => out.push_bind_param::<Text, _>(v)?,
            }
        }
        out.push_sql(")");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_a_row_value_comparison() {
        let at = chrono::DateTime::from_timestamp(0, 0).unwrap().naive_utc();
        let cond = after("t.created_at, t.id", vec![at.into(), Id::new().into()], Order::Descending);
        let sql = diesel::debug_query::<diesel::pg::Pg, _>(&cond).to_string();
        assert!(sql.starts_with("(t.created_at, t.id) < ($1, $2)"), "{sql}");
        let cond = after("t.seq", vec![7i64.into()], Order::Ascending);
        let sql = diesel::debug_query::<diesel::sqlite::Sqlite, _>(&cond).to_string();
        assert!(sql.starts_with("(t.seq) > (?)"), "{sql}");
    }
}
