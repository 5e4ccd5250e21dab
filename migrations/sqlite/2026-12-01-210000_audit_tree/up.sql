-- SPEC §15. Writers append their events here inside their own transaction, without a lock; the
-- sequencer moves committed events into audit_log in batches, giving each its gap-free seq
-- and its place in the Merkle tree.
CREATE TABLE audit_pending (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TIMESTAMP NOT NULL,
    actor_id TEXT,
    actor_role TEXT,
    action TEXT NOT NULL,
    target_type TEXT,
    target_id TEXT,
    details TEXT NOT NULL,
    request_id TEXT
);

-- The Merkle tree's complete subtrees (RFC 9162 hashing): level 0 holds the leaf hashes, and
-- node (level, idx) is the hash over leaves idx * 2^level .. (idx + 1) * 2^level - 1 (0-based).
-- Every proof is read from these rows. Append-only, like audit_log.
CREATE TABLE audit_tree (
    level SMALLINT NOT NULL CHECK (level >= 0 AND level < 64),
    idx BIGINT NOT NULL CHECK (idx >= 0),
    hash TEXT NOT NULL,
    PRIMARY KEY (level, idx)
);
CREATE TRIGGER audit_tree_no_update BEFORE UPDATE ON audit_tree
BEGIN
    SELECT RAISE(ABORT, 'audit_tree is append-only');
END;
CREATE TRIGGER audit_tree_no_delete BEFORE DELETE ON audit_tree
BEGIN
    SELECT RAISE(ABORT, 'audit_tree is append-only');
END;
