-- Data marks (issue 13 item 1; MEE Announcement 2022 No. 21): a plant's operator marks a point or the
-- whole plant for a period with a standard code; data a mark in effect makes invalid is not judged.
-- Maintenance windows become marks of the code 'maintenance': the table is renamed, keeps its rows and
-- ids, and a view under the old name keeps old readers and writers working (migration note: README).
-- Owner of every table here: compliance/repo/marks.py (data_marks' maintenance rows of park files:
-- compliance/repo/registry.py, as before).

-- The code catalogue, written by `outfall db upgrade` from compliance/marks.yaml (or
-- OUTFALL_MARKS_CATALOGUE). invalidates: data under the mark is not judged; claims_stopped: the
-- "marked stopped but still running" rule watches the mark.
CREATE TABLE mark_codes (
    code           text PRIMARY KEY CHECK (code ~ '^[a-z0-9_]{1,40}$'),
    grp            text NOT NULL CHECK (grp IN ('equipment', 'production')),
    name_zh        text NOT NULL,
    name_en        text NOT NULL,
    hj212_flag     text,
    invalidates    boolean NOT NULL,
    claims_stopped boolean NOT NULL,
    confidence     text NOT NULL,
    updated_at     timestamptz NOT NULL DEFAULT now()
);
INSERT INTO mark_codes (code, grp, name_zh, name_en, hj212_flag, invalidates, claims_stopped, confidence)
VALUES ('maintenance', 'equipment', '维护', 'maintenance', 'M', true, false, 'medium');

-- The bounds of marks other than maintenance (maintenance keeps maintenance_policy), one row written by
-- `outfall db upgrade` from OUTFALL_MARKS_*: the API (compliance/service.py) and the trigger below judge
-- a mark by the same figures.
CREATE TABLE mark_policy (
    id         boolean PRIMARY KEY DEFAULT true CHECK (id),
    correction interval NOT NULL CHECK (correction > interval '0'),
    max_lead   interval NOT NULL CHECK (max_lead >= interval '0'),
    max_length interval NOT NULL CHECK (max_length > interval '0'),
    updated_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO mark_policy (correction, max_lead, max_length)
VALUES (interval '10 days', interval '30 days', interval '31 days');

ALTER TABLE maintenance_windows RENAME TO data_marks;
ALTER INDEX maintenance_windows_park RENAME TO data_marks_park;
ALTER TABLE data_marks ADD COLUMN code text NOT NULL DEFAULT 'maintenance' REFERENCES mark_codes;
ALTER TABLE data_marks ALTER COLUMN code DROP DEFAULT;
-- withdrawn: the plant took the mark back within the correction window (it never counted again).
ALTER TABLE data_marks DROP CONSTRAINT maintenance_windows_status_check;
ALTER TABLE data_marks ADD CONSTRAINT data_marks_status_check
    CHECK (status IN ('pending', 'approved', 'rejected', 'withdrawn'));
ALTER TABLE data_marks
    ADD COLUMN withdrawn_by text,
    ADD COLUMN withdrawn_at timestamptz,
    ADD CONSTRAINT data_marks_withdrawn_by CHECK (status <> 'withdrawn' OR withdrawn_by IS NOT NULL);
CREATE INDEX data_marks_during ON data_marks USING gist (during);

-- An interval as compliance.marks.span_text words it: whole days as days, else hours.
CREATE FUNCTION mark_span_text(d interval) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN extract(epoch FROM d) > 0 AND extract(epoch FROM d) % 86400 = 0
                THEN (extract(epoch FROM d) / 86400)::bigint::text
                     || CASE WHEN extract(epoch FROM d) = 86400 THEN ' day' ELSE ' days' END
                ELSE maintenance_hours(d) END
$$;

-- The bounds of every mark, judged when it is written and when its status changes: maintenance as
-- migration 030 judged windows (same messages), other codes by mark_policy; and a mark is locked for
-- withdrawal once the correction window after its end has passed.
CREATE FUNCTION data_marks_bounds() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    p maintenance_policy;
    mp mark_policy;
    length interval;
BEGIN
    SELECT * INTO mp FROM mark_policy;
    IF NEW.status = 'withdrawn' THEN
        IF TG_OP = 'UPDATE' AND OLD.status <> 'withdrawn' AND now() > upper(NEW.during) + mp.correction THEN
            RAISE EXCEPTION USING ERRCODE = 'check_violation',
                MESSAGE = format('mark %s is locked: its correction window (%s after its end) ended at %s',
                                 NEW.id, mark_span_text(mp.correction), upper(NEW.during) + mp.correction);
        END IF;
        RETURN NEW;
    END IF;
    IF NEW.status = 'rejected' THEN
        RETURN NEW;
    END IF;
    length := upper(NEW.during) - lower(NEW.during);
    IF NEW.code <> 'maintenance' THEN
        IF length > mp.max_length THEN
            RAISE EXCEPTION USING ERRCODE = 'check_violation',
                MESSAGE = format('a mark may last at most %s (this one: %s)',
                                 mark_span_text(mp.max_length), mark_span_text(length));
        END IF;
        IF TG_OP = 'INSERT' OR NEW.during IS DISTINCT FROM OLD.during THEN
            IF lower(NEW.during) < now() - mp.correction THEN
                RAISE EXCEPTION USING ERRCODE = 'check_violation',
                    MESSAGE = format('a mark may start at most %s before now (the correction window)',
                                     mark_span_text(mp.correction));
            END IF;
            IF lower(NEW.during) > now() + mp.max_lead THEN
                RAISE EXCEPTION USING ERRCODE = 'check_violation',
                    MESSAGE = format('a mark may start at most %s ahead', mark_span_text(mp.max_lead));
            END IF;
        END IF;
        RETURN NEW;
    END IF;
    SELECT * INTO p FROM maintenance_policy;
    IF length > p.max_length THEN
        RAISE EXCEPTION USING ERRCODE = 'check_violation',
            MESSAGE = format('a maintenance window may last at most %s (this one: %s)',
                             maintenance_hours(p.max_length), maintenance_hours(length));
    END IF;
    IF TG_OP = 'INSERT' OR NEW.during IS DISTINCT FROM OLD.during THEN
        IF lower(NEW.during) < now() - p.max_backdate THEN
            RAISE EXCEPTION USING ERRCODE = 'check_violation',
                MESSAGE = format('a maintenance window may start at most %s before now',
                                 maintenance_hours(p.max_backdate));
        END IF;
        IF lower(NEW.during) > now() + p.max_lead THEN
            RAISE EXCEPTION USING ERRCODE = 'check_violation',
                MESSAGE = format('a maintenance window may start at most %s ahead', maintenance_hours(p.max_lead));
        END IF;
    END IF;
    IF NEW.source = 'api' AND NEW.status = 'approved' AND NEW.decided_by IS NULL
       AND length > p.approval_over THEN
        RAISE EXCEPTION USING ERRCODE = 'check_violation',
            MESSAGE = format('a maintenance window longer than %s needs an officer''s approval',
                         maintenance_hours(p.approval_over));
    END IF;
    RETURN NEW;
END
$$;
DROP TRIGGER maintenance_windows_bounds ON data_marks;
DROP FUNCTION maintenance_windows_bounds();
CREATE TRIGGER data_marks_bounds BEFORE INSERT OR UPDATE ON data_marks
    FOR EACH ROW EXECUTE FUNCTION data_marks_bounds();

-- The old name, for readers and writers of maintenance windows: the maintenance marks. Simple, so
-- PostgreSQL updates through it (the trigger above judges what is written); a row inserted through it
-- is a maintenance mark.
CREATE VIEW maintenance_windows AS
    SELECT id, park_id, plant_id, point_id, during, reason, created_by, source, created_at, status,
           decided_by, decided_at, decision_note, code
      FROM data_marks WHERE code = 'maintenance';
ALTER VIEW maintenance_windows ALTER COLUMN code SET DEFAULT 'maintenance';

-- Everything done to a mark, with its actor, append-only (deleted only with its mark: a park file's
-- window removed from the file).
CREATE TABLE data_mark_audit (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    mark_id     bigint NOT NULL REFERENCES data_marks ON DELETE CASCADE,
    at          timestamptz NOT NULL DEFAULT clock_timestamp(),
    actor       text NOT NULL,
    action      text NOT NULL,
    from_status text,
    to_status   text,
    note        text,
    detail      jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX data_mark_audit_mark ON data_mark_audit (mark_id, id);
CREATE FUNCTION data_mark_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND pg_trigger_depth() > 1 THEN
        RETURN OLD;  -- the cascade of its mark's deletion
    END IF;
    RAISE EXCEPTION 'data_mark_audit is append-only';
END
$$;
CREATE TRIGGER data_mark_audit_append_only BEFORE UPDATE OR DELETE ON data_mark_audit
    FOR EACH ROW EXECUTE FUNCTION data_mark_audit_append_only();

-- Evidence files (photos, O&M ledger pages, shutdown notices), stored in the database: bounded per file
-- by OUTFALL_MARKS_EVIDENCE_MAX_BYTES (under the API's body limit) and by this hard cap.
CREATE TABLE data_mark_evidence (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    mark_id      bigint NOT NULL REFERENCES data_marks ON DELETE CASCADE,
    name         text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    content_type text NOT NULL,
    size         integer NOT NULL CHECK (size > 0 AND size <= 16777216),
    sha256       bytea NOT NULL CHECK (octet_length(sha256) = 32),
    body         bytea NOT NULL CHECK (octet_length(body) = size),
    uploaded_by  text NOT NULL,
    uploaded_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX data_mark_evidence_mark ON data_mark_evidence (mark_id, id);

-- Alerts a mark withdrew (their data was marked invalid), with the state each had, so rejecting or
-- withdrawing the mark reinstates them.
CREATE TABLE data_mark_alerts (
    mark_id       bigint NOT NULL REFERENCES data_marks ON DELETE CASCADE,
    alert_id      bigint NOT NULL REFERENCES alerts ON DELETE CASCADE,
    from_state    text NOT NULL,
    withdrawn_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    reinstated_at timestamptz,
    PRIMARY KEY (mark_id, alert_id)
);
CREATE INDEX data_mark_alerts_alert ON data_mark_alerts (alert_id);
