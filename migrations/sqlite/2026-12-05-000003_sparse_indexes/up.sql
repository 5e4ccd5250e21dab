-- A report has a station, a case or an assignee only once staff give it one, and an anonymous
-- submission's audit entry has no actor, so each submission added an entry for a NULL to four
-- indexes. They are only ever searched for a value (`= $1`, which implies NOT NULL), so they
-- now index only the rows that have one.
DROP INDEX reports_station_id;
DROP INDEX reports_case_id;
DROP INDEX reports_assignee_created;
DROP INDEX audit_log_actor_id;
CREATE INDEX reports_station_id ON reports (station_id) WHERE station_id IS NOT NULL;
CREATE INDEX reports_case_id ON reports (case_id) WHERE case_id IS NOT NULL;
CREATE INDEX reports_assignee_created ON reports (assignee_id, created_at DESC, id DESC) WHERE assignee_id IS NOT NULL;
CREATE INDEX audit_log_actor_id ON audit_log (actor_id, seq) WHERE actor_id IS NOT NULL;
