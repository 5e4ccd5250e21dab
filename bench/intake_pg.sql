-- pgbench script for bench/intake.sh: the SQL the service issues for one anonymous report
-- submission (POST /api/v1/reports), replayed directly against a database migrated by
-- `tipline migrate`. One pgbench transaction is one submission:
--
--   BEGIN; reference check; INSERT reports; INSERT report_keys; INSERT report_tactics × 2;
--   advisory lock; audit head; INSERT audit_log; COMMIT
--
-- The service makes the report id, reference, receipt hash and data key in Rust; here the
-- database makes them (gen_random_uuid(), random()). The first SELECT also returns the id and
-- the reference it checked, so the later statements can bind them, as the service does, without
-- an extra round trip. The audit entry's seq and prev_hash come from the head of the trail, as
-- in tipline::audit::record, so the audit_log must hold at least one entry before the run
-- (bench/intake.sh adds one).
--
-- Variables (pgbench -D, set by bench/intake.sh from bench/intake.json):
--   narrative, contact  ciphertext of the size the service stores for that body:
--                       "v1." + base64url(24-byte nonce ‖ plaintext ‖ 16-byte tag)
--   wrapped             a wrapped data key of the stored size (32-byte key, sealed)
--   master_key_id       16 hex characters
BEGIN;
SELECT gen_random_uuid() AS id, ref, EXISTS (SELECT 1 FROM reports WHERE reference = ref) AS taken
  FROM (SELECT 'TL-' || string_agg(substr('0123456789ABCDEFGHJKMNPQRSTVWXYZ', 1 + floor(random() * 32)::int, 1), '') AS ref
          FROM generate_series(1, 8)) AS r \gset
INSERT INTO reports (id, reference, kind, occurred_on, occurred_on_precision, country, city, language,
                     station_id, consent_contact_ok, consent_share_with_authorities, on_behalf_of_other,
                     source, reporter_id, submitted_by, receipt_hash, status, priority, narrative, contact,
                     location_detail, station_hint, version, created_at, updated_at, priority_rank,
                     resolution, duplicate_of, assignee_id, case_id)
  VALUES (:id, :ref, 'incident', NULL, NULL, 'NL', 'Rotterdam', NULL,
          NULL, true, false, false,
          'anonymous', NULL, NULL, md5(random()::text) || md5(random()::text), 'new', 'normal', :narrative, :contact,
          NULL, NULL, 1, now() AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC', 1,
          NULL, NULL, NULL, NULL);
INSERT INTO report_keys (report_id, key_id, wrapped, master_key_id, created_at)
  VALUES (:id, substr(md5(random()::text), 1, 16), :wrapped, :master_key_id, now() AT TIME ZONE 'UTC');
INSERT INTO report_tactics (report_id, tactic) VALUES (:id, 'surveillance');
INSERT INTO report_tactics (report_id, tactic) VALUES (:id, 'threat_to_family');
-- tipline::db::locks::AUDIT_APPEND = 0x5449504c0001
SELECT pg_advisory_xact_lock(92673856503809);
SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1 \gset head_
\set next_seq :head_seq + 1
INSERT INTO audit_log (seq, at, actor_id, actor_role, action, target_type, target_id, details, request_id,
                       prev_hash, hash)
  VALUES (:next_seq, now() AT TIME ZONE 'UTC', NULL, NULL, 'report.create', 'report', :id,
          '{"kind":"incident","source":"anonymous"}', gen_random_uuid()::text,
          :head_hash, encode(sha256(convert_to(:head_hash::text || :next_seq::text || :id::text, 'UTF8')), 'hex'));
COMMIT;
