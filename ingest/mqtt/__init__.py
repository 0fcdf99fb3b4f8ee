"""The MQTT pipeline: the ingest worker (MQTT 5 in, acks after commit), its batch, JSON v1."""
