-- Maintenance windows are bounded, and long ones wait for an officer (issue 11 item 7). Owner of both
-- tables: compliance/repo/registry.py. The bounds live in one row that `outfall db upgrade` writes from
-- the OUTFALL_MAINTENANCE_* settings, so the API (compliance/service.py) and the trigger below judge a
-- window against the same figures: the database refuses what the API would, whoever writes the row.
CREATE TABLE maintenance_policy (
    id            boolean PRIMARY KEY DEFAULT true CHECK (id),   -- one row
    max_length    interval NOT NULL CHECK (max_length > interval '0'),
    max_backdate  interval NOT NULL CHECK (max_backdate >= interval '0'),
    max_lead      interval NOT NULL CHECK (max_lead >= interval '0'),
    approval_over interval NOT NULL CHECK (approval_over > interval '0'),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
INSERT INTO maintenance_policy (max_length, max_backdate, max_lead, approval_over)
VALUES (interval '72 hours', interval '24 hours', interval '30 days', interval '12 hours');

-- pending: declared, silences nothing until an officer approves it; approved: silences non-critical
-- alerts; rejected: silences nothing. decided_by / decided_at: who approved or rejected it.
ALTER TABLE maintenance_windows
    ADD COLUMN status        text NOT NULL DEFAULT 'approved'
                             CHECK (status IN ('pending', 'approved', 'rejected')),
    ADD COLUMN decided_by    text,
    ADD COLUMN decided_at    timestamptz,
    ADD COLUMN decision_note text;

-- Windows stored before the bounds existed (a century long, or ending in year 9999) stop silencing.
UPDATE maintenance_windows SET status = 'rejected', decided_by = 'migration 030', decided_at = now(),
       decision_note = 'longer than the maximum length of a maintenance window'
 WHERE isempty(during) OR lower_inf(during) OR upper_inf(during)
    OR upper(during) - lower(during) > (SELECT max_length FROM maintenance_policy);

ALTER TABLE maintenance_windows
    ADD CONSTRAINT maintenance_windows_finite CHECK (
        status = 'rejected' OR (NOT isempty(during) AND NOT lower_inf(during) AND NOT upper_inf(during))),
    ADD CONSTRAINT maintenance_windows_rejected_by CHECK (status <> 'rejected' OR decided_by IS NOT NULL);

-- An interval in hours, as compliance.rules words its refusals ("72 h", "1.50 h"): both say the same.
CREATE FUNCTION maintenance_hours(d interval) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN extract(epoch FROM d) % 3600 = 0 THEN (extract(epoch FROM d) / 3600)::bigint::text
                ELSE to_char(extract(epoch FROM d) / 3600, 'FM999999990.00') END || ' h'
$$;

-- The bounds that depend on the policy and on the time of writing. A window is judged when it is written
-- (INSERT, or an UPDATE that moves it) and again when its status changes (an approval of a window longer
-- than the policy allows now is refused). ERRCODE check_violation, so callers treat it as a CHECK.
CREATE FUNCTION maintenance_windows_bounds() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    p maintenance_policy;
    length interval;
BEGIN
    IF NEW.status = 'rejected' THEN
        RETURN NEW;
    END IF;
    SELECT * INTO p FROM maintenance_policy;
    length := upper(NEW.during) - lower(NEW.during);
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
CREATE TRIGGER maintenance_windows_bounds BEFORE INSERT OR UPDATE ON maintenance_windows
    FOR EACH ROW EXECUTE FUNCTION maintenance_windows_bounds();

-- An alert a critical breach opened while its point was in an approved maintenance window: the window's
-- id (criticals are never silenced; the officer sees that the plant had declared maintenance).
ALTER TABLE alerts ADD COLUMN during_maintenance bigint;
