-- The station registry (SPEC §7). Reports may point at a public station.
CREATE TABLE stations (
    id TEXT PRIMARY KEY NOT NULL CHECK (length(id) = 36),
    name TEXT NOT NULL,
    city TEXT,
    country TEXT NOT NULL,
    address TEXT,
    operating_bureau TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('reported', 'confirmed', 'closed', 'disputed')),
    visibility TEXT NOT NULL CHECK (visibility IN ('public', 'internal')),
    sources TEXT NOT NULL,
    first_reported_on DATE,
    notes TEXT,
    latitude REAL,
    longitude REAL,
    version INTEGER NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
-- Entries are known by name within a country (the CSV import matches on it).
CREATE UNIQUE INDEX stations_name_country ON stations (name, country);

-- Reports (SPEC §4). narrative, contact, location_detail and station_hint hold ciphertext
-- under the report's own data key (report_keys).
CREATE TABLE reports (
    id TEXT PRIMARY KEY NOT NULL CHECK (length(id) = 36),
    reference TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL CHECK (kind IN ('incident', 'station')),
    occurred_on DATE,
    occurred_on_precision TEXT CHECK (occurred_on_precision IN ('day', 'month', 'year')),
    country TEXT NOT NULL,
    city TEXT,
    language TEXT,
    station_id TEXT REFERENCES stations (id),
    consent_contact_ok BOOLEAN NOT NULL,
    consent_share_with_authorities BOOLEAN NOT NULL,
    on_behalf_of_other BOOLEAN NOT NULL,
    source TEXT NOT NULL CHECK (source IN ('anonymous', 'reporter', 'staff')),
    reporter_id TEXT REFERENCES users (id),
    submitted_by TEXT REFERENCES users (id),
    receipt_hash TEXT UNIQUE,
    status TEXT NOT NULL,
    priority TEXT NOT NULL,
    narrative TEXT NOT NULL,
    contact TEXT,
    location_detail TEXT,
    station_hint TEXT,
    version INTEGER NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX reports_reporter_id ON reports (reporter_id, created_at DESC, id DESC);
CREATE INDEX reports_station_id ON reports (station_id);

-- Each report's data key, stored only wrapped under the master key (TIPLINE_DATA_KEY).
-- Rotating the master key rewrites this table only; deleting a row makes that report's
-- content unreadable at once.
CREATE TABLE report_keys (
    report_id TEXT PRIMARY KEY NOT NULL REFERENCES reports (id) ON DELETE CASCADE,
    key_id TEXT NOT NULL,
    wrapped TEXT NOT NULL,
    master_key_id TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);

CREATE TABLE report_tactics (
    report_id TEXT NOT NULL REFERENCES reports (id) ON DELETE CASCADE,
    tactic TEXT NOT NULL,
    PRIMARY KEY (report_id, tactic)
);
CREATE INDEX report_tactics_tactic ON report_tactics (tactic, report_id);

-- The thread between a reporter and caseworkers; body is ciphertext under the report's key.
CREATE TABLE report_messages (
    id TEXT PRIMARY KEY NOT NULL CHECK (length(id) = 36),
    report_id TEXT NOT NULL REFERENCES reports (id) ON DELETE CASCADE,
    author_role TEXT NOT NULL CHECK (author_role IN ('reporter', 'caseworker')),
    author_id TEXT REFERENCES users (id),
    body TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX report_messages_report_id ON report_messages (report_id, created_at, id);
