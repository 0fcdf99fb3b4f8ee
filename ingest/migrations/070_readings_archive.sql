-- History at legal scale (README "History and retention"). Readings older than a few days are compacted
-- out of the `readings` hypertable: with the Timescale licence into TimescaleDB's own compression (the
-- compliance leader's `compact_readings` job keeps its policy), on the Apache-only build (Debian's) into
-- `readings_archive`, plain PostgreSQL: one row per series and UTC day, its readings as arrays, TOASTed
-- with lz4. `readings_range()` serves both as one table. The writer is ingest/core/archive.py.

CREATE TABLE readings_archive (
    point_id        integer  NOT NULL,
    parameter_id    smallint NOT NULL,
    day             date     NOT NULL,    -- the UTC day every reading of the row falls on
    n               integer  NOT NULL,    -- readings in the row
    -- Measurement times, in time order: microseconds after the previous reading (the first: after the
    -- day's start). A regular series is one repeated delta, which lz4 reduces to almost nothing.
    time_deltas     bigint[] NOT NULL,
    -- Values, exactly: integer / 10^scale when every value of the row is a decimal of at most 9 places
    -- whose scaled integer fits (smallint, else integer); else the doubles themselves (values_f8).
    scale           smallint,
    values_i2       smallint[],
    values_i4       integer[],
    values_f8       double precision[],
    flags           "char"[] NOT NULL,
    -- When each reading was received, to the second (readings keeps microseconds): seconds after the
    -- previous reading's receipt (the first: after the day's start).
    received_deltas integer[] NOT NULL,
    sources         text[]   NOT NULL,    -- the distinct sources of the row
    source_index    smallint[],           -- per reading, its source's place in `sources` (NULL: one source)
    compacted_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (point_id, parameter_id, day),
    CHECK (num_nonnulls(values_i2, values_i4, values_f8) = 1),
    CHECK ((scale IS NULL) = (values_f8 IS NOT NULL))
);

-- Compress every array, not only until the row fits in 2 kB (the default target): a day's flags would
-- otherwise stay uncompressed in the row.
ALTER TABLE readings_archive SET (toast_tuple_target = 128);

-- lz4 (PostgreSQL 14+, when built with it: Debian's and the official images are) compresses better and
-- far faster than the default pglz; without it the arrays stay pglz-compressed.
DO $$
BEGIN
    ALTER TABLE readings_archive ALTER time_deltas SET COMPRESSION lz4, ALTER values_i2 SET COMPRESSION lz4,
        ALTER values_i4 SET COMPRESSION lz4, ALTER values_f8 SET COMPRESSION lz4,
        ALTER flags SET COMPRESSION lz4, ALTER received_deltas SET COMPRESSION lz4,
        ALTER source_index SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported OR invalid_parameter_value THEN
    RAISE NOTICE 'lz4 is not available: readings_archive keeps pglz compression';
END
$$;

-- Compaction and writers of old readings meet here. Readings before `guard` may be compacted at any
-- moment: a writer whose batch holds such readings takes the shared archive advisory lock and checks
-- the archive for their keys; the compaction raises `guard` (an UPDATE, which waits for every writer
-- that read the old value FOR SHARE) before it compacts anything under it, and compacts under the
-- exclusive lock.
CREATE TABLE readings_archive_guard (
    one   boolean PRIMARY KEY DEFAULT true CHECK (one),
    guard timestamptz NOT NULL DEFAULT '-infinity'
);
INSERT INTO readings_archive_guard DEFAULT VALUES;

-- The readings of one archive row, in time order: every column (the compaction's merges and the
-- writers' duplicate check need the receipt and the source) ...
CREATE FUNCTION readings_archive_rows(a readings_archive)
RETURNS TABLE ("time" timestamptz, value double precision, flag "char", received_at timestamptz, source text)
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT (a.day::timestamp AT TIME ZONE 'UTC') + (sum(u.dt) OVER w)::float8 * interval '1 microsecond',
           coalesce(u.i2 / power(10::float8, a.scale), u.i4 / power(10::float8, a.scale), u.f8),
           u.flag,
           (a.day::timestamp AT TIME ZONE 'UTC') + (sum(u.rd) OVER w)::float8 * interval '1 second',
           a.sources[coalesce(u.src, 1)]
    FROM unnest(a.time_deltas, a.values_i2, a.values_i4, a.values_f8, a.flags, a.received_deltas,
                a.source_index) WITH ORDINALITY AS u(dt, i2, i4, f8, flag, rd, src, i)
    WINDOW w AS (ORDER BY u.i)
$$;

-- ... and what the readers need, a fifth faster (readings_range).
CREATE FUNCTION readings_archive_values(a readings_archive)
RETURNS TABLE ("time" timestamptz, value double precision, flag "char")
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT (a.day::timestamp AT TIME ZONE 'UTC') + (sum(u.dt) OVER w)::float8 * interval '1 microsecond',
           coalesce(u.i2 / power(10::float8, a.scale), u.i4 / power(10::float8, a.scale), u.f8),
           u.flag
    FROM unnest(a.time_deltas, a.values_i2, a.values_i4, a.values_f8, a.flags) WITH ORDINALITY
         AS u(dt, i2, i4, f8, flag, i)
    WINDOW w AS (ORDER BY u.i)
$$;

-- Every reading of these points and parameters (NULL: all) in [from, to), stored or archived (a key is in
-- one of the two, never both). Callers filter, order and limit. PostgreSQL inlines it (the planner sees
-- through it) when its arguments are values, not sub-selects.
CREATE FUNCTION readings_range(p_points integer[], p_parameters smallint[], p_from timestamptz,
                               p_to timestamptz)
RETURNS TABLE (point_id integer, parameter_id smallint, "time" timestamptz, value double precision,
               flag "char")
LANGUAGE sql STABLE AS $$
    SELECT r.point_id, r.parameter_id, r.time, r.value, r.flag FROM readings r
    WHERE r.point_id = ANY(p_points) AND (p_parameters IS NULL OR r.parameter_id = ANY(p_parameters))
      AND r.time >= p_from AND r.time < p_to
    UNION ALL
    SELECT a.point_id, a.parameter_id, u.time, u.value, u.flag
    FROM readings_archive a CROSS JOIN LATERAL readings_archive_values(a) u
    WHERE a.point_id = ANY(p_points) AND (p_parameters IS NULL OR a.parameter_id = ANY(p_parameters))
      AND a.day >= (p_from AT TIME ZONE 'UTC')::date AND a.day <= (p_to AT TIME ZONE 'UTC')::date
      AND u.time >= p_from AND u.time < p_to
$$;

-- Retention and compaction of the licensed build are the compliance leader's job (settings decide the
-- ages); migration 003's fixed policies would compress after 7 days whatever the setting and drop
-- readings after 3 years, before the 5 years the permit regulation requires.
DO $$
BEGIN
    IF current_setting('timescaledb.license', true) = 'timescale' THEN
        PERFORM remove_retention_policy('readings', if_exists => true);
    END IF;
END
$$;
