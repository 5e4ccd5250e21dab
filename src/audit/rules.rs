//! The rules of the chain (SPEC §8): each entry's canonical bytes and hash, and the checker
//! that walks a chain; kept apart from the database so they are unit-tested.

use serde_json::json;

use super::{Entry, Verification};

/// The `prev_hash` of the first entry.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

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
