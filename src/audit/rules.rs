//! The rules of the chain (SPEC §8): each entry's canonical bytes and hash, and the checker
//! that walks a chain; kept apart from the database so they are unit-tested.

use sha2::{Digest, Sha256};

use super::merkle::{self, Frontier, Hash};
use super::{Entry, Verification};

/// The `prev_hash` of the first entry.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

impl Entry {
    /// The bytes hashed for this entry: a JSON object with sorted keys, timestamps at
    /// microsecond precision and `details` as its stored text. Written by hand rather than
    /// through a `serde_json` map, since verification does this for every entry; the unit tests
    /// hold it byte for byte to what `serde_json` makes of the same object.
    pub fn canonical(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(256 + self.details.len());
        self.write_canonical(&mut out);
        out
    }

    /// [`Entry::canonical`], written into `out` (cleared first) so a caller can reuse it.
    pub fn write_canonical(&self, out: &mut Vec<u8>) {
        out.clear();
        out.extend_from_slice(b"{\"action\":");
        json_string(out, &self.action);
        out.extend_from_slice(b",\"actor_id\":");
        json_optional(out, self.actor_id.map(|id| id.to_string()).as_deref());
        out.extend_from_slice(b",\"actor_role\":");
        json_optional(out, self.actor_role.as_deref());
        out.extend_from_slice(b",\"at\":\"");
        // Digits, dashes, colons and a dot: nothing to escape.
        crate::time::write(&self.at, out);
        out.push(b'"');
        out.extend_from_slice(b",\"details\":");
        json_string(out, &self.details);
        out.extend_from_slice(b",\"request_id\":");
        json_optional(out, self.request_id.as_deref());
        out.extend_from_slice(b",\"seq\":");
        out.extend_from_slice(self.seq.to_string().as_bytes());
        out.extend_from_slice(b",\"target_id\":");
        json_optional(out, self.target_id.as_deref());
        out.extend_from_slice(b",\"target_type\":");
        json_optional(out, self.target_type.as_deref());
        out.push(b'}');
    }

    pub fn compute_hash(&self) -> String {
        chain_hash(&self.prev_hash, &self.canonical())
    }
}

fn json_optional(out: &mut Vec<u8>, value: Option<&str>) {
    match value {
        Some(text) => json_string(out, text),
        None => out.extend_from_slice(b"null"),
    }
}

/// `text` as a JSON string, escaped as `serde_json` escapes it: `"` and `\\`, the control
/// characters with their short forms where JSON has one and `\u00XX` (lower-case hex) otherwise;
/// everything else, including non-ASCII, as it is.
fn json_string(out: &mut Vec<u8>, text: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let needs_escape = |byte: &u8| *byte < 0x20 || *byte == b'"' || *byte == b'\\';
    out.push(b'"');
    let mut rest = text.as_bytes();
    while let Some(at) = rest.iter().position(needs_escape) {
        out.extend_from_slice(&rest[..at]);
        let byte = rest[at];
        let short = match byte {
            0x08 => b'b',
            0x0c => b'f',
            b'\n' => b'n',
            b'\r' => b'r',
            b'\t' => b't',
            b'"' | b'\\' => byte,
            _ => b'u',
        };
        out.push(b'\\');
        out.push(short);
        if short == b'u' {
            out.extend_from_slice(&[b'0', b'0', HEX[usize::from(byte >> 4)], HEX[usize::from(byte & 0xf)]]);
        }
        rest = &rest[at + 1..];
    }
    out.extend_from_slice(rest);
    out.push(b'"');
}

/// An entry's chain hash: SHA-256 over the previous entry's hash and its canonical bytes, hex.
fn chain_hash(prev_hash: &str, canonical: &[u8]) -> String {
    hex::encode(chain_digest(prev_hash, canonical))
}

fn chain_digest(prev_hash: &str, canonical: &[u8]) -> [u8; 32] {
    Sha256::new().chain_update(prev_hash.as_bytes()).chain_update(canonical).finalize().into()
}

/// Whether `hash` is the chain hash of `prev_hash` and `canonical`, compared without
/// allocating.
fn chain_hash_is(hash: &str, prev_hash: &str, canonical: &[u8]) -> bool {
    let mut expected = [0u8; 64];
    hex::encode_to_slice(chain_digest(prev_hash, canonical), &mut expected).is_ok() && expected == hash.as_bytes()
}

impl Entry {
    /// This entry's leaf in the Merkle tree: SHA-256(0x00 ‖ canonical bytes) (SPEC §15).
    pub fn leaf_hash(&self) -> Hash {
        merkle::leaf_hash(&self.canonical())
    }
}

/// The rules of the trail, kept apart from the database so they are unit-tested: the chain,
/// and the Merkle tree recomputed from the entries against the one stored.
#[derive(Default)]
pub struct ChainChecker {
    entries: i64,
    last_hash: Option<String>,
    first_bad: Option<i64>,
    tree: Frontier,
    /// The canonical bytes of the entry being checked, kept to reuse the allocation.
    canonical: Vec<u8>,
    /// A checkpoint saved earlier (size, root), and whether the recomputed tree had that root
    /// when it had that size.
    saved: Option<(u64, Hash)>,
    extends_saved: Option<bool>,
}

impl ChainChecker {
    /// A checker that also tells whether the trail still extends a checkpoint saved earlier.
    pub fn against(saved: Option<(u64, Hash)>) -> Self {
        // Every trail extends the empty one, whose root is that of no leaves.
        let extends_saved = saved.filter(|(size, _)| *size == 0).map(|(_, root)| root == merkle::empty_root());
        ChainChecker { saved, extends_saved, ..ChainChecker::default() }
    }

    /// Checks the next entry in `seq` order; `stored_leaf` is the tree's leaf for it, if any.
    pub fn check(&mut self, entry: &Entry, stored_leaf: Option<Hash>) {
        self.entries += 1;
        let expected_seq = self.entries;
        let expected_prev = self.last_hash.as_deref().unwrap_or(GENESIS_HASH);
        // The canonical bytes feed both hashes: serialise them once.
        entry.write_canonical(&mut self.canonical);
        let leaf = merkle::leaf_hash(&self.canonical);
        let intact = entry.seq == expected_seq
            && entry.prev_hash == expected_prev
            && chain_hash_is(&entry.hash, &entry.prev_hash, &self.canonical)
            && stored_leaf == Some(leaf);
        if !intact && self.first_bad.is_none() {
            self.first_bad = Some(entry.seq);
        }
        match &mut self.last_hash {
            Some(last) => last.clone_from(&entry.hash),
            None => self.last_hash = Some(entry.hash.clone()),
        }
        self.tree.push(leaf);
        if let Some((size, root)) = self.saved {
            if self.tree.size() == size {
                self.extends_saved = Some(self.tree.root() == root);
            }
        }
    }

    /// The outcome, given the stored tree's size and root (`None` when they cannot be read).
    pub fn finish(self, stored_tree: Option<(u64, Hash)>) -> Verification {
        let root = self.tree.root();
        let tree_intact = stored_tree == Some((self.tree.size(), root));
        let first_bad = match (self.first_bad, tree_intact) {
            (Some(seq), _) => Some(seq),
            // Every leaf matched but the stored tree does not end where the entries do.
            (None, false) => Some(self.entries + 1),
            (None, true) => None,
        };
        Verification {
            ok: first_bad.is_none(),
            entries: self.entries,
            head_hash: self.last_hash,
            first_bad_seq: first_bad,
            tree_size: self.tree.size() as i64,
            root_hash: hex::encode(root),
            // A trail now shorter than the checkpoint was truncated.
            extends_checkpoint: self.saved.map(|_| self.extends_saved == Some(true)),
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

    /// Verifies `entries` against the tree the sequencer stored for `original`.
    fn check_against(entries: &[Entry], original: &[Entry]) -> Verification {
        let mut stored = Frontier::default();
        original.iter().for_each(|e| stored.push(e.leaf_hash()));
        let mut checker = ChainChecker::default();
        for entry in entries {
            let leaf = usize::try_from(entry.seq - 1).ok().and_then(|i| original.get(i)).map(Entry::leaf_hash);
            checker.check(entry, leaf);
        }
        checker.finish(Some((stored.size(), stored.root())))
    }

    fn run(entries: &[Entry]) -> Verification {
        check_against(entries, &chain(5))
    }

    /// The canonical form as it was first defined: `serde_json`'s rendering of the object.
    fn canonical_by_serde(e: &Entry) -> String {
        serde_json::json!({
            "action": e.action,
            "actor_id": e.actor_id.map(|id| id.to_string()),
            "actor_role": e.actor_role,
            "at": crate::time::format(&e.at),
            "details": e.details,
            "request_id": e.request_id,
            "seq": e.seq,
            "target_id": e.target_id,
            "target_type": e.target_type,
        })
        .to_string()
    }

    #[test]
    fn canonical_bytes_are_serde_jsons() {
        let every_ascii: String = (0u8..0x80).map(char::from).collect();
        let mut entry = chain(1).remove(0);
        assert_eq!(entry.canonical(), canonical_by_serde(&entry).into_bytes());
        entry.seq = -42;
        entry.actor_id = Some(crate::db::Id(uuid::Uuid::from_u128(7)));
        entry.actor_role = None;
        entry.action = every_ascii.clone();
        entry.target_type = Some("\u{202e}réport \u{1F600}\u{7f}".into());
        entry.target_id = None;
        entry.details = format!(r#"{{"note":"{every_ascii}"}}"#);
        entry.request_id = Some(String::new());
        assert_eq!(String::from_utf8(entry.canonical()).unwrap(), canonical_by_serde(&entry));
    }

    #[test]
    fn intact_chain_verifies() {
        let entries = chain(5);
        let v = run(&entries);
        assert!(v.ok);
        assert_eq!(v.entries, 5);
        assert_eq!(v.head_hash.as_deref(), Some(entries[4].hash.as_str()));
        assert_eq!(v.tree_size, 5);
        let mut tree = Frontier::default();
        entries.iter().for_each(|e| tree.push(e.leaf_hash()));
        assert_eq!(v.root_hash, hex::encode(tree.root()));
    }

    #[test]
    fn a_rewritten_and_rehashed_chain_does_not_match_the_tree() {
        // Whoever can write to the database changes entry 2 and recomputes every hash after it:
        // the chain alone is consistent again, the stored leaves are not.
        let original = chain(5);
        let mut forged = original.clone();
        forged[1].details = r#"{"n":2}"#.into();
        for i in 1..forged.len() {
            forged[i].prev_hash = forged[i - 1].hash.clone();
            forged[i].hash = forged[i].compute_hash();
        }
        assert_eq!(check_against(&forged, &forged).first_bad_seq, None, "the forgery is consistent in itself");
        assert_eq!(check_against(&forged, &original).first_bad_seq, Some(2));
    }

    #[test]
    fn a_saved_checkpoint_is_extended_or_not() {
        let original = chain(5);
        let mut at3 = Frontier::default();
        original[..3].iter().for_each(|e| at3.push(e.leaf_hash()));
        let saved = Some((3, at3.root()));
        let run_against = |entries: &[Entry]| {
            let mut checker = ChainChecker::against(saved);
            entries.iter().for_each(|e| checker.check(e, Some(e.leaf_hash())));
            checker.finish(None).extends_checkpoint
        };
        assert_eq!(run_against(&original), Some(true));
        // Truncated to 2 entries, or entry 1 rewritten (with its own consistent tree): no longer.
        assert_eq!(run_against(&original[..2]), Some(false));
        let mut forged = original.clone();
        forged[0].details = r#"{"n":7}"#.into();
        assert_eq!(run_against(&forged), Some(false));
        // Reordered.
        let mut reordered = original.clone();
        reordered.swap(0, 1);
        assert_eq!(run_against(&reordered), Some(false));
        assert_eq!(ChainChecker::default().finish(None).extends_checkpoint, None);
        let empty = Frontier::default().root();
        assert_eq!(ChainChecker::against(Some((0, empty))).finish(None).extends_checkpoint, Some(true));
    }

    #[test]
    fn a_trail_cut_short_of_its_tree_or_without_a_tree_fails() {
        let original = chain(5);
        let v = check_against(&original[..3], &original);
        assert!(!v.ok);
        assert_eq!(v.first_bad_seq, Some(4));
        let mut checker = ChainChecker::default();
        original.iter().for_each(|e| checker.check(e, Some(e.leaf_hash())));
        assert!(!checker.finish(None).ok);
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
        // The chain breaks at 3; the stored leaf of 2 already no longer matches.
        assert_eq!(run(&entries).first_bad_seq, Some(2));
    }
}
