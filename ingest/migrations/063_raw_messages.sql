-- Raw messages: every accepted message kept byte for byte (a JSON v1 payload, an HJ 212 frame with its
-- header, CRC and CR LF, as received over MQTT or TCP), the evidence an alert's export bundles
-- (compliance/evidence.py). Written by ingest/core/repo.py (copy_raw_messages) in the same transaction
-- as the message's readings, by one binary COPY per batch: no round trip per message. One row per
-- (point, data time, payload digest): a re-sent copy (MQTT redelivery, an HJ 212 frame the logger sent
-- again) is the same bytes and is kept once, with its first receipt time.
--
-- Bytes: the payload is stored as sent (bytea). PostgreSQL only compresses values in tuples over about
-- 2 kB, so a 150-400 byte message is stored as is (about 140 bytes per row and index entry on top);
-- packing a cold day per point into one compressed row is the history issue's compaction.
--
-- Retention: a hypertable on the data time, so the compliance leader's raw_message_retention job drops
-- whole chunks (drop_chunks) older than OUTFALL_INGEST_RAW_MESSAGE_RETENTION_DAYS (default: the 5 years
-- of 排污许可管理条例 Art. 19).
CREATE TABLE raw_messages (
    time         timestamptz NOT NULL,  -- the data time it carries (JSON v1 ts, HJ 212 DataTime), UTC
    digest       bigint NOT NULL,       -- the first 8 bytes of the payload's SHA-256, signed big-endian
    received_at  timestamptz NOT NULL DEFAULT now(),  -- the storing transaction's time, as its readings'
    point_id     integer NOT NULL,
    source       text NOT NULL,         -- as the readings': mqtt-json, mqtt-hj212, tcp-hj212[:backfill]
    peer         text,                  -- the TCP peer (ip:port) of a frame from the gateway; NULL over MQTT
    payload      bytea NOT NULL
);
SELECT create_hypertable('raw_messages', 'time', chunk_time_interval => interval '1 day',
                         create_default_indexes => false);
-- The dedup key and the evidence look-up (a point's messages over a data-time window) in one index.
CREATE UNIQUE INDEX raw_messages_key ON raw_messages (point_id, time, digest);
