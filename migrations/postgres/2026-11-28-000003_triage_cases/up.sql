-- Cases group the reports of one investigation (SPEC §6).
CREATE TABLE cases (
    id UUID PRIMARY KEY,
    reference TEXT NOT NULL UNIQUE,
    title TEXT NOT NULL,
    summary TEXT,
    status TEXT NOT NULL CHECK (status IN ('open', 'monitoring', 'closed')),
    priority TEXT NOT NULL CHECK (priority IN ('low', 'normal', 'high', 'urgent')),
    assignee_id UUID REFERENCES users (id),
    created_by UUID REFERENCES users (id),
    version INTEGER NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX cases_status ON cases (status, created_at DESC, id DESC);
CREATE INDEX cases_assignee_id ON cases (assignee_id, created_at DESC, id DESC);

CREATE TABLE case_stations (
    case_id UUID NOT NULL REFERENCES cases (id) ON DELETE CASCADE,
    station_id UUID NOT NULL REFERENCES stations (id),
    relation TEXT NOT NULL CHECK (relation IN ('operates_from', 'mentioned', 'suspected')),
    confidence TEXT NOT NULL CHECK (confidence IN ('low', 'medium', 'high')),
    note TEXT,
    created_by UUID REFERENCES users (id),
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (case_id, station_id)
);
CREATE INDEX case_stations_station_id ON case_stations (station_id, case_id);

-- Triage (SPEC §5). priority_rank orders priorities (low 0 … urgent 3) for the queue.
ALTER TABLE reports ADD COLUMN priority_rank INTEGER NOT NULL DEFAULT 1;
ALTER TABLE reports ADD COLUMN resolution TEXT;
ALTER TABLE reports ADD COLUMN duplicate_of UUID REFERENCES reports (id);
ALTER TABLE reports ADD COLUMN assignee_id UUID REFERENCES users (id);
ALTER TABLE reports ADD COLUMN case_id UUID REFERENCES cases (id);

CREATE INDEX reports_queue_created ON reports (created_at DESC, id DESC);
CREATE INDEX reports_queue_priority ON reports (priority_rank DESC, created_at DESC, id DESC);
CREATE INDEX reports_status_created ON reports (status, created_at DESC, id DESC);
CREATE INDEX reports_status_priority ON reports (status, priority_rank DESC, created_at DESC, id DESC);
CREATE INDEX reports_country_created ON reports (country, created_at DESC, id DESC);
CREATE INDEX reports_assignee_created ON reports (assignee_id, created_at DESC, id DESC);
CREATE INDEX reports_case_id ON reports (case_id);

CREATE TABLE report_tags (
    report_id UUID NOT NULL REFERENCES reports (id) ON DELETE CASCADE,
    tag TEXT NOT NULL,
    PRIMARY KEY (report_id, tag)
);
CREATE INDEX report_tags_tag ON report_tags (tag);

-- Internal notes: staff only, body is ciphertext under the report's data key.
CREATE TABLE report_notes (
    id UUID PRIMARY KEY,
    report_id UUID NOT NULL REFERENCES reports (id) ON DELETE CASCADE,
    author_id UUID NOT NULL REFERENCES users (id),
    body TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX report_notes_report_id ON report_notes (report_id, created_at, id);
