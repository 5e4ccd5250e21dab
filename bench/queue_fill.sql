-- Fills a database migrated by `tipline migrate` with :n reports for bench/queue.sh, in a few
-- INSERT … SELECT statements (no HTTP, no encryption). Run with
--
--   psql -v ON_ERROR_STOP=1 -v n=1000000 -f bench/queue_fill.sql postgres://…/tipline_bench_queue
--
-- The data is random but the same for every run (setseed), and shaped like a live queue:
--
--   users           20 caseworkers (caseworker01@bench.example.org …; their password hash is a
--                   placeholder, so they cannot log in)
--   reports         :n reports, created_at spread evenly over the 3 years before now (so the
--                   table is in roughly the order the reports arrived), country from 30 ISO
--                   codes with NL, DE, GB, US and CA more frequent, status new 30 % /
--                   triaged 25 % / investigating 20 % / closed 25 %, priority low 20 % /
--                   normal 55 % / high 20 % / urgent 5 % with the matching priority_rank,
--                   new reports unassigned and the others assigned to one of the 20
--                   caseworkers, kind incident 85 % / station 15 %, ciphertext columns at the
--                   size a ~500-character narrative takes
--   report_tactics  1 to 3 distinct tactics per report
--   report_keys     one placeholder key per report
--
-- then ANALYZE.

\set ON_ERROR_STOP on
SET synchronous_commit = off;
SET maintenance_work_mem = '256MB';
\o /dev/null
SELECT setseed(0.20261128);
\o

INSERT INTO users (id, login, display_name, role, password_hash, active, created_at, updated_at)
SELECT gen_random_uuid(), format('caseworker%s@bench.example.org', lpad(i::text, 2, '0')),
       format('Caseworker %s', i), 'caseworker', '$argon2id$v=19$placeholder', true,
       now() AT TIME ZONE 'UTC' - interval '3 years', now() AT TIME ZONE 'UTC' - interval '3 years'
  FROM generate_series(1, 20) AS i;

CREATE TEMPORARY TABLE bench_caseworkers AS
SELECT row_number() OVER (ORDER BY login) - 1 AS slot, id FROM users WHERE login LIKE '%@bench.example.org';

INSERT INTO reports (id, reference, kind, occurred_on, occurred_on_precision, country, city, language,
                     station_id, consent_contact_ok, consent_share_with_authorities, on_behalf_of_other,
                     source, reporter_id, submitted_by, receipt_hash, status, priority, narrative, contact,
                     location_detail, station_hint, version, created_at, updated_at, priority_rank,
                     resolution, duplicate_of, assignee_id, case_id, status_changed_at)
SELECT gen_random_uuid(),
       'TL-' || lpad(upper(to_hex(g)), 8, '0'),
       CASE WHEN r.k < 0.85 THEN 'incident' ELSE 'station' END,
       (r.created_at - interval '10 days')::date, 'day',
       r.country, NULL, NULL,
       NULL, r.k < 0.5, false, false,
       CASE WHEN r.src < 0.6 THEN 'anonymous' WHEN r.src < 0.9 THEN 'reporter' ELSE 'staff' END, NULL, NULL,
       CASE WHEN r.src < 0.6 THEN md5(g::text) || md5((-g)::text) END,
       r.status, p.priority,
       'v1.' || repeat('A', 874),
       CASE WHEN r.k < 0.5 THEN 'v1.' || repeat('B', 103) END,
       NULL, NULL, 1, r.created_at, r.created_at, p.rank,
       CASE WHEN r.status = 'closed' THEN 'substantiated' END, NULL,
       CASE WHEN r.status = 'new' THEN NULL ELSE c.id END, NULL, r.created_at
  FROM generate_series(1, :n) AS g
 CROSS JOIN LATERAL (
        SELECT (now() AT TIME ZONE 'UTC') - interval '3 years'
                   + (interval '3 years') * ((g - 1 + random()) / :n) AS created_at,
               -- 30 countries, the first five twice as likely as the others.
               (ARRAY['NL', 'DE', 'GB', 'US', 'CA', 'NL', 'DE', 'GB', 'US', 'CA',
                      'FR', 'BE', 'ES', 'IT', 'SE', 'NO', 'DK', 'FI', 'IE', 'PT',
                      'AT', 'CH', 'CZ', 'PL', 'HU', 'AU', 'NZ', 'JP', 'KR', 'TR',
                      'ZA', 'BR', 'AR', 'CL', 'MX'])[1 + floor(random() * 35)::int] AS country,
               (SELECT CASE WHEN s < 0.30 THEN 'new' WHEN s < 0.55 THEN 'triaged'
                            WHEN s < 0.75 THEN 'investigating' ELSE 'closed' END
                  FROM (SELECT random() + g * 0 AS s) AS x) AS status,
               random() AS pr, random() AS k, random() AS src, floor(random() * 20)::int AS slot
       ) AS r
 CROSS JOIN LATERAL (
        SELECT CASE WHEN r.pr < 0.20 THEN 'low' WHEN r.pr < 0.75 THEN 'normal'
                    WHEN r.pr < 0.95 THEN 'high' ELSE 'urgent' END AS priority,
               CASE WHEN r.pr < 0.20 THEN 0 WHEN r.pr < 0.75 THEN 1 WHEN r.pr < 0.95 THEN 2 ELSE 3 END AS rank
       ) AS p
  LEFT JOIN bench_caseworkers AS c ON c.slot = r.slot;

-- 1 to 3 distinct tactics: offsets 0, 1..5 and 6..10 from a random start never coincide mod 12.
INSERT INTO report_tactics (report_id, tactic)
SELECT s.id,
       (ARRAY['threat_to_family', 'coerced_return', 'surveillance', 'summons_or_visit', 'information_demand',
              'online_harassment', 'digital_intrusion', 'physical_assault', 'detention_or_rendition',
              'document_denial', 'financial_pressure', 'other'])[1 + (s.base + v.off) % 12]
  FROM (SELECT id, floor(random() * 12)::int AS base, 1 + floor(random() * 3)::int AS k,
               floor(random() * 5)::int AS a, floor(random() * 5)::int AS b
          FROM reports) AS s
 CROSS JOIN LATERAL (VALUES (1, 0), (2, 1 + s.a), (3, 6 + s.b)) AS v (i, off)
 WHERE v.i <= s.k;

INSERT INTO report_keys (report_id, key_id, wrapped, master_key_id, created_at)
SELECT id, substr(md5(id::text), 1, 16), 'v1.' || repeat('C', 96), 'bench00000000000', created_at
  FROM reports;

ANALYZE;
