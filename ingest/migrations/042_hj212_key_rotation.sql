-- HJ 212-2025 SM4 key rotation through CN 1014 (ingest/hj212/rotation.py). A rotation is a command of
-- the queue (purpose key_rotation) that carries a new key: the generation of the logger's pending key
-- in the secret store (logger/{park}/{plant}/{point}/sm4-next). The key itself never enters this table:
-- the gateway reads it when it sends the request, encrypted under the logger's current key.
-- Owner: ingest/hj212/repo.py.
ALTER TABLE hj212_commands ADD COLUMN key_generation integer;
CREATE INDEX hj212_commands_rotation ON hj212_commands (point_id, id) WHERE cn = '1014';
