-- The secret store: logger credentials (MQTT passwords, HJ 212 PW, HJ 212-2025 SM4 keys) and notification
-- receivers' secrets, kept out of the park file. Owner: ingest/core/secrets.py (the only SQL on it).
--
-- A secret is a name with generations. Issuing a new generation gives the previous ones a not_after (the
-- overlap during which both are accepted), so a rotation never locks out a device that has not switched.
-- A 'hash' value is PBKDF2-SHA512 in Mosquitto's password-file form ($7$…): what is only ever compared
-- (passwords). A 'sealed' value is AES-256-GCM under the store key (OUTFALL_SECRET_KEY): what must be
-- used in clear (SM4 keys, webhook signing secrets, SMTP passwords).
CREATE TABLE secrets (
    name        text NOT NULL CHECK (name ~ '^[a-z0-9][a-z0-9._:/~-]{0,199}$'),
    generation  integer NOT NULL CHECK (generation > 0),
    form        text NOT NULL CHECK (form IN ('hash', 'sealed')),
    value       text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    created_by  text NOT NULL,
    not_after   timestamptz,
    PRIMARY KEY (name, generation)
);
CREATE INDEX secrets_live ON secrets (name) WHERE not_after IS NULL;
