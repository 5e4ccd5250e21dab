-- SPEC §11: evidence files. The bytes live sealed in the blob store under random names; a row
-- holds what the service needs to find, count and serve them. The file's name and its SHA-256
-- are sealed under the report's data key: a digest in the clear would let whoever holds a copy
-- of the database confirm that a known photo was sent.
CREATE TABLE attachments (
    id TEXT PRIMARY KEY NOT NULL,
    report_id TEXT NOT NULL REFERENCES reports (id) ON DELETE CASCADE,
    filename_sealed TEXT,
    sha256_sealed TEXT NOT NULL,
    size BIGINT NOT NULL CHECK (size > 0),
    media_type TEXT NOT NULL,
    original_blob TEXT NOT NULL,
    clean_blob TEXT,
    clean_size BIGINT,
    uploaded_by_role TEXT NOT NULL CHECK (uploaded_by_role IN ('reporter', 'caseworker')),
    uploaded_by TEXT REFERENCES users (id),
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX attachments_report_id ON attachments (report_id, created_at, id);
