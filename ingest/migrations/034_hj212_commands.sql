-- HJ 212 reverse control: commands from the platform to a data logger, delivered by the TCP gateway
-- while the logger (MN) is connected. Owner: ingest/hj212/repo.py (the only SQL on these tables; other
-- packages enqueue through its functions and read through its named queries).
--
-- A command's life: queued -> sent (request frame written, QN assigned) -> accepted (9011 QnRtn=1) ->
-- done (9012 ExeRtn=1). Or: refused (9011 QnRtn<>1), failed (9012 ExeRtn<>1), expired (no answer after
-- the retries of HJ 212-2017 Table 1, no execution result in time, or the logger never connected).
CREATE TABLE hj212_commands (
    id           bigserial PRIMARY KEY,
    mn           text NOT NULL,
    point_id     bigint REFERENCES points (id),
    cn           text NOT NULL CHECK (cn ~ '^[0-9]{4}$'),
    params       jsonb NOT NULL DEFAULT '{}',
    purpose      text NOT NULL,          -- admin, sample_retention, time_calibration, history, network_entry
    alert_id     bigint,                 -- the alert a sample retention (3015) is evidence for
    actor        text NOT NULL,          -- who asked: 'api:<token id>', 'cli', 'compliance', 'gateway'
    state        text NOT NULL DEFAULT 'queued'
                 CHECK (state IN ('queued', 'sent', 'accepted', 'done', 'refused', 'failed', 'expired')),
    qn           text,                   -- the request's QN, which the logger's answers carry
    attempts     integer NOT NULL DEFAULT 0,
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    sent_at      timestamptz,
    accepted_at  timestamptz,
    finished_at  timestamptz,
    qn_rtn       integer,
    exe_rtn      integer,
    answer       jsonb NOT NULL DEFAULT '{}',  -- data the logger sent back (SystemTime, RtdInterval, ...)
    reason       text
);
CREATE INDEX hj212_commands_open ON hj212_commands (mn, id) WHERE state IN ('queued', 'sent', 'accepted');
CREATE UNIQUE INDEX hj212_commands_qn ON hj212_commands (mn, qn);
CREATE INDEX hj212_commands_alert ON hj212_commands (alert_id) WHERE alert_id IS NOT NULL;

-- Append-only trail of every request frame and answer, with its actor.
CREATE TABLE hj212_command_audit (
    id          bigserial PRIMARY KEY,
    command_id  bigint NOT NULL REFERENCES hj212_commands (id),
    at          timestamptz NOT NULL DEFAULT now(),
    event       text NOT NULL,           -- queued, sent, resent, 9011, 9012, answer, expired
    actor       text NOT NULL,
    frame       text,
    detail      text
);
CREATE INDEX hj212_command_audit_command ON hj212_command_audit (command_id, id);

-- Network entry (CN 1001/1002): a logger uploads its hardware serial and is given its MN. A serial no
-- point's `serial:` matches waits here for an admin.
CREATE TABLE hj212_enrolments (
    serial       text PRIMARY KEY,
    mn_sent      text NOT NULL,          -- the MN the logger used when it asked
    peer         text,
    first_seen   timestamptz NOT NULL DEFAULT now(),
    last_seen    timestamptz NOT NULL DEFAULT now(),
    point_id     bigint REFERENCES points (id),
    assigned_by  text,
    assigned_at  timestamptz
);

-- Park file point fields: `sampler: true` (its sampler keeps a bottle on command 3015) and `serial:`
-- (the logger's hardware serial, for network entry). Owner: ingest/core/repo.py (load_park).
ALTER TABLE points ADD COLUMN sampler boolean NOT NULL DEFAULT false;
ALTER TABLE points ADD COLUMN serial text;
