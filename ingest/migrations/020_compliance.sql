-- Compliance engine: resolved limits, the real-time inbox, alerts with their audit log, maintenance
-- windows, judged hourly/daily windows, the notification outbox and job bookkeeping.

-- Limits resolved from standards + permits (compliance/limits.py), one row per period in force, so the
-- ingest transaction can pick the interesting readings of a batch with one set-based INSERT ... SELECT.
CREATE TABLE compliance_limits (
    point_id     integer NOT NULL REFERENCES points ON DELETE CASCADE,
    parameter_id smallint NOT NULL REFERENCES parameters,
    valid        tstzrange NOT NULL,
    upper        double precision,
    lower        double precision,
    watch_upper  double precision,              -- values at or above this are looked at (warning level)
    watch_lower  double precision,              -- values below this are looked at
    not_detected boolean NOT NULL DEFAULT false,
    confirmed    boolean NOT NULL DEFAULT true,
    source       text NOT NULL
);
CREATE INDEX compliance_limits_key ON compliance_limits (point_id, parameter_id);

-- Readings the real-time rules must see, written by the ingest transaction (append-only, no unique
-- index, so concurrent ingest workers never wait on each other) and consumed with DELETE ... RETURNING
-- by the compliance process in the same transaction that writes the alerts: nothing is lost on a
-- restart and nothing is judged twice. late = a marker that the reading's hour may already be closed.
CREATE TABLE compliance_inbox (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    point_id     integer NOT NULL,
    parameter_id smallint NOT NULL,
    time         timestamptz NOT NULL,
    value        double precision,
    flag         "char",
    late         boolean NOT NULL DEFAULT false,
    queued_at    timestamptz NOT NULL DEFAULT clock_timestamp()
);

CREATE TABLE alerts (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind            text NOT NULL,
    park_id         text NOT NULL,
    plant_id        text NOT NULL,
    point_id        integer NOT NULL REFERENCES points ON DELETE CASCADE,
    parameter_id    smallint NOT NULL DEFAULT 0,    -- 0: the whole point (offline, park rules)
    severity        text NOT NULL CHECK (severity IN ('warning', 'violation', 'critical')),
    state           text NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'acknowledged', 'resolved')),
    basis           text NOT NULL DEFAULT 'instant',  -- instant | hour | day | status
    opened_at       timestamptz NOT NULL,           -- measurement time of the first breach
    first_time      timestamptz NOT NULL,           -- evidence window (measurement time)
    last_time       timestamptz NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    acknowledged_at timestamptz,
    acknowledged_by text,
    resolved_at     timestamptz,
    resolved_by     text,
    peak            double precision,
    last_value      double precision,
    limit_upper     double precision,
    limit_lower     double precision,
    limit_source    text,
    unit            text,
    count           integer NOT NULL DEFAULT 1,
    clear_since     timestamptz,                    -- hysteresis: below the clear level since
    escalation      smallint NOT NULL DEFAULT 0,
    escalated_at    timestamptz,
    muted           text,                           -- 'inhibited' while an offline/fault alert is open
    last_notified_at timestamptz,
    detail          jsonb NOT NULL DEFAULT '{}'
);
-- One active alert per (kind, point, parameter): concurrent writers upsert into the same row.
CREATE UNIQUE INDEX alerts_one_active ON alerts (kind, point_id, parameter_id) WHERE state <> 'resolved';
CREATE INDEX alerts_active_point ON alerts (point_id, parameter_id) WHERE state <> 'resolved';
CREATE INDEX alerts_park_opened ON alerts (park_id, opened_at DESC);

-- Every change to an alert, append-only (a trigger refuses UPDATE and DELETE).
CREATE TABLE alert_audit (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    alert_id    bigint NOT NULL REFERENCES alerts ON DELETE CASCADE,
    at          timestamptz NOT NULL DEFAULT clock_timestamp(),
    actor       text NOT NULL,
    action      text NOT NULL,
    from_state  text,
    to_state    text,
    note        text,
    detail      jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX alert_audit_alert ON alert_audit (alert_id, id);
CREATE FUNCTION alert_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'alert_audit is append-only';
END
$$;
CREATE TRIGGER alert_audit_append_only BEFORE UPDATE OR DELETE ON alert_audit
    FOR EACH ROW EXECUTE FUNCTION alert_audit_append_only();

-- Maintenance windows silence a point (or a whole plant when point_id is NULL).
CREATE TABLE maintenance_windows (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    park_id     text NOT NULL REFERENCES parks ON DELETE CASCADE,
    plant_id    text NOT NULL,
    point_id    integer REFERENCES points ON DELETE CASCADE,
    during      tstzrange NOT NULL,
    reason      text NOT NULL,
    created_by  text NOT NULL,
    source      text NOT NULL DEFAULT 'api' CHECK (source IN ('api', 'park_file')),
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX maintenance_windows_park ON maintenance_windows (park_id, plant_id);

-- Judged park-local hours and days: the evidence behind mean alerts and the daily report.
CREATE TABLE compliance_windows (
    point_id     integer NOT NULL REFERENCES points ON DELETE CASCADE,
    parameter_id smallint NOT NULL,
    span         text NOT NULL CHECK (span IN ('hour', 'day')),
    start_at     timestamptz NOT NULL,
    end_at       timestamptz NOT NULL,
    mean         double precision,
    n_valid      integer NOT NULL,
    n_expected   integer NOT NULL,
    sufficient   boolean NOT NULL,
    verdict      text NOT NULL,                  -- ok | exceeded | insufficient | no_limit
    limit_upper  double precision,
    judged_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (point_id, parameter_id, span, start_at)
);

-- Which park-local hours/days have been closed, so a restarted scheduler catches up exactly.
CREATE TABLE compliance_closed (
    park_id   text NOT NULL REFERENCES parks ON DELETE CASCADE,
    span      text NOT NULL,
    start_at  timestamptz NOT NULL,
    closed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (park_id, span, start_at)
);

CREATE TABLE compliance_reports (
    park_id   text NOT NULL REFERENCES parks ON DELETE CASCADE,
    day       date NOT NULL,
    body      jsonb NOT NULL,
    made_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (park_id, day)
);

-- Transactional outbox: written in the transaction that changes the alert.
CREATE TABLE notify_outbox (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    alert_id   bigint NOT NULL REFERENCES alerts ON DELETE CASCADE,
    event      text NOT NULL,                   -- opened | escalated | resolved | repeat
    park_id    text NOT NULL,
    plant_id   text NOT NULL,
    severity   text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    grouped_at timestamptz
);
CREATE INDEX notify_outbox_pending ON notify_outbox (created_at) WHERE grouped_at IS NULL;

-- One message per subscription and plant group, retried with backoff until delivered.
CREATE TABLE notify_deliveries (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    subscription    text NOT NULL,
    channel         text NOT NULL CHECK (channel IN ('webhook', 'email')),
    target          text NOT NULL,
    park_id         text NOT NULL,
    plant_id        text NOT NULL,
    outbox_ids      bigint[] NOT NULL,
    payload         jsonb NOT NULL,
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    delivered_at    timestamptz,
    last_error      text,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX notify_deliveries_due ON notify_deliveries (next_attempt_at) WHERE delivered_at IS NULL;

CREATE TABLE compliance_job_runs (
    name        text PRIMARY KEY,
    started_at  timestamptz NOT NULL,
    finished_at timestamptz,
    ok          boolean,
    detail      text
);
