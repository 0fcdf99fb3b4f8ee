-- Compression and retention need the Timescale licence. The Apache-only build (Debian's package) has
-- neither: there the compliance scheduler drops old chunks with drop_chunks() instead.
DO $$
BEGIN
    IF current_setting('timescaledb.license', true) = 'timescale' THEN
        ALTER TABLE readings SET (timescaledb.compress,
                                  timescaledb.compress_segmentby = 'point_id, parameter_id');
        PERFORM add_compression_policy('readings', interval '7 days');
        PERFORM add_retention_policy('readings', interval '3 years');
    ELSE
        RAISE NOTICE 'TimescaleDB licence is %: compression and retention policies skipped',
            current_setting('timescaledb.license', true);
    END IF;
END
$$;
