//! The audit trail: an append-only, hash-chained log (SPEC §8).
//!
//! Each entry's `hash` is SHA-256 over the previous entry's hash and the entry's canonical form,
//! so altering, removing or reordering any entry breaks every hash after it. [`record`] must run
//! inside the write transaction of the change it records ([`crate::db::write_tx`]): the entry is
//! committed with the change or not at all.

pub mod handlers;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;
use serde_json::{json, Value};

use crate::db::schema::audit_log;
use crate::db::{DbConn, Id};
use crate::db_run;

/// The `prev_hash` of the first entry.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Who did it. `id` and `role` are both absent for an anonymous reporter.
#[derive(Debug, Clone, Default)]
pub struct Actor {
    pub id: Option<Id>,
    pub role: Option<String>,
}

impl Actor {
    pub fn anonymous() -> Self {
        Actor { id: None, role: None }
    }
    /// The command line or the service itself.
    pub fn system() -> Self {
        Actor { id: None, role: Some("system".into()) }
    }
    pub fn user(id: Id, role: &str) -> Self {
        Actor { id: Some(id), role: Some(role.to_string()) }
    }
}

/// What to record. `details` must hold metadata only: never content, secrets or client metadata.
#[derive(Debug, Clone)]
pub struct NewEntry {
    pub actor: Actor,
    pub action: &'static str,
    pub target_type: Option<&'static str>,
    pub target_id: Option<String>,
    pub details: Value,
    pub request_id: Option<String>,
}

impl NewEntry {
    pub fn new(actor: Actor, action: &'static str) -> Self {
        NewEntry { actor, action, target_type: None, target_id: None, details: json!({}), request_id: None }
    }
    pub fn target(mut self, target_type: &'static str, target_id: impl ToString) -> Self {
        self.target_type = Some(target_type);
        self.target_id = Some(target_id.to_string());
        self
    }
    pub fn details(mut self, details: Value) -> Self {
        self.details = details;
        self
    }
    pub fn request(mut self, request_id: Option<&str>) -> Self {
        self.request_id = request_id.map(str::to_string);
        self
    }
}

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable, Serialize)]
#[diesel(table_name = audit_log)]
pub struct Entry {
    pub seq: i64,
    #[serde(with = "crate::time::rfc3339")]
    pub at: NaiveDateTime,
    pub actor_id: Option<Id>,
    pub actor_role: Option<String>,
    pub action: String,
    pub target_type: Option<String>,
    pub target_id: Option<String>,
    #[serde(serialize_with = "details_as_json")]
    pub details: String,
    pub request_id: Option<String>,
    pub prev_hash: String,
    pub hash: String,
}

fn details_as_json<S: serde::Serializer>(details: &str, s: S) -> Result<S::Ok, S::Error> {
    let value: Value = serde_json::from_str(details).unwrap_or(Value::Null);
    value.serialize(s)
}

impl Entry {
    /// The bytes hashed for this entry: a JSON object with sorted keys, timestamps at
    /// microsecond precision and `details` as its stored text.
    pub fn canonical(&self) -> String {
        json!({
            "action": self.action,
            "actor_id": self.actor_id.map(|id| id.to_string()),
            "actor_role": self.actor_role,
            "at": crate::time::format(&self.at),
            "details": self.details,
            "request_id": self.request_id,
            "seq": self.seq,
            "target_id": self.target_id,
            "target_type": self.target_type,
        })
        .to_string()
    }

    pub fn compute_hash(&self) -> String {
        let mut input = self.prev_hash.as_bytes().to_vec();
        input.extend_from_slice(self.canonical().as_bytes());
        crate::crypto::sha256_hex(&input)
    }
}

/// Appends one entry. Call it inside [`crate::db::write_tx`] together with the change.
pub fn record(conn: &mut DbConn, new: NewEntry) -> QueryResult<Entry> {
    // Serialise appends: PostgreSQL takes a transaction-scoped advisory lock; SQLite already
    // holds the database write lock since `BEGIN IMMEDIATE`.
    crate::db::lock(conn, crate::db::locks::AUDIT_APPEND)?;
    let head: Option<(i64, String)> = db_run!(conn: {
        audit_log::table
            .select((audit_log::seq, audit_log::hash))
            .order(audit_log::seq.desc())
            .first(conn)
            .optional()
    })?;
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
    db_run!(conn: { diesel::insert_into(audit_log::table).values(&entry).execute(conn) })?;
    Ok(entry)
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verification {
    pub ok: bool,
    pub entries: i64,
    pub head_hash: Option<String>,
    pub first_bad_seq: Option<i64>,
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

/// The rules of the chain, kept apart from the database so they are unit-tested.
#[derive(Default)]
pub struct ChainChecker {
    entries: i64,
    last_hash: Option<String>,
    first_bad: Option<i64>,
}

impl ChainChecker {
    pub fn check(&mut self, entry: &Entry) {
        self.entries += 1;
        let expected_seq = self.entries;
        let expected_prev = self.last_hash.as_deref().unwrap_or(GENESIS_HASH);
        let intact =
            entry.seq == expected_seq && entry.prev_hash == expected_prev && entry.compute_hash() == entry.hash;
        if !intact && self.first_bad.is_none() {
            self.first_bad = Some(entry.seq);
        }
        self.last_hash = Some(entry.hash.clone());
    }

    pub fn finish(self) -> Verification {
        Verification {
            ok: self.first_bad.is_none(),
            entries: self.entries,
            head_hash: self.last_hash,
            first_bad_seq: self.first_bad,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(n: i64) -> Vec<Entry> {
        let mut out: Vec<Entry> = Vec::new();
        for seq in 1..=n {
            let mut entry = Entry {
                seq,
                at: chrono::DateTime::from_timestamp(1_700_000_000 + seq, 123_456_000).unwrap().naive_utc(),
                actor_id: None,
                actor_role: Some("system".into()),
                action: "test.event".into(),
                target_type: None,
                target_id: Some(seq.to_string()),
                details: r#"{"n":1}"#.into(),
                request_id: None,
                prev_hash: out.last().map(|e| e.hash.clone()).unwrap_or_else(|| GENESIS_HASH.into()),
                hash: String::new(),
            };
            entry.hash = entry.compute_hash();
            out.push(entry);
        }
        out
    }

    fn run(entries: &[Entry]) -> Verification {
        let mut checker = ChainChecker::default();
        entries.iter().for_each(|e| checker.check(e));
        checker.finish()
    }

    #[test]
    fn intact_chain_verifies() {
        let entries = chain(5);
        let v = run(&entries);
        assert!(v.ok);
        assert_eq!(v.entries, 5);
        assert_eq!(v.head_hash.as_deref(), Some(entries[4].hash.as_str()));
    }

    #[test]
    fn edited_entry_is_the_first_bad_one() {
        let mut entries = chain(5);
        entries[2].details = r#"{"n":2}"#.into();
        assert_eq!(run(&entries).first_bad_seq, Some(3));
    }

    #[test]
    fn removed_entry_is_detected() {
        let mut entries = chain(5);
        entries.remove(1);
        assert_eq!(run(&entries).first_bad_seq, Some(3));
    }

    #[test]
    fn recomputed_hash_still_breaks_the_next_link() {
        let mut entries = chain(4);
        entries[1].action = "forged".into();
        entries[1].hash = entries[1].compute_hash();
        assert_eq!(run(&entries).first_bad_seq, Some(3));
    }
}
