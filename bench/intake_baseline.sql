-- pgbench script of the PostgreSQL baseline for bench/intake.sh, on the tables of
-- bench/intake_baseline_tables.sql: one submission is one transaction of three plain INSERTs,
-- with no lock. bench/intake.sh passes :body (1 024 random base64 characters) and :wrapped
-- (80) with -D; the id comes back from the first INSERT.
BEGIN;
INSERT INTO base_reports (id, reference, country, status, body, created_at)
    VALUES (gen_random_uuid(), 'TL-' || upper(substr(md5(random()::text), 1, 8)), 'NL', 'new', :body, now())
    RETURNING id \gset
INSERT INTO base_report_keys (report_id, wrapped, created_at) VALUES (:id, :wrapped, now());
INSERT INTO base_audit (at, action, target_id, details)
    VALUES (now(), 'report.create', :id, '{"kind": "incident", "source": "anonymous"}');
COMMIT;
