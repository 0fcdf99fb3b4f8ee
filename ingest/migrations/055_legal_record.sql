-- The legal record, stored (issues 13 item 3-4, 15 item 1). Owner: compliance/repo/windows.py.
-- compliance_windows now holds, per point, parameter and park-local hour, day and month, everything the
-- record needs: counts received and valid, the flags seen, the validity rule applied, the extremes, and
-- for the day and month the water volume (flow), the discharged mass (pollutants) and the logger's own
-- HJ 212 Cou total. Written when the window closes, rewritten when late data (or a data mark) re-judges
-- it; reports, charts and the readings API's bucket=1h|1d read these rows instead of raw readings.
ALTER TABLE compliance_windows DROP CONSTRAINT compliance_windows_span_check;
ALTER TABLE compliance_windows ADD CONSTRAINT compliance_windows_span_check
    CHECK (span IN ('hour', 'day', 'month'));

ALTER TABLE compliance_windows
    ADD COLUMN n_total     integer NOT NULL DEFAULT 0,  -- values received, whatever their flag
    ADD COLUMN min         double precision,            -- of the valid values
    ADD COLUMN max         double precision,
    ADD COLUMN flags       jsonb NOT NULL DEFAULT '{}', -- values received per HJ 212 flag, and those set
                                                        -- aside as implausible or read at zero flow
    ADD COLUMN rule        text NOT NULL DEFAULT '',    -- the validity rule applied, in words
    ADD COLUMN parts       integer,                     -- day: hours in it; month: days in it
    ADD COLUMN parts_valid integer,                     -- ... of which valid hours / valid days
    ADD COLUMN volume_m3   double precision,            -- flow rows: water volume of the valid hours
    ADD COLUMN mass_kg     double precision,            -- pollutant rows: discharged mass (day, month)
    ADD COLUMN mass_method text,                        -- how mass_kg was obtained, in words
    ADD COLUMN cou         double precision;            -- the logger's HJ 212 Cou total (kg; m3 for flow)

-- Park-wide reads of one day or month (KPIs, mass) go by span and start.
CREATE INDEX compliance_windows_span_start ON compliance_windows (span, start_at);
