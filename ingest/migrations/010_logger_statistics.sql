-- The data logger's own aggregates from HJ 212 minute (2051), hourly (2061) and daily (2031) records,
-- kept apart from the real-time readings. `time` is the start of the interval (HJ 212 DataTime), UTC.
-- The key makes retransmissions and back-filled copies count once.
CREATE TABLE logger_statistics (
    point_id     integer NOT NULL,
    parameter_id smallint NOT NULL,
    period       text NOT NULL CHECK (period IN ('minute', 'hour', 'day')),
    time         timestamptz NOT NULL,
    avg          double precision,              -- catalogue unit (parameters.unit)
    min          double precision,
    max          double precision,
    cou          double precision,              -- interval total: m3 for flow, kg for pollutants
    flag         "char" NOT NULL,
    received_at  timestamptz NOT NULL DEFAULT now(),
    source       text NOT NULL,
    PRIMARY KEY (point_id, parameter_id, period, time)
);
SELECT create_hypertable('logger_statistics', 'time', chunk_time_interval => interval '30 days');
CREATE INDEX logger_statistics_point_period ON logger_statistics (point_id, period, time DESC);
