-- Data-time judging (compliance/history.py): what each ingest batch added, and which closed park days
-- late data has changed.

-- The span of measurement times of each (point, parameter) in an ingest batch, written by the ingest
-- transaction with one set-based statement (compliance/repo/spans.py) and consumed with DELETE ...
-- RETURNING by the data_quality job, which looks for gaps and flat runs in the stored series around
-- each span. Append-only with no unique index, like compliance_inbox, so ingest workers never wait on
-- each other.
CREATE TABLE compliance_spans (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    point_id     integer NOT NULL,
    parameter_id smallint NOT NULL,
    first_time   timestamptz NOT NULL,
    last_time    timestamptz NOT NULL,
    queued_at    timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- Closed park-local days whose windows late data re-judged: the park rules (reuse ratio, mass balance)
-- and the daily report are made again for them by the close_windows job.
CREATE TABLE compliance_park_days_due (
    park_id   text NOT NULL REFERENCES parks ON DELETE CASCADE,
    day_start timestamptz NOT NULL,
    day_end   timestamptz NOT NULL,
    queued_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (park_id, day_start)
);
