-- HJ 212 gateway: the networks a point's data logger may connect from (park file `allow_from`, CIDR).
-- NULL: from anywhere (the PW still has to match). Owner: ingest/core/repo.py (load_park, registry).
ALTER TABLE points ADD COLUMN allow_from cidr[];
