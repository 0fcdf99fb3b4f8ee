-- HJ 212-2025 (ingest/core/repo.py writes both tables).
-- What a logger sends that the standard does not allow but the CRC proves intact, counted per quirk and MN
-- (codec.QUIRKS names them); shown with the point in the API and on the dashboard's point page.
CREATE TABLE logger_quirks (
    mn          text NOT NULL,
    quirk       text NOT NULL,
    point_id    integer REFERENCES points ON DELETE SET NULL,
    count       bigint NOT NULL DEFAULT 0,
    first_seen  timestamptz NOT NULL DEFAULT now(),
    last_seen   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (mn, quirk)
);
CREATE INDEX logger_quirks_point ON logger_quirks (point_id);

-- CN 9015 heartbeats: the logger is alive even when it has no reading to send (the offline rule reads it).
CREATE TABLE logger_heartbeats (
    point_id    integer PRIMARY KEY REFERENCES points ON DELETE CASCADE,
    last_beat   timestamptz NOT NULL,
    beats       bigint NOT NULL DEFAULT 1
);
