-- Readings: one row per (point, parameter, measurement time). The key makes retransmissions count once.
CREATE TABLE readings (
    point_id     integer NOT NULL,
    parameter_id smallint NOT NULL,
    time         timestamptz NOT NULL,          -- measurement time, UTC
    value        double precision NOT NULL,     -- in the catalogue unit (parameters.unit)
    flag         "char" NOT NULL,               -- HJ 212 data flag: N F M S D C T B
    received_at  timestamptz NOT NULL DEFAULT now(),
    source       text NOT NULL,                 -- 'mqtt-json', 'mqtt-hj212', 'tcp-hj212', ...
    PRIMARY KEY (point_id, parameter_id, time)
);
-- No default time index: the primary key already leads every query we make, and one index less is a
-- large share of the insert cost.
SELECT create_hypertable('readings', 'time', chunk_time_interval => interval '1 day',
                         create_default_indexes => false);

-- Rejected input, kept byte for byte with the reason, so nothing is silently dropped.
CREATE TABLE dead_letters (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    received_at  timestamptz NOT NULL DEFAULT now(),
    source       text NOT NULL,
    topic        text,
    payload      bytea NOT NULL,
    reason       text NOT NULL
);
CREATE INDEX dead_letters_received_at ON dead_letters (received_at);

-- Per-worker counters, flushed with each batch, so /metrics and the benchmark can read them.
CREATE TABLE ingest_counters (
    worker       text PRIMARY KEY,
    messages     bigint NOT NULL DEFAULT 0,
    readings     bigint NOT NULL DEFAULT 0,
    duplicates   bigint NOT NULL DEFAULT 0,
    rejects      bigint NOT NULL DEFAULT 0,
    updated_at   timestamptz NOT NULL DEFAULT now()
);
