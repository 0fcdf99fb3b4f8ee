-- Dead letters as runs (issue 11): one row per run of junk of one kind from one source, with a count,
-- first (received_at) and last seen, and a capped payload: a prefix of the first item, its original
-- length and the SHA-256 of the whole. Written by ingest/core/repo.py (record_dead_letters); rows whose
-- last item is older than the retention are deleted by the compliance leader's dead_letter_retention job.
ALTER TABLE dead_letters
    ADD COLUMN kind           text,     -- the reason with its variable parts blanked (ingest/core/deadletters.py)
    ADD COLUMN count          integer NOT NULL DEFAULT 1 CHECK (count >= 1),
    ADD COLUMN last_seen      timestamptz,
    ADD COLUMN payload_size   integer,  -- bytes of the first item as received; payload may be a prefix
    ADD COLUMN payload_sha256 bytea,    -- of the first item's whole payload
    ADD COLUMN bytes_total    bigint;   -- bytes of every item of the run

UPDATE dead_letters SET last_seen = received_at, payload_size = length(payload),
    payload_sha256 = sha256(payload), bytes_total = length(payload);

ALTER TABLE dead_letters
    ALTER COLUMN last_seen SET DEFAULT now(), ALTER COLUMN last_seen SET NOT NULL,
    ALTER COLUMN payload_size SET NOT NULL, ALTER COLUMN payload_sha256 SET NOT NULL,
    ALTER COLUMN bytes_total SET NOT NULL;

-- The open run of a source and kind (the writer's look-up), and the retention's range.
CREATE INDEX dead_letters_open_run ON dead_letters (topic, kind, last_seen DESC) WHERE kind IS NOT NULL;
CREATE INDEX dead_letters_last_seen ON dead_letters (last_seen);
