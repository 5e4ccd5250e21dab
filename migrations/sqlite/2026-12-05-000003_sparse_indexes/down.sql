DROP INDEX reports_station_id;
DROP INDEX reports_case_id;
DROP INDEX reports_assignee_created;
DROP INDEX audit_log_actor_id;
CREATE INDEX reports_station_id ON reports (station_id);
CREATE INDEX reports_case_id ON reports (case_id);
CREATE INDEX reports_assignee_created ON reports (assignee_id, created_at DESC, id DESC);
CREATE INDEX audit_log_actor_id ON audit_log (actor_id, seq);
