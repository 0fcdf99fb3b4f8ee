-- HJ 212-2025 CN 2062: results of a monitor's automatic standard-sample check, per factor, as sent
-- (ingest/core/repo.py writes it; a re-sent result is dropped by the key, like readings).
CREATE TABLE sample_checks (
    point_id     integer NOT NULL REFERENCES points ON DELETE CASCADE,
    factor       text NOT NULL,
    time         timestamptz NOT NULL,
    fields       jsonb NOT NULL,
    source       text NOT NULL,
    received_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (point_id, factor, time)
);
