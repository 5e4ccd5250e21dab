-- The PostgreSQL baseline's own tables for bench/intake.sh (docs/BENCHMARKS.md, "Intake"),
-- created in a database of their own: a report of about 1 KiB (a 1 024-character body stands for
-- the sealed narrative and contact), its key, and an audit event. Primary keys and nothing else:
-- none of the service's tables, indexes, triggers or locks.
CREATE TABLE base_reports (
    id UUID PRIMARY KEY,
    reference TEXT NOT NULL,
    country TEXT NOT NULL,
    status TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE TABLE base_report_keys (
    report_id UUID PRIMARY KEY,
    wrapped TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE TABLE base_audit (
    id BIGSERIAL PRIMARY KEY,
    at TIMESTAMP NOT NULL,
    action TEXT NOT NULL,
    target_id TEXT,
    details TEXT NOT NULL
);
