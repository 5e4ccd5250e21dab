//! Queries of the audit trail: appending, reading pages, walking the chain.

use chrono::NaiveDateTime;
use diesel::dsl;
use diesel::prelude::*;

use super::rules::{ChainChecker, GENESIS_HASH};
use super::{Entry, NewEntry, Verification};
use crate::db::schema::audit_log;
use crate::db::{debug_sql, Backend, DbConn, Id};
use crate::db_run;

type Head =
    dsl::Limit<dsl::Order<dsl::Select<audit_log::table, (audit_log::seq, audit_log::hash)>, dsl::Desc<audit_log::seq>>>;

/// The newest entry's seq and hash.
fn head() -> Head {
    audit_log::table.select((audit_log::seq, audit_log::hash)).order(audit_log::seq.desc()).limit(1)
}

fn insert(entry: &Entry) -> dsl::Values<dsl::insert_into<audit_log::table>, &Entry> {
    diesel::insert_into(audit_log::table).values(entry)
}

/// Appends one entry. Call it inside [`crate::db::write_tx`] together with the change.
pub fn record(conn: &mut DbConn, new: NewEntry) -> QueryResult<Entry> {
    // Serialise appends: PostgreSQL takes a transaction-scoped advisory lock; SQLite already
    // holds the database write lock since `BEGIN IMMEDIATE`.
    crate::db::lock(conn, crate::db::locks::AUDIT_APPEND)?;
    let head: Option<(i64, String)> = db_run!(conn: { head().get_result(conn).optional() })?;
    let (seq, prev_hash) = match head {
        Some((seq, hash)) => (seq + 1, hash),
        None => (1, GENESIS_HASH.to_string()),
    };
    let mut entry = Entry {
        seq,
        at: crate::db::now(),
        actor_id: new.actor.id,
        actor_role: new.actor.role,
        action: new.action.to_string(),
        target_type: new.target_type.map(str::to_string),
        target_id: new.target_id,
        details: new.details.to_string(),
        request_id: new.request_id,
        prev_hash,
        hash: String::new(),
    };
    entry.hash = entry.compute_hash();
    db_run!(conn: { insert(&entry).execute(conn) })?;
    Ok(entry)
}

/// The statements [`record`] runs to append `entry`, from the same query values, so that a
/// benchmark baseline replays the service's own SQL and cannot drift from it
/// (`examples/bench_sql.rs`).
pub fn record_sql(backend: Backend, entry: &Entry) -> Vec<String> {
    let mut sql: Vec<String> = crate::db::lock_sql(backend, crate::db::locks::AUDIT_APPEND).into_iter().collect();
    sql.push(debug_sql(backend, &head()));
    sql.push(debug_sql(backend, &insert(entry)));
    sql
}

/// Walks the whole chain in order and reports the first entry that does not check out.
pub fn verify(conn: &mut DbConn) -> QueryResult<Verification> {
    const PAGE: i64 = 1000;
    let mut checker = ChainChecker::default();
    let mut after = 0i64;
    loop {
        let page: Vec<Entry> = db_run!(conn: {
            audit_log::table
                .select(Entry::as_select())
                .filter(audit_log::seq.gt(after))
                .order(audit_log::seq.asc())
                .limit(PAGE)
                .load(conn)
        })?;
        let Some(last) = page.last() else { break };
        after = last.seq;
        for entry in &page {
            checker.check(entry);
        }
        if (page.len() as i64) < PAGE {
            break;
        }
    }
    Ok(checker.finish())
}

/// What `GET /api/v1/audit` asks for.
#[derive(Debug, Default)]
pub struct Filter {
    pub actor_id: Option<Id>,
    pub action: Option<String>,
    pub target_id: Option<String>,
    pub from: Option<NaiveDateTime>,
    pub to: Option<NaiveDateTime>,
    /// Newest first: entries with `seq` below this one.
    pub before_seq: Option<i64>,
    pub limit: i64,
}

/// Entries newest first, one more than `limit` to tell whether a next page exists.
pub fn list(conn: &mut DbConn, filter: &Filter) -> QueryResult<Vec<Entry>> {
    db_run!(conn: {
        let mut q = audit_log::table.select(Entry::as_select()).into_boxed();
        if let Some(actor) = filter.actor_id {
            q = q.filter(audit_log::actor_id.eq(actor));
        }
        if let Some(action) = &filter.action {
            q = q.filter(audit_log::action.eq(action.clone()));
        }
        if let Some(target) = &filter.target_id {
            q = q.filter(audit_log::target_id.eq(target.clone()));
        }
        if let Some(from) = filter.from {
            q = q.filter(audit_log::at.ge(from));
        }
        if let Some(to) = filter.to {
            q = q.filter(audit_log::at.lt(to));
        }
        if let Some(seq) = filter.before_seq {
            q = q.filter(audit_log::seq.lt(seq));
        }
        q.order(audit_log::seq.desc()).limit(filter.limit + 1).load(conn)
    })
}
