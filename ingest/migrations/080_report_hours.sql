-- Reports count the hours compliance judged over the limit (api/reports.py): index just those, so a
-- month or quarter of a park reads a handful of rows rather than every stored hour.
CREATE INDEX compliance_windows_hours_exceeded ON compliance_windows (start_at)
    WHERE span = 'hour' AND verdict = 'exceeded';
