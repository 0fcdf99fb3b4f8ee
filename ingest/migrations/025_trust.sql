-- Alerts an officer can trust: cleared-by-data is a state of its own, second values of a stored key
-- reach the rules, rows that cannot be judged are set aside, and every process reports that it lives.

-- cleared: the condition is gone by the data, but a violation or critical stays in the officer's queue
-- until an officer closes it (resolved). Only open and acknowledged alerts are active.
ALTER TABLE alerts DROP CONSTRAINT alerts_state_check;
ALTER TABLE alerts ADD CONSTRAINT alerts_state_check
    CHECK (state IN ('open', 'acknowledged', 'cleared', 'resolved'));
ALTER TABLE alerts ADD COLUMN cleared_at timestamptz;
DROP INDEX alerts_one_active;
CREATE UNIQUE INDEX alerts_one_active ON alerts (kind, point_id, parameter_id)
    WHERE state IN ('open', 'acknowledged');
DROP INDEX alerts_active_point;
CREATE INDEX alerts_active_point ON alerts (point_id, parameter_id) WHERE state IN ('open', 'acknowledged');
CREATE INDEX alerts_cleared ON alerts (park_id) WHERE state = 'cleared';

-- A second value for a stored reading's key (the ingest transaction found it), for the integrity rule.
ALTER TABLE compliance_inbox ADD COLUMN conflict boolean NOT NULL DEFAULT false;
ALTER TABLE compliance_inbox ADD COLUMN stored_value double precision;

-- Inbox rows the rules could not judge, with the reason, instead of stopping all judging.
CREATE TABLE compliance_set_aside (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    point_id     integer NOT NULL,
    parameter_id smallint NOT NULL,
    time         timestamptz NOT NULL,
    value        double precision,
    flag         "char",
    late         boolean NOT NULL,
    reason       text NOT NULL,
    set_aside_at timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- The last successful run of each job, for health: a job that keeps failing is visible.
ALTER TABLE compliance_job_runs ADD COLUMN last_ok_at timestamptz;

-- Every long-running process beats here (ingest workers, HJ 212 gateways, compliance instances). A
-- process that stops cleanly removes its row; a row that stops beating is a component down.
CREATE TABLE component_heartbeats (
    name        text PRIMARY KEY,
    kind        text NOT NULL,              -- ingest | hj212 | compliance
    started_at  timestamptz NOT NULL DEFAULT now(),
    beat_at     timestamptz NOT NULL DEFAULT now(),
    detail      jsonb NOT NULL DEFAULT '{}'
);
