-- HTTP API: bearer tokens (hashed), the audit log of API and command-line writes, and the event log
-- behind the Server-Sent Events stream.

-- A token is shown once at creation; only its SHA-256 is kept. Scope: admin has none; an officer may be
-- limited to one park; an operator is always limited to a park and may be limited to one plant.
CREATE TABLE api_tokens (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        text NOT NULL,
    role        text NOT NULL CHECK (role IN ('admin', 'officer', 'operator')),
    park_id     text REFERENCES parks ON DELETE CASCADE,
    plant_id    text,
    hash        bytea NOT NULL UNIQUE,
    prefix      text NOT NULL,                  -- first characters, so a token can be recognised
    created_at  timestamptz NOT NULL DEFAULT now(),
    created_by  text NOT NULL,
    revoked_at  timestamptz,
    FOREIGN KEY (park_id, plant_id) REFERENCES plants ON DELETE CASCADE,
    CHECK (role <> 'admin' OR park_id IS NULL),
    CHECK (role <> 'operator' OR park_id IS NOT NULL),
    CHECK (plant_id IS NULL OR role = 'operator')
);

-- Writes that do not already have an audit trail of their own (alert changes are in alert_audit):
-- tokens, registry changes, maintenance windows. Append-only.
CREATE TABLE api_audit (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at          timestamptz NOT NULL DEFAULT clock_timestamp(),
    actor       text NOT NULL,
    action      text NOT NULL,
    park_id     text,
    plant_id    text,
    object      text NOT NULL,
    detail      jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX api_audit_park ON api_audit (park_id, id);
CREATE FUNCTION api_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'api_audit is append-only';
END
$$;
CREATE TRIGGER api_audit_append_only BEFORE UPDATE OR DELETE ON api_audit
    FOR EACH ROW EXECUTE FUNCTION api_audit_append_only();

-- The event log of the live stream: one row per alert audit entry (open, escalate, acknowledge,
-- annotate, resolve), written by a trigger in the transaction that changes the alert, so no writer can
-- forget it and a rolled-back change leaves no event. Readers order by (txid, id) and only read rows of
-- transactions older than every transaction still running (pg_snapshot_xmin): that prefix can no longer
-- grow, so a client that resumes from the last (txid, id) it saw misses nothing and sees nothing twice.
CREATE TABLE api_events (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    txid        xid8 NOT NULL DEFAULT pg_current_xact_id(),
    at          timestamptz NOT NULL DEFAULT clock_timestamp(),
    kind        text NOT NULL,
    action      text NOT NULL,
    park_id     text NOT NULL,
    plant_id    text NOT NULL,
    alert_id    bigint
);
CREATE INDEX api_events_order ON api_events (txid, id);

CREATE FUNCTION api_events_from_alert_audit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO api_events (kind, action, park_id, plant_id, alert_id)
    SELECT 'alert', NEW.action, a.park_id, a.plant_id, a.id FROM alerts a WHERE a.id = NEW.alert_id;
    PERFORM pg_notify('outfall_events', '');
    RETURN NULL;
END
$$;
CREATE TRIGGER api_events_from_alert_audit AFTER INSERT ON alert_audit
    FOR EACH ROW EXECUTE FUNCTION api_events_from_alert_audit();
